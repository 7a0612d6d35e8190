"""The C++ core tested alone, without Python (cpp/tests): CMake configures the project with
the extension modules off and the kernel tests on (GENMIX_MODULES=OFF, GENMIX_CPP_TESTS=ON),
builds the test programs into a temporary directory, and each program runs its checks
(GEMM against a naive product, MLP gradients against finite differences, a GMM E-step
against hand-worked values, thread-count invariance).

CMake comes from the `cmake` package of the test extra, else from PATH; a missing CMake or
compiler fails these tests (with what was missing), never skips them.
"""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = ["test_gemm", "test_mlp", "test_gmm"]


def _tool(module, name):
    """The executable `name` of the Python package `module` (cmake, ninja), else on PATH."""
    try:
        package = __import__(module)
        path = os.path.join(package.BIN_DIR if module == "ninja" else package.CMAKE_BIN_DIR, name)
        for candidate in (path, path + ".exe"):
            if os.path.isfile(candidate):
                return candidate
    except (ImportError, AttributeError):
        pass
    return shutil.which(name)


def _run(args, what):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(args)}\n{proc.stdout}", pytrace=False)
    return proc.stdout


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    cmake = _tool("cmake", "cmake")
    if cmake is None:
        pytest.fail("CMake not found: install the test extra (pip install '.[test]') or put cmake on PATH",
                    pytrace=False)
    build = str(tmp_path_factory.mktemp("cpp-core"))
    args = [cmake, "-S", ROOT, "-B", build, "-DGENMIX_MODULES=OFF", "-DGENMIX_CPP_TESTS=ON"]
    ninja = _tool("ninja", "ninja")
    if ninja is not None:
        args += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    _run(args, "configuring the C++ tests")
    _run([cmake, "--build", build, "--parallel", str(min(4, os.cpu_count() or 1))], "building the C++ tests")
    return build


@pytest.mark.parametrize("program", PROGRAMS)
def test_cpp_kernels(build_dir, program):
    exe = os.path.join(build_dir, "cpp", "tests", program)
    if not os.path.isfile(exe):
        pytest.fail(f"{program} was not built in {build_dir}", pytrace=False)
    proc = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, f"{program} failed (exit {proc.returncode}):\n{proc.stdout}"
