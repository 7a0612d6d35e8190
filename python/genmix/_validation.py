"""Input and parameter checks. Everything here runs before any work starts and raises a
ValueError or TypeError that names the problem."""

from __future__ import annotations

import math
import numbers
import os
import struct
import warnings
import zipfile
import zlib

import numpy as np

from . import _core


def _is_sparse(X) -> bool:
    return hasattr(X, "tocsr") or hasattr(X, "toarray") and hasattr(X, "nnz")


def feature_names_of(X):
    """Column names of a DataFrame-like input when they are all strings, else None."""
    cols = getattr(X, "columns", None)
    if cols is None or hasattr(X, "ndim") and getattr(X, "ndim", 2) != 2:
        return None
    names = np.asarray(list(cols), dtype=object)
    if len(names) and all(isinstance(c, str) for c in names):
        return names
    return None


def check_array(X, *, name="X", dtype_like=None, min_samples=1, n_threads=0, allow_nan=False, finite=True):
    """X as a C-contiguous 2-D float array: float32 stays float32, anything else becomes
    float64 (or the dtype of `dtype_like` when given). Rejects sparse, complex, empty,
    non-numeric and non-finite input (allow_nan: NaN passes, infinity does not; finite=False:
    the caller runs check_finite itself)."""
    if _is_sparse(X):
        raise TypeError(f"Sparse input is not supported for {name}; convert it with {name}.toarray().")
    if dtype_like is not None:
        dtype = np.dtype(dtype_like)
    else:
        dtype = getattr(X, "dtype", None)
        dtype = np.float32 if dtype == np.float32 else np.float64
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:  # e.g. a ragged list, or an (X, y) tuple
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); it could not be "
                         f"converted ({exc}).") from None
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} has a complex dtype.")
    if arr.dtype.kind in "USV":
        raise ValueError(f"{name} must be numeric; got an array of dtype {arr.dtype}.")
    check_not_time(arr, name)
    if arr.ndim != 2:
        if arr.ndim == 1:
            raise ValueError(
                f"Expected 2D array, got 1D array instead: {name}.shape={arr.shape}. Reshape your "
                "data with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample."
            )
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead: {name}.shape={arr.shape}.")
    given = arr
    try:
        with np.errstate(over="ignore"):
            arr = np.ascontiguousarray(arr, dtype=dtype)
    except (TypeError, ValueError) as exc:  # an object array of non-numbers; numpy's error class
        raise type(exc)(f"{name} must hold real numbers; converting it to {np.dtype(dtype)} failed ({exc}).") from None
    n, d = arr.shape
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={arr.shape}) while a minimum of {min_samples} is required."
        )
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if finite:
        try:
            check_finite(arr, name=name, n_threads=n_threads, allow_nan=allow_nan)
        except ValueError:
            _check_narrowing(given, arr, name)
            raise
    return arr


def _check_narrowing(given, arr, name):
    """Finite values that became infinite in the cast to a narrower type get their own error."""
    if given.dtype == arr.dtype or given.dtype.kind not in "fiu":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        became_inf = np.isinf(arr) & np.isfinite(given)
    if became_inf.any():
        big = float(np.max(np.abs(given[became_inf])))
        raise ValueError(f"{name} has values beyond the range of {arr.dtype} (largest {big:.3g}, limit "
                         f"{float(np.finfo(arr.dtype).max):.3g}), the dtype it is computed in; rescale {name} "
                         "or use float64.")


def check_not_time(arr, name):
    """Dates and durations cast silently to numbers (their epoch offsets); reject them, also
    as the elements of an object array."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "Mm" or arr.dtype.kind == "O" and any(
            issubclass(t, (np.datetime64, np.timedelta64)) for t in set(map(type, arr.flat))):
        raise TypeError(f"{name} holds datetime64/timedelta64 values (dtype {arr.dtype}), which are not numbers; "
                        "convert them explicitly (e.g. to seconds) if that is what you mean.")


def check_codes(X, upper, *, name="X", why=""):
    """X as a C-contiguous int64 array of category codes, column j in 0 .. upper[j] - 1
    (upper: an int for every column, or one per column).

    The codes are checked in the dtype they arrive in, before the cast to int64, so a huge
    unsigned or float code cannot wrap into range. Rejects sparse, bool, date/time,
    complex, string and object input, non-finite or non-integral floats. `why` ends the
    out-of-range message (e.g. where the bound comes from)."""
    if _is_sparse(X):
        raise TypeError(f"Sparse input is not supported for {name}; convert it with {name}.toarray().")
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:  # e.g. a ragged list
        raise ValueError(f"{name} must be a 2-D array of integer category codes ({exc}).") from None
    if arr.dtype.kind not in "iuf":
        # strings and complex numbers: ValueError, as check_array; bools, dates, objects: TypeError
        error = ValueError if arr.dtype.kind in "USVc" else TypeError
        raise error(f"{name} must hold integer category codes; got an array of dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead: {name}.shape={arr.shape}.")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"Found array with shape {arr.shape}: {name} needs at least one row and one feature.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"Input {name} contains NaN or infinity; categories must be integer codes.")
        if not np.all(arr == np.floor(arr)):
            raise ValueError(f"{name} must hold integer category codes; found non-integer values.")
    # Python ints compare exactly with any code, whatever its dtype
    lows, highs = arr.min(axis=0).tolist(), arr.max(axis=0).tolist()
    uppers = [int(upper)] * arr.shape[1] if np.ndim(upper) == 0 else [int(u) for u in upper]
    for j, (lo, hi, up) in enumerate(zip(lows, highs, uppers)):
        if lo < 0:
            raise ValueError(f"{name} has negative category codes (feature {j}: {lo:g}); codes must be "
                             "0 .. n_categories - 1.")
        if hi >= up:
            raise ValueError(f"Feature {j} of {name} has category {hi:g}, outside 0 .. {up - 1}{why}.")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_finite(arr, *, name="X", n_threads=0, allow_nan=False):
    """Rejects NaN or infinity in the float array arr (allow_nan: NaN passes, infinity does not)."""
    if not _core.all_finite(arr, n_threads):
        if not allow_nan:
            raise ValueError(f"Input {name} contains NaN or infinity.")
        if np.isinf(arr).any():
            raise ValueError(f"Input {name} contains infinity (NaN marks a missing value, infinity is not allowed).")


def check_missing(X, owner, *, columns=False, name="X", n_threads=0):
    """Whether the checked float array X has NaN entries (missing values). Rejects rows
    with no observed value and, with columns=True, columns with none."""
    if _core.all_finite(X, n_threads):
        return False
    observed = ~np.isnan(X)
    empty_rows = np.flatnonzero(~observed.any(axis=1))
    if len(empty_rows):
        shown = ", ".join(map(str, empty_rows[:5])) + (", ..." if len(empty_rows) > 5 else "")
        raise ValueError(f"{owner}: {len(empty_rows)} row(s) of {name} have no observed features (all NaN): "
                         f"row index(es) {shown}. Drop them; they carry no information.")
    if columns:
        empty_cols = np.flatnonzero(~observed.any(axis=0))
        if len(empty_cols):
            raise ValueError(f"{owner}: feature(s) {empty_cols.tolist()} of {name} have no observed values "
                             "(all NaN); their distribution cannot be estimated.")
    return True


def check_n_features(estimator, X, reset, n_features=None):
    """Record (reset=True) or check n_features_in_ and feature_names_in_ (n_features: the
    column count when already known, e.g. from the converted array)."""
    names = feature_names_of(X)
    if n_features is None:
        try:
            n_features = np.shape(X)[1] if np.ndim(X) == 2 else None
        except (AttributeError, TypeError, ValueError):  # not array-like: check_array says why
            n_features = None
    if reset:
        estimator.n_features_in_ = n_features
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and names is None:
        warnings.warn(
            f"X does not have valid feature names, but {type(estimator).__name__} was fitted with feature names",
            UserWarning,
            stacklevel=2,
        )
    elif fitted_names is None and names is not None:
        warnings.warn(
            f"X has feature names, but {type(estimator).__name__} was fitted without feature names",
            UserWarning,
            stacklevel=2,
        )
    elif fitted_names is not None and not np.array_equal(fitted_names, names):
        raise ValueError("The feature names should match those that were passed during fit.")
    if n_features is not None and n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )


# --- parameters -----------------------------------------------------------------------
#
# An estimator declares what each constructor parameter may be, as scikit-learn's
# `_parameter_constraints` do:
#
#     _parameter_constraints = {"n_components": [Interval(int, 1, None)],
#                               "n_threads": [None, Interval(int, 1, MAX_THREADS)], ...}
#
# and `check_parameters(estimator)` checks them all before any work starts. A value passes
# when one of its parameter's constraints accepts it; otherwise the error (TypeError for a
# value of the wrong type, ValueError for one of the right type out of range) names the
# parameter and the estimator: "The 'tol' parameter of GaussianMixture must be >= 0; got -1."


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class Interval:
    """An int (kind=int) or a finite real number (kind=float) in low .. high (None: no
    bound); `low_inclusive=False` excludes low itself."""

    def __init__(self, kind, low=None, high=None, *, low_inclusive=True):
        if kind not in (int, float):
            raise ValueError("Interval: kind must be int or float")
        self.kind, self.low, self.high, self.low_inclusive = kind, low, high, low_inclusive

    def problem(self, value):
        """None when value passes, else (exception class, what it must be)."""
        if self.kind is int:
            if not _is_int(value):
                return TypeError, "an int"
            noun = "an int "
        else:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                return TypeError, "a real number"
            if not np.isfinite(value):
                return ValueError, "finite"
            noun = ""
        if self.low is not None and (value < self.low or not self.low_inclusive and value == self.low):
            return ValueError, f"{noun}{'>=' if self.low_inclusive else '>'} {self.low}"
        if self.high is not None and value > self.high:
            return ValueError, f"{noun}in {self.low} .. {self.high}"
        return None


class Options:
    """One of the given strings."""

    def __init__(self, *options):
        self.options = options

    def problem(self, value):
        if isinstance(value, str) and value in self.options:
            return None
        return ValueError if isinstance(value, str) else TypeError, f"one of {sorted(self.options)}"


class Boolean:
    """A bool (Python's or NumPy's)."""

    def problem(self, value):
        return None if isinstance(value, (bool, np.bool_)) else (TypeError, "a bool")


class RandomStateLike:
    """What check_random_state accepts: None, an int, a RandomState or a Generator (checked
    by type only, so validation draws nothing from a generator)."""

    def problem(self, value):
        if value is None or value is np.random or _is_int(value) or isinstance(
                value, (np.random.RandomState, np.random.Generator)):
            return None
        return ValueError, "None, an int, a RandomState or a Generator"


class ArrayParam:
    """An array-like of at least one dimension (a sequence, an ndarray); its shape and
    values depend on the data, so the estimator checks them in fit."""

    def problem(self, value):
        try:
            scalar = np.ndim(value) == 0
        except ValueError:  # e.g. ragged: fit's own check says what is wrong with it
            scalar = False
        return (TypeError, "array-like") if scalar or isinstance(value, dict) else None


def check_value(value, name, owner, constraints):
    """Raises the TypeError or ValueError of a value that no constraint in the list accepts
    (None in the list: None is accepted too)."""
    if value is None and None in constraints:
        return
    problems = [c.problem(value) for c in constraints if c is not None]
    if None in problems:
        return
    # a ValueError (right type, wrong value) says more than "wrong type"
    kind, what = next((p for p in problems if p[0] is ValueError), problems[0])
    if kind is TypeError:
        what = " or ".join(p[1] for p in problems)
        if all(isinstance(c, Options) for c in constraints if c is not None):
            kind = ValueError  # a value outside a set of options, whatever its type (as before)
    if None in constraints:
        what += " (or None)"
    raise kind(f"The '{name}' parameter of {owner} must be {what}; got {value!r}.")


def check_parameters(estimator):
    """Checks every declared constructor parameter of the estimator (its
    `_parameter_constraints`)."""
    owner = type(estimator).__name__
    for name, constraints in type(estimator)._parameter_constraints.items():
        check_value(getattr(estimator, name), name, owner, constraints)


# Single-value checkers, kept for callers that check one argument (e.g. the GAN's).

def check_int(value, name, owner, low=None, allow_none=False):
    check_value(value, name, owner, [None, Interval(int, low)] if allow_none else [Interval(int, low)])


def as_int(value, name, minimum):
    """`value` as a Python int >= `minimum`; a TypeError or ValueError naming `name` otherwise."""
    problem = Interval(int, minimum).problem(value)
    if problem and problem[0] is TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if problem:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(value, name, owner, low=None, low_inclusive=True):
    check_value(value, name, owner, [Interval(float, low, low_inclusive=low_inclusive)])


def check_option(value, name, owner, options):
    check_value(value, name, owner, [Options(*options)])


# The most threads a call may ask for: far beyond any machine, and well inside the core's C int.
MAX_THREADS = 1024
N_THREADS = [None, Interval(int, 1, MAX_THREADS)]


def check_n_threads(value, owner):
    """None (all cores, respecting OMP_NUM_THREADS) or an int in 1 .. MAX_THREADS; returns
    the core's 0-or-n form."""
    check_value(value, "n_threads", owner, N_THREADS)
    if value != 1 and _core.forked_child():
        _warn_forked_child()
    return 0 if value is None else int(value)


_fork_warned_pid = None


def _warn_forked_child():
    """Once per process: this fork child runs the core on one thread (see _core.forked_child)."""
    global _fork_warned_pid
    if _fork_warned_pid == os.getpid():
        return
    _fork_warned_pid = os.getpid()
    warnings.warn(
        "genmix: this process was forked after genmix used threads (OpenMP), and a forked child "
        "cannot use the parent's thread pool, so genmix runs on one thread here (same results, "
        "slower). For threads in child processes use the 'spawn' or 'forkserver' start method "
        "(multiprocessing.get_context('forkserver')) or joblib's default 'loky' backend.",
        RuntimeWarning, stacklevel=3)


def as_float_array(value, name, shape, owner):
    """A user-supplied parameter array, finite, float64, of the exact shape."""
    check_not_time(value, f"{owner}: '{name}'")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{owner}: '{name}' must be an array of numbers ({exc}).") from None
    if arr.shape != tuple(shape):
        raise ValueError(f"{owner}: '{name}' should have the shape {tuple(shape)}, but got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: '{name}' contains NaN or infinity.")
    return arr


def as_probabilities(value, name, shape, owner):
    """A user-supplied probability vector (e.g. mixture weights, class priors): as
    as_float_array, each entry in [0, 1], summing to 1."""
    p = as_float_array(value, name, shape, owner)
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError(f"{owner}: '{name}' must lie in [0, 1] (non-negative, summing to 1); got min "
                         f"{p.min():.5g}, max {p.max():.5g}.")
    if not math.isclose(p.sum(), 1.0, abs_tol=1e-8):
        raise ValueError(f"{owner}: '{name}' must sum to 1; got {p.sum():.10g}.")
    return p


def check_sample_weight(sample_weight, n_samples, dtype, owner):
    """sample_weight as a fresh C-contiguous 1-D array of X's dtype (None stays None).

    A scalar means that weight for every row. Rejects a wrong shape, non-numbers, NaN or
    infinity, negative values and weights that are all zero."""
    if sample_weight is None:
        return None
    if _is_sparse(sample_weight):
        raise TypeError(f"{owner}: sample_weight must be a dense 1-D array.")
    check_not_time(sample_weight, f"{owner}: sample_weight")
    try:
        w = np.array(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{owner}: sample_weight must be an array of numbers ({exc}).") from None
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"{owner}: sample_weight.shape == {w.shape}, expected ({n_samples},) (one weight per row of X)."
        )
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{owner}: sample_weight contains NaN or infinity.")
    if np.any(w < 0):
        raise ValueError(f"{owner}: negative values in sample_weight (min {w.min():.5g}); weights must be >= 0.")
    if not np.any(w > 0):
        raise ValueError(f"{owner}: sample_weight must contain at least one non-zero weight; all weights are zero.")
    # Only ratios of weights matter: weights far from 1 are scaled by a power of two (exact)
    # so that their products with the data cannot overflow, e.g. 1e300 cast to float32.
    exponent = np.frexp(w.max())[1]
    if abs(exponent) > 16:
        w = np.ldexp(w, -exponent)
    return np.ascontiguousarray(w, dtype=dtype)


def _unlabelled_mask(y):
    """True where y holds the unlabelled marker -1 (numbers, or -1 in an object array)."""
    if y.dtype.kind in "iu":
        return y == -1
    if y.dtype.kind == "f":
        return y == -1.0
    if y.dtype.kind == "b":
        return np.zeros(y.shape, dtype=bool)
    if y.dtype.kind == "O":
        return np.array([isinstance(v, numbers.Number) and not isinstance(v, bool) and v == -1 for v in y],
                        dtype=bool)
    return np.zeros(y.shape, dtype=bool)  # strings: every row labelled


def check_partial_labels(y, n_samples, owner):
    """(y as a 1-D array, boolean mask of the labelled rows) for semi-supervised fitting.

    y holds a class per row and -1 for unlabelled rows (scikit-learn's convention; with
    string classes use an object array to mix them with -1)."""
    if _is_sparse(y):
        raise TypeError(f"{owner}: y must be a dense 1-D array of class labels.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        raise ValueError(f"{owner}: y must be 1-D; got shape {y.shape} (use y.ravel()).")
    if y.ndim != 1:
        raise ValueError(f"{owner}: y must be 1-D (one class label per row, -1 = unlabelled); got shape {y.shape}.")
    if y.shape[0] != n_samples:
        raise ValueError(f"{owner}: y has {y.shape[0]} labels but X has {n_samples} rows.")
    if y.dtype.kind == "c":
        raise ValueError(f"{owner}: complex class labels are not supported.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{owner}: y contains NaN or infinity; mark unlabelled rows with -1.")
    if y.dtype.kind == "O" and any(isinstance(v, float) and not np.isfinite(v) for v in y):
        raise ValueError(f"{owner}: y contains NaN or infinity; mark unlabelled rows with -1.")
    return y, ~_unlabelled_mask(y)


# --- files ------------------------------------------------------------------------------

def npz_path(path):
    """The file np.savez writes for `path`: '.npz' appended to a name without it (str or
    os.PathLike); a file object as it is. Saving and loading both go through this."""
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return path if path.endswith(".npz") else path + ".npz"
    return path


def read_npz(file):
    """{member name: array} of an uncompressed or deflated .npz file (a path or a binary
    file object), reading each array's header first: no pickled objects, and no array
    larger than the bytes its member holds, so a damaged header cannot make us allocate
    more than the file's size. Raises ValueError naming the problem (the caller names the
    file); OSError (a missing file) passes through."""
    try:
        with zipfile.ZipFile(file) as z:
            arrays = {}
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"unexpected member {info.filename!r}")
                name = info.filename[:-4]
                if name in arrays:
                    raise ValueError(f"member {name!r} appears twice")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"member {name!r} has an unsupported .npy version {version}")
                    if any(k < 0 for k in shape):
                        raise ValueError(f"member {name!r} has a negative dimension in its shape {shape}")
                    if dtype.hasobject:
                        raise ValueError(f"member {name!r} holds Python objects")
                    n_bytes = math.prod(shape) * dtype.itemsize
                    if n_bytes != info.file_size - f.tell():
                        raise ValueError(f"member {name!r}: its header claims shape {shape} of {dtype}, "
                                         f"{n_bytes} bytes, but it holds {info.file_size - f.tell()}")
                    data = f.read(n_bytes)
                    if len(data) != n_bytes:
                        raise ValueError(f"member {name!r} is truncated")
                arr = np.frombuffer(data, dtype=dtype)
                arrays[name] = arr.reshape(shape, order="F" if fortran else "C").copy()
            return arrays
    except (zipfile.BadZipFile, zlib.error, EOFError, OverflowError, struct.error, KeyError, IndexError,
            TypeError, NotImplementedError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
