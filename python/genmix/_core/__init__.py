"""The C++ core, as compiled for the running CPU (private; use the classes in genmix).

The package holds one build of the core per instruction-set level (``_core_sse42``: any
x86-64-v2 CPU; ``_core_avx2``: AVX2 + FMA, x86-64-v3; ``_core_avx512``: AVX-512, x86-64-v4;
``_core_generic`` on other architectures; ``_core_native`` alone when built with
``GENMIX_NATIVE=ON``, then always taken: it runs only on CPUs like the building one). This
package imports the best one the CPU supports and re-exports what it holds: a few
attributes of the build and ``all_finite`` here, and one submodule per model family,
``gmm``, ``categorical``, ``nn`` and ``gan`` (importable as ``genmix._core.gmm``, ...;
their typed stubs are the ``.pyi`` files beside this one). The environment
variable ``GENMIX_CORE`` names another (``sse42``, ``avx2``, ...; an error if this CPU
cannot run it or it was not built), for comparisons and tests.

Results are bit-identical for any thread count within one variant; between variants they
may differ in the last bits (fused multiply-adds, sums over vectors of other widths).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from .. import _cpu

_PACKAGE = __name__.rpartition(".")[0]  # genmix: where the compiled variants live
SUBMODULES = ("gmm", "categorical", "nn", "gan")

# Variants in order of preference, with the CPU features each needs (beyond what the
# previous level needs: the levels nest).
_V2 = ("sse4.2", "popcnt", "ssse3")
_V3 = _V2 + ("avx", "avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe")
_LEVELS = {
    "sse42": _V2,
    "avx2": _V3,
    "avx512": _V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
    "native": (),  # built for the building machine: taken only when it is the only build
    "generic": (),
}
_PREFERENCE = ("avx512", "avx2", "sse42", "generic")


def cpu_features():
    """The CPU features the variants need, as the CPU and operating system report them."""
    return dict(_cpu.features())


def runs_here(variant):
    """Whether this CPU can run the core variant ``variant`` (its level: the name's first part)."""
    level = variant.split("_")[0]
    if level not in _LEVELS:
        return False
    feats = _cpu.features()
    return all(feats.get(f, False) for f in _LEVELS[level])


def built_variants():
    """Names of the core variants present in the installed package."""
    found = []
    pkg_dir = os.path.dirname(os.path.dirname(__file__))
    for entry in sorted(os.listdir(pkg_dir)):
        if entry.startswith("_core_") and entry.endswith((".so", ".pyd")):
            found.append(entry[len("_core_"):].split(".")[0])
    return found


def load(variant):
    """The extension module of core variant ``variant`` (ImportError if it cannot run here)."""
    if variant not in built_variants():
        raise ImportError(f"genmix: core variant {variant!r} is not built; built: {', '.join(built_variants())}.")
    if not runs_here(variant):
        raise ImportError(
            f"genmix: this CPU cannot run core variant {variant!r} (needs "
            f"{', '.join(_LEVELS.get(variant.split('_')[0], ('an unknown level',)))})."
        )
    return importlib.import_module(f"{_PACKAGE}._core_{variant}")


def _choose():
    forced = os.environ.get("GENMIX_CORE", "").strip()
    if forced:
        return forced
    built = set(built_variants())
    if built == {"native"}:  # GENMIX_NATIVE=ON: this machine's own build, nothing to choose
        return "native"
    for variant in _PREFERENCE:
        if variant in built and runs_here(variant):
            return variant
    raise ImportError(
        "genmix: no core variant of this installation runs on this CPU "
        f"(built: {', '.join(sorted(built)) or 'none'}; x86-64 needs at least SSE4.2 and POPCNT)."
    )


variant = _choose()
_impl = load(variant)
globals().update({name: getattr(_impl, name) for name in dir(_impl) if not name.startswith("__")})
# `import genmix._core.gmm` and pickles of the core's classes name the submodules here, not
# the variant's: a statistics object made on one CPU loads on another.
for _name in SUBMODULES:
    _sub = getattr(_impl, _name)
    sys.modules[f"{__name__}.{_name}"] = _sub
    for _attr in dir(_sub):
        if isinstance(getattr(_sub, _attr), type):
            getattr(_sub, _attr).__module__ = f"{__name__}.{_name}"
