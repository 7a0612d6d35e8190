"""The per-instruction-set builds of the core: choosing one, reporting it, and every variant
this CPU runs passing the kernel tests (against the NumPy reference) on its own.

The variant the rest of the suite runs is the one genmix chooses by default; here each other
variant this CPU can run goes through the kernel tests in a child process (GENMIX_CORE), so
the SSE (16-byte), AVX2 (32-byte) and, where the CPU has it, AVX-512 (64-byte) kernels are
all checked in one run. `.ci/sanitize` runs the same tests on a build whose kernels use
64-byte (and 16-byte) vectors on the baseline instruction set under AddressSanitizer and
UndefinedBehaviorSanitizer, so every width is checked on any machine.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

import genmix
from genmix import _core

# The tests that exercise the width-dependent kernels against the NumPy reference (and
# their thread-count invariance), run for each variant. `.ci/sanitize` reads this list too.
KERNEL_TESTS = [
    "tests/test_nn.py",
    "tests/test_gmm_reference.py",
    "tests/test_gmm_sparse_responsibilities.py",
    "tests/test_gmm_missing.py::test_fit_matches_reference",
    "tests/test_gmm_missing.py::test_wide_data_with_many_gap_patterns_matches_reference",
    "tests/test_gmm_missing.py::test_fit_matches_reference_in_float32",
    "tests/test_gmm_missing.py::test_thread_count_does_not_change_a_bit",
    "tests/test_gan_trainer.py::test_gradients_match_reference",
    "tests/test_gan_trainer.py::test_gradients_match_finite_differences",
    "tests/test_gan_trainer.py::test_adam_alternating_two_steps_closed_form",
    "tests/test_gan.py::test_thread_count_invariance",
    "tests/test_categorical.py",
    "tests/test_gmm_stats_primitives.py",
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, **env), cwd=ROOT, timeout=600)


def test_the_default_variant_is_the_best_this_cpu_runs():
    runnable = [v for v in _core.built_variants() if _core.runs_here(v)]
    assert _core.variant in runnable or os.environ.get("GENMIX_CORE")
    if not os.environ.get("GENMIX_CORE"):
        if set(_core.built_variants()) == {"native"}:
            assert _core.variant == "native"
        else:  # a native build beside the portable ones is never chosen by itself
            order = ["avx512", "avx2", "sse42", "generic"]
            best = next(v for v in order if v in runnable)
            assert _core.variant == best


def test_the_build_has_its_documented_variants():
    built = set(_core.built_variants())
    if not _core.cpu_features():  # not x86-64: one generic core (or a native one)
        assert built & {"generic", "native"}
    else:  # the portable default: every x86-64 level, chosen at import; or GENMIX_NATIVE=ON alone
        assert {"sse42", "avx2", "avx512"} <= built or built == {"native"}


def test_runs_here_follows_the_cpu_features(monkeypatch):
    from genmix import _cpu

    feats = {name: False for name in _cpu.features()}
    feats.update({"sse4.2": True, "popcnt": True, "ssse3": True, "avx": True, "avx2": True, "fma": True,
                  "bmi": True, "bmi2": True, "f16c": True, "lzcnt": True, "movbe": True})
    monkeypatch.setattr(_cpu, "features", lambda: dict(feats))
    assert _core.runs_here("sse42") and _core.runs_here("avx2")
    assert not _core.runs_here("avx512")
    assert _core.runs_here("sse42_w64_sanitize")  # a test build counts as its level
    assert not _core.runs_here("nonsense")
    feats["fma"] = False  # AVX2 without FMA (some virtual machines): the avx2 build would fault
    assert not _core.runs_here("avx2")
    feats["fma"], feats["movbe"] = True, False  # the rest of x86-64-v3 counts too
    assert not _core.runs_here("avx2")


def test_unknown_or_unrunnable_variant_is_a_clear_import_error():
    r = run_python("import genmix", GENMIX_CORE="no-such-variant")
    assert r.returncode != 0
    assert "core variant 'no-such-variant' is not built" in r.stderr


def test_forcing_a_variant_reports_it():
    for v in [v for v in _core.built_variants() if _core.runs_here(v) and not v.endswith("_sanitize")]:
        r = run_python("import genmix; genmix.show_config()", GENMIX_CORE=v)
        assert r.returncode == 0, r.stderr
        assert f"core variant:      {v}" in r.stdout


def test_show_config_names_the_variant_width_threads_and_compiler():
    buf = io.StringIO()
    genmix.show_config(file=buf)
    text = buf.getvalue()
    info = _core.build_info
    assert f"core variant:      {_core.variant}" in text
    assert f"vector width:      {info['vector_bytes']} bytes" in text
    assert info["compiler"] in text and "OpenMP" in text and "default threads" in text
    cfg = genmix._config.config()
    assert cfg["core"]["variant"] == _core.variant
    assert cfg["default_threads"] >= 1
    assert info["vector_bytes"] in (16, 32, 64)


def test_variants_can_share_a_process_and_agree_with_each_other():
    # every runnable variant imported side by side (their classes are module-local); an MLP
    # forward pass in each matches the float64 reference, and the variants agree to rounding
    # (FMA and vector width may change the last bits, never more)
    from genmix.nn import MLP
    from genmix.reference import ReferenceMLP

    net = MLP((5, 150, 40, 3), random_state=0, dtype=np.float32)
    spec = (list(net.layer_sizes), net.activation, net.output_activation, net.negative_slope)
    X = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    ref = ReferenceMLP(*spec, params=net.get_params_flat().astype(np.float64)).forward(X.astype(np.float64))
    outs = {}
    for v in [v for v in _core.built_variants() if _core.runs_here(v) and not v.endswith("_sanitize")]:
        mod = _core.load(v)
        outs[v] = mod.nn.forward(*spec, net.get_params_flat(), X, 2, mod.nn.Workspace())
        assert outs[v].dtype == np.float32
        np.testing.assert_allclose(outs[v], ref, rtol=2e-5, atol=2e-5)
    assert len(outs) >= 1


def test_variants_this_cpu_cannot_run_are_refused_with_the_reason():
    for v in _core.built_variants():
        if not _core.runs_here(v):
            with pytest.raises(ImportError, match="this CPU cannot run core variant"):
                _core.load(v)
    with pytest.raises(ImportError, match="is not built"):
        _core.load("avx1024")


# (sanitizer builds, which .ci/sanitize adds, need their runtime preloaded: that script runs them)
@pytest.mark.parametrize("variant", [v for v in _core.built_variants()
                                     if v != _core.variant and not v.endswith("_sanitize")])
def test_each_other_variant_passes_the_kernel_tests(variant):
    if not _core.runs_here(variant):  # e.g. avx512 on an AVX2 CPU: .ci/sanitize covers its width
        r = run_python("import genmix", GENMIX_CORE=variant)
        assert r.returncode != 0 and "this CPU cannot run core variant" in r.stderr
        return
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *KERNEL_TESTS],
                       capture_output=True, text=True, env=dict(os.environ, GENMIX_CORE=variant), cwd=ROOT,
                       timeout=1800)
    tail = "\n".join(r.stdout.splitlines()[-15:])
    assert r.returncode == 0, f"variant {variant}:\n{tail}\n{r.stderr[-2000:]}"
    assert " passed" in tail
