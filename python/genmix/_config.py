"""genmix.show_config: which build of the core runs, and on what."""

from __future__ import annotations

import platform
import sys


def config():
    """The build and run-time configuration as a dict (what :func:`show_config` prints).

    Keys: ``version``, ``python``, ``numpy``, ``core`` (the variant imported and its build:
    instruction set flags, vector width, FMA, compiler, Eigen), ``built_variants``,
    ``cpu`` (the features the variants need, as this CPU reports them), ``openmp`` and
    ``default_threads``.
    """
    import numpy as np

    from . import __version__, _core

    info = dict(_core.build_info)
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
        "core": info,
        "built_variants": _core.built_variants(),
        "runnable_variants": [v for v in _core.built_variants() if _core.runs_here(v)],
        "cpu": _core.cpu_features(),
        "openmp": _core.openmp_version if _core.has_openmp else None,
        "default_threads": _core.default_threads(),
    }


def show_config(file=None):
    """Print which core variant runs (instruction set, vector width), the CPU's features,
    OpenMP, threads and the compiler: what to include in a bug or speed report."""
    c = config()
    core = c["core"]
    supported = [name for name, ok in c["cpu"].items() if ok]
    lines = [
        f"genmix {c['version']} (Python {c['python']}, NumPy {c['numpy']}, {c['machine']})",
        f"core variant:      {core['variant']}  [{core['target_flags'] or 'compiler default'}]",
        f"vector width:      {core['vector_bytes']} bytes  (FMA: {'yes' if core['fma'] else 'no'})",
        f"compiler:          {core['compiler']}",
        f"Eigen:             {core['eigen']} ({core['eigen_simd']})",
        f"OpenMP:            {c['openmp'] if c['openmp'] else 'not available (single-threaded)'}",
        f"default threads:   {c['default_threads']}",
        f"variants built:    {', '.join(c['built_variants'])}",
        f"runnable here:     {', '.join(c['runnable_variants'])}",
        f"CPU features:      {' '.join(supported) if supported else 'none of the x86 levels (not x86-64)'}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
