"""Type stub for genmix._core, the C++ core as compiled for this CPU (private; use the
classes in genmix). The model families are submodules with stubs of their own."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Dict, List

import numpy as np
import numpy.typing as npt

from . import categorical as categorical, gan as gan, gmm as gmm, nn as nn

# genmix._core re-exports what the core variant chosen for this CPU holds
# (genmix._core_<variant>); these name and load the variants.
variant: str
def cpu_features() -> Dict[str, bool]: ...
def runs_here(variant: str) -> bool: ...
def built_variants() -> List[str]: ...
def load(variant: str) -> ModuleType: ...

# attributes of every core variant
has_openmp: bool
openmp_version: int
build_info: Dict[str, Any]  # variant, target_flags, vector_bytes, register_bytes, fma, compiler, eigen, eigen_simd
def default_threads() -> int: ...
def forked_child() -> bool: ...  # this process is a fork of one that ran a thread team

def all_finite(a: npt.NDArray[np.floating], n_threads: int = 0) -> bool: ...
SUBMODULES: tuple[str, ...]
