"""Multilayer perceptrons on the C++ core: forward, backward, and the exact gradient of
input-gradient penalties (double backpropagation).

The network's state is one flat NumPy array of parameters; everything else is
configuration. Layer ``l`` computes ``Z = A @ W + b``, ``A = phi(Z)`` with ``W`` of shape
``(n_in, n_out)``; the flat array holds, layer after layer, ``W.ravel()`` (C order) then
``b``. Gradients come back in the same layout (see :meth:`MLP.unflatten`).

Batches go through in super-blocks of 512 rows, one after the other; the matrix products of
a super-block are split over threads by rows or columns of their results, and the core's own
product kernel sums every element in one fixed order however it is split, so every result
is bit-identical for any ``n_threads``. Small networks take a super-block as two fixed halves
instead and add the halves' gradients in a fixed order: with two threads each half is a
whole pass on one thread; with one thread, or more than two, the halves go in turn, each
with every thread on its products. The same bits for any ``n_threads`` again. A network is
small for a super-block of ``m >= 24`` rows when every layer has at most 65,536 weights and
``n_out * m <= 2**18`` (so at most 512 outputs for a full super-block); which path runs
depends on the shapes alone. The plain-NumPy twin of this class, used as the test oracle,
is :class:`genmix.reference.ReferenceMLP`.
"""

from __future__ import annotations

import numbers
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _core
from ._base import check_random_state, draw_seed
from ._typing import RandomStateLike
from ._validation import check_array, check_n_threads, check_option, check_real

__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid")
_INITS = ("auto", "he", "glorot")


def check_widths(value: Iterable[int], where: str, min_len: int = 0) -> tuple[int, ...]:
    """``value``, a sequence of layer widths, as a tuple of ints >= 1 (at least ``min_len`` of
    them); ``where`` names it in the messages (e.g. ``"MLP: 'layer_sizes'"``)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{where} must be a sequence of ints; got {value!r}.")
    sizes = list(value)
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{where} must contain ints; got {s!r} in {sizes!r}.")
    if len(sizes) < min_len:
        raise ValueError(f"{where} needs at least {min_len} entries (input and output widths); got {sizes!r}.")
    if any(s < 1 for s in sizes):
        raise ValueError(f"{where} must contain ints >= 1; got {sizes!r}.")
    return tuple(int(s) for s in sizes)


def layer_views(layer_sizes: Sequence[int], flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W, b)]``, one pair per layer, as views of ``flat`` in the layout of :class:`MLP`:
    layer after layer, ``W.ravel()`` (C order, shape ``(n_in, n_out)``) then ``b``."""
    out, k = [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = flat[k:k + n_in * n_out].reshape(n_in, n_out)
        k += n_in * n_out
        out.append((W, flat[k:k + n_out]))
        k += n_out
    return out


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"MLP: 'dtype' must be float32 or float64; got {dtype!r}.") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"MLP: 'dtype' must be float32 or float64; got {dt}.")
    return np.dtype(dt.name)  # the canonical descriptor (an unpickled one is an equal copy)


class MLP:
    """A fully connected network whose passes run in the C++ core.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths: input, hidden layers..., output. ``(2, 128, 128, 1)`` is a network with
        two hidden layers of 128 units and one output.
    activation : {'relu', 'leaky_relu', 'tanh', 'sigmoid', 'identity'}, default='relu'
        Activation of every hidden layer.
    output_activation : {'identity', 'relu', 'leaky_relu', 'tanh', 'sigmoid'}, default='identity'
        Activation of the last layer. Keep ``'identity'`` for a GAN discriminator: its
        output is then the logit (or critic value) that losses and penalties expect.
    negative_slope : float, default=0.2
        Slope of ``leaky_relu`` for negative inputs (``phi(z) = z`` for ``z > 0``,
        ``negative_slope * z`` otherwise).
    init : {'auto', 'he', 'glorot'}, default='auto'
        Weight initialisation; biases start at 0. ``'he'``: normal with standard
        deviation ``sqrt(2 / ((1 + a^2) fan_in))`` (``a`` the leaky slope, 0 for relu);
        ``'glorot'``: uniform on ``+-sqrt(6 / (fan_in + fan_out))``; ``'auto'``: He for a
        layer followed by relu / leaky_relu, Glorot for any other.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Type of the parameters and of every computation. Inputs are converted to it.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed of the initial weights.

    Attributes
    ----------
    n_params : int
        Number of parameters.
    weights : list of ndarray
        Copies of the weight matrices, shapes ``(n_in, n_out)``; assignable.
    biases : list of ndarray
        Copies of the bias vectors, shapes ``(n_out,)``; assignable.

    Notes
    -----
    :meth:`backward` returns the gradients of ``sum_i <G_i, f(x_i)>`` (``G`` the
    ``grad_output``): it sums over rows, so pass ``G / n`` for a mean loss.

    :meth:`input_gradient_penalty` differentiates
    ``R = mean_i (||grad_x f(x_i)|| - center)^2`` with respect to the parameters exactly,
    by backpropagating through the backward pass (double backpropagation), where ``f`` is
    the network's single output as returned by :meth:`forward`, i.e. *after* the output
    activation. ``center=0`` gives the R1 / R2 penalties (Mescheder et al., 2018) up to
    their factor ``gamma / 2``; ``center=1`` the WGAN-GP penalty (Gulrajani et al., 2017).

    The object holds only configuration and one NumPy array, so it pickles and copies as
    plain data. (It also keeps scratch memory for the C++ passes between calls, about the
    size of a few activation panels plus, for large batches, a few gradient-sized buffers;
    this is never pickled and never changes a result.)

    Examples
    --------
    >>> import numpy as np
    >>> from genmix.nn import MLP
    >>> D = MLP((2, 16, 1), activation="leaky_relu", random_state=0)
    >>> X = np.zeros((5, 2), dtype=np.float32)
    >>> D.forward(X).shape
    (5, 1)
    >>> value, grad = D.input_gradient_penalty(X)
    >>> grad.shape == (D.n_params,)
    True
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu", output_activation: str = "identity", *,
                 negative_slope: float = 0.2, init: str = "auto", dtype: DTypeLike = np.float32,
                 random_state: RandomStateLike = None) -> None:
        self.layer_sizes = check_widths(layer_sizes, "MLP: 'layer_sizes'", min_len=2)
        check_option(activation, "activation", "MLP", ACTIVATIONS)
        check_option(output_activation, "output_activation", "MLP", ACTIVATIONS)
        check_option(init, "init", "MLP", _INITS)
        check_real(negative_slope, "negative_slope", "MLP")
        self.activation = activation
        self.output_activation = output_activation
        self.negative_slope = float(negative_slope)
        self.init = init
        self.dtype = _check_dtype(dtype)
        seed = draw_seed(check_random_state(random_state))
        self._params = _core.nn.init(list(self.layer_sizes), activation, output_activation, self.negative_slope,
                                     init, seed, self.dtype == np.float32)

    # --- shape --------------------------------------------------------------------------

    @property
    def n_params(self) -> int:
        return int(self._params.size)

    @property
    def n_layers(self) -> int:
        """Number of dense layers."""
        return len(self.layer_sizes) - 1

    @property
    def n_inputs(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    def _spec(self):
        return list(self.layer_sizes), self.activation, self.output_activation, self.negative_slope

    def _core_kwargs(self):
        # Scratch memory kept between calls (no state: results never depend on it); it is
        # not part of the pickled state.
        ws = self.__dict__.get("_workspace")
        if ws is None:
            ws = self._workspace = _core.nn.Workspace()
        return {"workspace": ws}

    # --- parameters ---------------------------------------------------------------------

    def get_params_flat(self) -> np.ndarray:
        """A copy of the flat parameter vector.

        Returns
        -------
        params : ndarray of shape (n_params,)
            Layer after layer, ``W.ravel()`` (C order, ``W`` of shape ``(n_in, n_out)``)
            then ``b``.
        """
        return self._params.copy()

    def set_params_flat(self, params: ArrayLike) -> MLP:
        """Replace all parameters.

        Parameters
        ----------
        params : array-like of shape (n_params,)
            Finite values in the layout of :meth:`get_params_flat`; converted to the
            network's dtype (and copied).

        Returns
        -------
        self : MLP
        """
        arr = self._check_flat(params, "params")
        self._params = arr
        return self

    def _check_flat(self, params, name):
        try:
            arr = np.array(params, dtype=self.dtype, copy=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"MLP: '{name}' must be an array of numbers ({exc}).") from None
        if arr.shape != (self.n_params,):
            raise ValueError(f"MLP: '{name}' should have the shape ({self.n_params},), but got {arr.shape}.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"MLP: '{name}' contains NaN or infinity.")
        return arr

    def unflatten(self, flat: ArrayLike) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split a flat parameter (or gradient) vector into per-layer ``(W, b)``.

        Parameters
        ----------
        flat : ndarray of shape (n_params,)

        Returns
        -------
        layers : list of (ndarray, ndarray)
            ``W`` of shape ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)`` for each layer,
            as views of ``flat``.
        """
        flat = np.asarray(flat)
        if flat.shape != (self.n_params,):
            raise ValueError(f"MLP: expected a flat vector of shape ({self.n_params},), got {flat.shape}.")
        return layer_views(self.layer_sizes, flat)

    @property
    def weights(self) -> list[np.ndarray]:
        return [W.copy() for W, _ in self.unflatten(self._params)]

    @weights.setter
    def weights(self, values: Sequence[ArrayLike]) -> None:
        self._set_layers(values, 0, "weights")

    @property
    def biases(self) -> list[np.ndarray]:
        return [b.copy() for _, b in self.unflatten(self._params)]

    @biases.setter
    def biases(self, values: Sequence[ArrayLike]) -> None:
        self._set_layers(values, 1, "biases")

    def _set_layers(self, values, which, name):
        values = list(values)
        if len(values) != self.n_layers:
            raise ValueError(f"MLP: '{name}' needs {self.n_layers} arrays, one per layer; got {len(values)}.")
        new = self._params.copy()
        for l, (value, target) in enumerate(zip(values, self.unflatten(new))):
            arr = np.asarray(value, dtype=self.dtype)
            if arr.shape != target[which].shape:
                raise ValueError(
                    f"MLP: {name}[{l}] should have the shape {target[which].shape}, but got {arr.shape}."
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"MLP: {name}[{l}] contains NaN or infinity.")
            target[which][...] = arr
        self._params = new

    # --- passes -------------------------------------------------------------------------

    def _check_X(self, X, n_threads):
        X = check_array(X, dtype_like=self.dtype, n_threads=n_threads)
        if X.shape[1] != self.n_inputs:
            raise ValueError(
                f"X has {X.shape[1]} features, but MLP is expecting {self.n_inputs} features as input."
            )
        return X

    def forward(self, X: ArrayLike, *, n_threads: int | None = None) -> np.ndarray:
        """Output of the network for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        n_threads : int or None, default=None
            Threads for this call, 1 .. 1024; None uses all cores (respecting ``OMP_NUM_THREADS``).

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs), the network's dtype
        """
        nt = check_n_threads(n_threads, "MLP")
        X = self._check_X(X, nt)
        return _core.nn.forward(*self._spec(), self._params, X, nt, **self._core_kwargs())

    __call__ = forward

    def backward(self, X: ArrayLike, grad_output: ArrayLike, *, n_threads: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Gradients of ``sum_i <grad_output_i, f(x_i)>`` (vector-Jacobian products).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        grad_output : array-like of shape (n_samples, n_outputs)
            Gradient of the caller's objective with respect to the outputs.
        n_threads : int or None, default=None

        Returns
        -------
        grad_params : ndarray of shape (n_params,)
            Summed over the rows; split per layer with :meth:`unflatten`.
        grad_input : ndarray of shape (n_samples, n_inputs)
            Gradient with respect to each row of X.
        """
        nt = check_n_threads(n_threads, "MLP")
        X = self._check_X(X, nt)
        G = check_array(grad_output, name="grad_output", dtype_like=self.dtype, n_threads=nt)
        if G.shape != (X.shape[0], self.n_outputs):
            raise ValueError(
                f"grad_output should have the shape {(X.shape[0], self.n_outputs)} (rows of X, outputs), "
                f"but got {G.shape}."
            )
        grad, grad_input = _core.nn.backward(*self._spec(), self._params, X, G, True, nt, **self._core_kwargs())
        return grad, grad_input

    def _check_scalar_output(self, what):
        if self.n_outputs != 1:
            raise ValueError(f"MLP: {what} needs a network with one output; this one has {self.n_outputs}.")

    def input_gradient(self, X: ArrayLike, *, n_threads: int | None = None) -> np.ndarray:
        """``grad_x f(x)`` for each row, for a network with one output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        n_threads : int or None, default=None

        Returns
        -------
        grad : ndarray of shape (n_samples, n_inputs)
        """
        self._check_scalar_output("input_gradient")
        nt = check_n_threads(n_threads, "MLP")
        X = self._check_X(X, nt)
        ones = np.ones((X.shape[0], 1), dtype=self.dtype)
        return _core.nn.backward(*self._spec(), self._params, X, ones, True, nt, **self._core_kwargs())[1]

    def input_gradient_penalty(self, X: ArrayLike, center: float = 0.0, *, grad_output: ArrayLike | None = None,
                               n_threads: int | None = None) -> tuple[float, np.ndarray]:
        """The penalty ``mean_i (||grad_x f(x_i)|| - center)^2`` and its exact parameter gradient.

        The gradient is computed by double backpropagation (forward, backward to the
        input, then the backward pass of that backward pass), not by finite differences.
        ``f`` is the single output after the output activation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
            Where the gradient is taken: real data for R1, generated data for R2,
            interpolates between them for WGAN-GP.
        center : float, default=0.0
            0 for R1 / R2, 1 for WGAN-GP. Where ``||grad_x f|| = 0`` and ``center > 0``
            the penalty's direction is taken as 0 (its value, ``center**2``, still counts).
        grad_output : array-like of shape (n_samples, 1), optional
            When given, the returned gradient is that of
            ``penalty + sum_i grad_output_i * f(x_i)``: a loss on the same rows (e.g. a
            discriminator's loss on real data with its R1 penalty) in one fused pass.
            For ``loss + (gamma / 2) * penalty``, pass ``(2 / gamma) * dloss/df`` and
            multiply the returned gradient by ``gamma / 2``.
        n_threads : int or None, default=None

        Returns
        -------
        value : float
            The penalty.
        grad_params : ndarray of shape (n_params,)
            Its gradient (plus the loss term's) with respect to the flat parameters.
        """
        self._check_scalar_output("input_gradient_penalty")
        check_real(center, "center", "MLP.input_gradient_penalty", low=0)
        nt = check_n_threads(n_threads, "MLP")
        X = self._check_X(X, nt)
        G = None
        if grad_output is not None:
            G = check_array(grad_output, name="grad_output", dtype_like=self.dtype, n_threads=nt)
            if G.shape != (X.shape[0], 1):
                raise ValueError(
                    f"grad_output should have the shape {(X.shape[0], 1)} (rows of X, outputs), but got {G.shape}."
                )
        value, grad = _core.nn.input_gradient_penalty(*self._spec(), self._params, X, float(center), G, nt,
                                                     **self._core_kwargs())
        return float(value), grad

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_workspace", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["dtype"] = _check_dtype(state["dtype"])
        state["_params"] = np.ascontiguousarray(state["_params"], dtype=state["dtype"])
        self.__dict__.update(state)

    def __repr__(self) -> str:
        extra = ""
        if self.activation == "leaky_relu" or self.output_activation == "leaky_relu":
            extra = f", negative_slope={self.negative_slope!r}"
        return (f"MLP({self.layer_sizes!r}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}{extra}, dtype={self.dtype.name})")
