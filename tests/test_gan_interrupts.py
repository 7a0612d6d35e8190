"""genmix.GAN stopped mid-fit (Ctrl-C in a child process, Ctrl-C inside the logging step, an
exception from the callback): every completed step is kept, bit-identical to a straight run."""

import numpy as np
import pytest

from genmix.datasets import make_ring

from _gan_common import _medium, _state_equal


CTRL_C_CHILD = r"""
import json, os, signal, threading
import numpy as np
from genmix import GAN
from genmix.datasets import make_ring

signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own Ctrl-C handling
X = make_ring(500, random_state=0)[0]
kw = dict(latent_dim=4, generator_hidden=(32, 32), discriminator_hidden=(32, 32), batch_size=64,
          random_state=3, n_threads=2, log_every=10**9, lr_schedule="linear", lr_decay_steps=1000)
gan = GAN(n_steps=10**9, **kw)
timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
timer.start()
result = {"interrupted": False}
try:
    gan.fit(X)
except KeyboardInterrupt:
    result["interrupted"] = True
timer.cancel()
k = gan.n_steps_
straight = GAN(n_steps=k, **kw).fit(X)
result["steps"] = k
result["same"] = all(np.array_equal(gan._state[key], straight._state[key]) for key in gan._state)
print(json.dumps(result))
"""


def test_ctrl_c_stops_between_steps_keeping_completed_steps():
    import json
    import subprocess
    import sys
    try:
        proc = subprocess.run([sys.executable, "-c", CTRL_C_CHILD], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the fit was not interrupted by SIGINT (child killed after 120 s)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["interrupted"] and result["steps"] > 0 and result["same"], result


def test_callback_exception_keeps_completed_steps():
    X = make_ring(300, random_state=0)[0]

    def cb(gan, step, stats):
        if step == 4:
            raise RuntimeError("stop here")

    gan = _medium(n_steps=10, log_every=2)
    with pytest.raises(RuntimeError, match="stop here"):
        gan.fit(X, callback=cb)
    assert gan.n_steps_ == 4
    _state_equal(gan, _medium(n_steps=4, log_every=2).fit(X))


def _fit_interrupted_in_log_fn(X, position, step, callback=None, **kw):
    """Fit with a KeyboardInterrupt raised inside GAN.fit's logging function on logging step
    ``step``: at its entry (position 0, as a Ctrl-C pending while the core computed the step
    fires there) or at its ``position``-th line. Returns (gan, whether it fired)."""
    import sys

    fired = []

    def local(frame, event, arg):
        if event == "line":
            local.lines += 1
            if local.lines == position:
                fired.append(position)
                raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "log_fn" and frame.f_code.co_filename.endswith("gan.py") \
                and frame.f_locals.get("step") == step and not fired:
            if position == 0:
                fired.append(0)
                raise KeyboardInterrupt
            local.lines = 0
            return local
        return None

    gan = _medium(**kw)
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        gan.fit(X, callback=callback)
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(previous)
    return gan, bool(fired)


@pytest.mark.parametrize("with_callback", [False, True])
def test_ctrl_c_in_the_logging_step_keeps_its_history_entry(with_callback):
    """Wherever a KeyboardInterrupt lands in the logging of a step (the core has already
    committed that step), history_ holds every logged step of the published state, the
    interrupted one included, and no partial entry (issue 12, item 16)."""
    X = make_ring(300, random_state=0)[0]
    callback = (lambda gan, step, stats: False) if with_callback else None
    log_every, stop_at = 2, 6
    straight = _medium(n_steps=stop_at, log_every=log_every).fit(X)
    positions = 0
    for position in range(0, 100):
        gan, fired = _fit_interrupted_in_log_fn(X, position, stop_at, callback, n_steps=10, log_every=log_every)
        if not fired:  # past the last line of the logging function
            break
        positions += 1
        assert gan.n_steps_ == stop_at == int(gan._state["counters"][0]), (position, gan.n_steps_)
        lengths = {k: len(v) for k, v in gan.history_.items()}
        assert len(set(lengths.values())) == 1, (position, lengths)
        assert gan.history_["step"].tolist() == list(range(log_every, stop_at + 1, log_every)), \
            (position, gan.history_["step"])
        for k in straight.history_:
            np.testing.assert_array_equal(gan.history_[k], straight.history_[k], err_msg=f"{k} at position {position}")
    assert positions >= 3  # the entry and at least two lines of the logging function were hit
