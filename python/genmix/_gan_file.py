"""The file format of :class:`genmix.GAN` (:meth:`GAN.save`, :meth:`GAN.load`): an ``.npz`` of the
training state and history arrays plus a JSON string of parameters and configuration, every member
checked on load before anything is built.
"""

from __future__ import annotations

import json
import numbers

import numpy as np

from ._gan_calibration import CALIBRATION_KEYS, FLOOR_GRID
from ._validation import check_int, npz_path, read_npz

HISTORY_KEYS = ("step", "d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def save(gan, path):
    """Write a fitted ``gan`` to ``path`` (see :meth:`GAN.save`)."""
    arrays = {f"state_{k}": v for k, v in gan._state.items()}
    arrays.update({f"history_{k}": v for k, v in gan.history_.items()})
    params = gan.get_params(deep=False)
    params["dtype"] = np.dtype(params["dtype"]).name
    params["generator_hidden"] = list(params["generator_hidden"])
    params["discriminator_hidden"] = list(params["discriminator_hidden"])
    params["betas"] = list(params["betas"])
    if not isinstance(params["calibration_steps"], numbers.Integral):
        params["calibration_steps"] = [int(k) for k in params["calibration_steps"]]
    if not (params["random_state"] is None or isinstance(params["random_state"], numbers.Integral)):
        params["random_state"] = None
    elif params["random_state"] is not None:
        params["random_state"] = int(params["random_state"])
    meta = {"params": params, "fit_config": gan._fit_config, "seed": int(gan._seed),
            "n_features_in": gan.n_features_in_, "n_steps_done": gan.n_steps_,
            "diverged": bool(getattr(gan, "diverged_", False))}
    # NumPy scalars (np.int64 sizes from np.arange or a grid search, np.bool_) as Python's
    np.savez(npz_path(path), meta=np.array(json.dumps(meta, default=_json_scalar)), **arrays)


def load(cls, path):
    """A ``cls`` (GAN) read from ``path`` (see :meth:`GAN.load`)."""
    file = npz_path(path)
    try:
        return _from_arrays(cls, read_npz(file))
    except (ValueError, TypeError) as exc:
        name = file if isinstance(file, str) else getattr(file, "name", repr(file))
        raise ValueError(f"{name} is not a genmix model file: {exc}") from None


def _from_arrays(cls, arrays):
    """A GAN from the members of a saved file, each checked; ValueError/TypeError on the first problem."""
    meta = arrays.pop("meta", None)
    if meta is None or meta.shape != () or meta.dtype.kind != "U":
        raise ValueError("no JSON metadata (a 'meta' string)")
    meta = json.loads(str(meta))
    kinds = {"params": dict, "fit_config": dict, "seed": numbers.Integral, "n_features_in": numbers.Integral,
             "n_steps_done": numbers.Integral, "diverged": bool}
    if not isinstance(meta, dict) or set(meta) != set(kinds):
        raise ValueError(f"the metadata must be a JSON object with the keys {sorted(kinds)}")
    for key, kind in kinds.items():
        if not isinstance(meta[key], kind) or kind is numbers.Integral and isinstance(meta[key], bool):
            raise TypeError(f"the metadata's {key!r} must be a {kind.__name__}; got {meta[key]!r}")
    check_int(meta["n_features_in"], "n_features_in", "the file", low=1)
    check_int(meta["n_steps_done"], "n_steps_done", "the file", low=0)
    check_int(meta["seed"], "seed", "the file", low=0)
    if meta["seed"] >= 2**64:
        raise ValueError(f"the seed must be < 2**64; got {meta['seed']}")
    params = dict(meta["params"])
    if "dtype" in params:
        if not isinstance(params["dtype"], str):
            raise TypeError(f"the 'dtype' parameter must be a dtype name; got {params['dtype']!r}")
        params["dtype"] = np.dtype(params["dtype"])
    for key in ("generator_hidden", "discriminator_hidden", "betas", "calibration_steps"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    gan = cls(**params)
    gan._check_params()
    config = meta["fit_config"]
    n = meta["n_features_in"]
    _check_config(cls, config, n)
    _check_state(arrays, config, n, meta["n_steps_done"])
    gan._state = {k[6:]: v for k, v in arrays.items() if k.startswith("state_")}
    gan.history_ = {k[8:]: v for k, v in arrays.items() if k.startswith("history_")}
    gan._fit_config = config
    gan._seed = np.uint64(meta["seed"])
    gan.n_features_in_ = n
    gan.n_steps_ = meta["n_steps_done"]
    gan.diverged_ = meta["diverged"]
    return gan


def _check_config(cls, config, n_features):
    """Check a stored training configuration as fit checks its parameters: rebuild the
    parameters it came from, validate them, and require that they give it back exactly."""
    try:
        g, d = config["g_sizes"], config["d_sizes"]
        params = {k: config[k] for k in ("activation", "loss", "penalty_weight", "update", "d_steps", "optimizer",
                                          "lr_g", "lr_d", "lr_schedule", "lr_end_factor", "lr_decay_steps",
                                          "batch_size", "latent_distribution")}
        params.update(latent_dim=g[0], generator_hidden=g[1:-1], discriminator_hidden=d[1:-1],
                      penalty=None if config["penalty"] == "none" else config["penalty"],
                      betas=(config["beta1"], config["beta2"]),
                      ema=None if config["ema"] == -1.0 else config["ema"],
                      n_threads=config["n_threads"] or None)
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"the training configuration lacks an entry or has one of the wrong type ({exc!r})") \
            from None
    check_int(params["lr_decay_steps"], "lr_decay_steps", "the file's training configuration", low=1)
    trained = cls(**params)
    g_hidden, d_hidden, nt, _, _ = trained._check_params()
    if trained._config(n_features, g_hidden, d_hidden, nt, params["lr_decay_steps"]) != config:
        raise ValueError(f"the training configuration is not one that fit makes for {n_features} features")


def _check_state(arrays, config, n_features, n_steps):
    """Check the file's state and history arrays: names, shapes, dtypes, finiteness, counters."""
    n_g, n_d = (sum((a + 1) * b for a, b in zip(s[:-1], s[1:])) for s in (config["g_sizes"], config["d_sizes"]))
    shapes = {"g": (n_g,), "g_ema": (n_g,), "g_m": (n_g,), "g_v": (n_g,),
              "d": (n_d,), "d_m": (n_d,), "d_v": (n_d,), "counters": (3,),
              "x_mean": (n_features,), "x_scale": (n_features,), "log_m": (1,), "log_ratio_q": FLOOR_GRID.shape}
    state = {k[6:]: v for k, v in arrays.items() if k.startswith("state_")}
    history = {k[8:]: v for k, v in arrays.items() if k.startswith("history_")}
    unknown = set(arrays) - {f"state_{k}" for k in state} - {f"history_{k}" for k in history}
    optional = {"x_mean", "x_scale", *CALIBRATION_KEYS}  # absent from files of older versions
    missing = set(shapes) - optional - set(state)
    unknown |= {f"state_{k}" for k in set(state) - set(shapes) - {"d_cal"}}
    if unknown or missing:
        raise ValueError(f"unexpected members {sorted(unknown)}, missing members {sorted(missing)}")
    for pair in (("x_mean", "x_scale"), ("d_cal", "log_m")):
        if (pair[0] in state) != (pair[1] in state):
            raise ValueError(f"{pair[0]!r} and {pair[1]!r} must both be present or both absent")
    if "log_ratio_q" in state and "d_cal" not in state:
        raise ValueError("'log_ratio_q' without 'd_cal'")
    weights = state["g"].dtype
    if weights not in (np.float32, np.float64):
        raise ValueError(f"the weights must be float32 or float64; got {weights}")
    for k, v in state.items():
        dtype = np.int64 if k == "counters" else np.float64 if k in shapes and k.startswith(("x_", "log_")) \
            else weights
        shape = (v.shape[0], n_d) if k == "d_cal" else shapes[k]
        if v.dtype != dtype or v.shape != shape or k == "d_cal" and v.shape[0] < 1:
            raise ValueError(f"'state_{k}' must be {np.dtype(dtype)} of shape {shape}; got {v.dtype} {v.shape}")
        if k != "counters" and not np.all(np.isfinite(v)):
            raise ValueError(f"'state_{k}' contains NaN or infinity")
    counters = state["counters"]
    if counters.min() < 0 or counters[0] != n_steps:
        raise ValueError(f"the step counters {counters.tolist()} must be >= 0 and start with {n_steps} steps")
    if "x_scale" in state and not np.all(state["x_scale"] > 0):
        raise ValueError("'state_x_scale' must be > 0")
    if set(history) != set(HISTORY_KEYS):
        raise ValueError(f"the history must have the entries {list(HISTORY_KEYS)}; got {sorted(history)}")
    length = len(history["step"])
    for k, v in history.items():
        dtype = np.int64 if k == "step" else np.float64
        if v.dtype != dtype or v.shape != (length,):
            raise ValueError(f"'history_{k}' must be {np.dtype(dtype)} of shape ({length},) like "
                             f"'history_step'; got {v.dtype} {v.shape}")
    steps = history["step"]
    if length and (steps[0] < 1 or np.any(np.diff(steps) <= 0) or steps[-1] > n_steps):
        raise ValueError(f"'history_step' must increase within 1..{n_steps}")
