"""genmix.GAN: divergence keeps the last finite state; save/load paths; load rejects damaged
or inconsistent files with one ValueError, before allocating what a file claims."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from genmix import GAN
from genmix.datasets import make_ring

X = make_ring(200, random_state=0)[0]
SMALL = dict(generator_hidden=(8,), discriminator_hidden=(8,), batch_size=16, random_state=0)


def _all_finite(gan):
    return all(np.all(np.isfinite(v)) for v in gan._state.values())


# --- item 5: divergence ------------------------------------------------------------------------

X5 = np.random.RandomState(0).normal(size=(300, 5))


@pytest.mark.parametrize("data", ["ring", "normal5"])
@pytest.mark.parametrize("extra", [{}, {"update": "simultaneous"}, {"d_steps": 2}, {"optimizer": "sgd"},
                                   {"ema": None}])
def test_divergence_keeps_last_finite_state(extra, data):
    # learning rates of 1e10 step to huge weights after a finite loss: weights, EMA or outputs overflow
    X = {"ring": make_ring(200, random_state=0)[0], "normal5": X5}[data]
    params = dict(SMALL, n_steps=20, calibration_steps=0, lr_g=1e10, lr_d=1e10, log_every=1, **extra)
    with pytest.warns(RuntimeWarning, match="diverged"):
        gan = GAN(**params).fit(X)
    assert gan.diverged_
    assert _all_finite(gan), {k: bool(np.isfinite(v).all()) for k, v in gan._state.items()}
    assert gan._state["counters"][0] == gan.n_steps_ < 20
    assert list(gan.history_["step"]) == list(range(1, gan.n_steps_ + 1))
    assert np.isfinite(gan.sample(50, random_state=0, rejection=False)).all()
    assert np.isfinite(gan.discriminate(X)).all()
    # the state kept is exactly that of a run stopped at the last finite step
    straight = GAN(**dict(params, n_steps=gan.n_steps_, lr_decay_steps=20)).fit(X)
    for k, v in straight._state.items():
        np.testing.assert_array_equal(gan._state[k], v, err_msg=k)
    # resuming diverges again at once and keeps the same finite state
    before = {k: v.copy() for k, v in gan._state.items()}
    with pytest.warns(RuntimeWarning, match="diverged"):
        gan.fit(X, resume=True)
    assert gan.diverged_
    for k, v in before.items():
        np.testing.assert_array_equal(gan._state[k], v, err_msg=k)


# --- item 15: the same path for save and load ---------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    return GAN(**SMALL, n_steps=6, calibration_steps=3, log_every=2).fit(X)


def _same(a, b):
    assert a._state.keys() == b._state.keys()
    for k in a._state:
        np.testing.assert_array_equal(a._state[k], b._state[k], err_msg=k)
    np.testing.assert_array_equal(a.sample(20, random_state=1), b.sample(20, random_state=1))


def test_save_load_same_path(fitted, tmp_path):
    fitted.save(str(tmp_path / "model"))
    assert (tmp_path / "model.npz").exists()
    _same(fitted, GAN.load(str(tmp_path / "model")))
    fitted.save(tmp_path / "other")  # a pathlib.Path
    _same(fitted, GAN.load(tmp_path / "other"))
    _same(fitted, GAN.load(tmp_path / "other.npz"))
    buf = io.BytesIO()  # a file object
    fitted.save(buf)
    buf.seek(0)
    _same(fitted, GAN.load(buf))
    with pytest.raises(FileNotFoundError):
        GAN.load(tmp_path / "absent")


# --- items 13 and 14: damaged and inconsistent files --------------------------------------

@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("gan") / "g.npz"
    fitted.save(path)
    return path.read_bytes()


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return buf.getvalue()


def _npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _read(raw):
    return np.load(io.BytesIO(raw), allow_pickle=False)


def with_member(name, f):
    """The saved file with member `name` (without .npy) replaced by f(its array) (None: removed)."""
    def edit(data):
        m = _members(data)
        new = f(_read(m[name + ".npy"]))
        if new is None:
            del m[name + ".npy"]
        else:
            m[name + ".npy"] = new if isinstance(new, bytes) else _npy(new)
        return _zip(m)
    return edit


def with_meta(f):
    """The saved file with its JSON metadata dict edited in place by f."""
    def edit_meta(meta_arr):
        meta = json.loads(str(meta_arr))
        f(meta)
        return np.array(json.dumps(meta))
    return with_member("meta", edit_meta)


def _set(path, value):
    def f(meta):
        d = meta
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return f


def _huge_header(arr):
    # a header claiming 2**40 float elements in front of the member's few bytes
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": arr.dtype.str, "fortran_order": False, "shape": (2**40,)})
    return buf.getvalue() + arr.tobytes()


def _poke(arr, index, value):
    arr = arr.copy()
    arr[index] = value
    return arr


def _wide(meta):
    # layers of 2e5 units: 4e10 weights if anything believed them
    sizes = meta["fit_config"]["g_sizes"]
    meta["fit_config"]["g_sizes"] = [sizes[0], 200000, 200000, sizes[-1]]
    meta["params"]["generator_hidden"] = [200000, 200000]


BAD = {
    # item 13: what fit would reject
    "negative lr": with_meta(_set(("params", "lr_g"), -1.0)),
    "negative lr in fit_config": with_meta(_set(("fit_config", "lr_d"), -1.0)),
    "object dtype": with_meta(_set(("params", "dtype"), "object")),
    "unknown activation": with_meta(_set(("params", "activation"), "swish")),
    "unknown activation in fit_config": with_meta(_set(("fit_config", "activation"), "swish")),
    "wrong n_features_in": with_meta(_set(("n_features_in",), 3)),
    "NaN weights": with_member("state_g", lambda a: _poke(a, 0, np.nan)),
    "inf EMA": with_member("state_g_ema", lambda a: _poke(a, 0, np.inf)),
    "negative counters": with_member("state_counters", lambda a: _poke(a, 2, -1)),
    "history lengths": with_member("history_d_loss", lambda a: a[:-1]),
    "unknown parameter": with_meta(_set(("params", "colour"), "red")),
    "wrong weight size": with_member("state_d", lambda a: a[:-1]),
    "wrong weight dtype": with_member("state_d_m", lambda a: a.astype(np.float64)),
    "negative step count": with_meta(_set(("n_steps_done",), -1)),
    # item 14: damaged files
    "empty": lambda data: b"",
    "garbage": lambda data: bytes(range(256)) * 8,
    "truncated to 10": lambda data: data[:10],
    "truncated to half": lambda data: data[:len(data) // 2],
    "truncated by 1": lambda data: data[:-1],
    "flipped byte early": lambda data: data[:100] + bytes([data[100] ^ 0xFF]) + data[101:],
    "flipped byte middle": lambda data: data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF])
    + data[len(data) // 2 + 1:],
    "missing member": with_member("state_g", lambda a: None),
    "missing meta": with_member("meta", lambda a: None),
    "huge npy header": with_member("state_g", _huge_header),
    "layer sizes 2e5": with_meta(_wide),
    "object member": with_member("state_d_v", lambda a: _npy(np.array([{"a": 1}], dtype=object),
                                                              allow_pickle=True)),
    "meta not JSON": with_member("meta", lambda a: np.array("{not json")),
    "meta a number array": with_member("meta", lambda a: np.arange(3.0)),
    "meta a JSON list": with_member("meta", lambda a: np.array("[1, 2]")),
    "params a number": with_meta(_set(("params",), 5)),
    "fit_config a list": with_meta(_set(("fit_config",), [1, 2])),
    "hidden an int": with_meta(_set(("params", "generator_hidden"), 8)),
    "seed a string": with_meta(_set(("seed",), "0")),
    "seed too large": with_meta(_set(("seed",), 2**70)),
    "g_sizes missing": with_meta(lambda m: m["fit_config"].pop("g_sizes")),
    "dtype a number": with_meta(_set(("params", "dtype"), 3)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_load_rejects_bad_file(saved, tmp_path, case):
    path = tmp_path / "bad.npz"
    path.write_bytes(BAD[case](saved))
    with pytest.raises(ValueError, match=r"bad\.npz is not a genmix model file: "):
        GAN.load(path)


def test_the_edits_keep_a_good_file_good(saved, tmp_path, fitted):
    # the editing helpers themselves leave a loadable file when they change nothing
    path = tmp_path / "same.npz"
    path.write_bytes(with_meta(lambda meta: None)(with_member("state_g", lambda a: a)(saved)))
    _same(fitted, GAN.load(path))
    assert pickle.loads(pickle.dumps(GAN.load(path))).n_steps_ == fitted.n_steps_


def test_calibration_divergence_keeps_the_raw_generator():
    # no training steps; the calibration overflows on the first batch
    Xbig = np.full((50, 2), 3e38, dtype=np.float32)
    gan = GAN(**dict(SMALL, loss="wasserstein", penalty=None, activation="relu", n_steps=0, calibration_steps=5,
                     standardize=False))
    with pytest.warns(RuntimeWarning, match="calibration diverged"):
        gan.fit(Xbig)
    assert "d_cal" not in gan._state and _all_finite(gan)
    assert np.isfinite(gan.sample(10, random_state=0, rejection=False)).all()
    with pytest.raises(ValueError, match="rejection=False"):
        gan.sample(10)


def test_set_params_after_fit_does_not_change_the_networks(fitted):
    other = pickle.loads(pickle.dumps(fitted)).set_params(activation="tanh")
    np.testing.assert_array_equal(other.sample(10, random_state=0, rejection=False),
                                  fitted.sample(10, random_state=0, rejection=False))


def test_numpy_scalar_parameters_save_and_load():
    # sizes from np.arange or a grid search arrive as np.int64, flags as np.bool_: fit took
    # them, but save failed with "Object of type int64 is not JSON serializable"
    gan = GAN(generator_hidden=np.arange(4, 5), discriminator_hidden=(np.int64(4),), n_steps=np.int64(3),
              batch_size=np.int64(8), calibration_steps=np.int64(0), standardize=np.bool_(True),
              random_state=0).fit(np.random.default_rng(0).normal(size=(20, 2)))
    buf = io.BytesIO()
    gan.save(buf)
    buf.seek(0)
    loaded = GAN.load(buf)
    assert loaded.n_steps == 3 and loaded.batch_size == 8 and loaded.standardize is True
    np.testing.assert_array_equal(loaded.sample(5, random_state=1, rejection=False),
                                  gan.sample(5, random_state=1, rejection=False))
