// The extension module genmix._core_<variant>: one registration function per area. The same
// sources are compiled once per instruction-set level (CMakeLists.txt); genmix._core picks one.
#include <pybind11/pybind11.h>

#include <Eigen/Core>

#include <pthread.h>

#include "genmix/parallel.hpp"
#include "genmix/simd.hpp"

namespace py = pybind11;

void register_array_checks(py::module_& m);
void register_mixture(py::module_& m);
void register_nn(py::module_& m);
void register_categorical(py::module_& m);
void register_gan(py::module_& m);

#ifndef GENMIX_MODULE
#define GENMIX_MODULE _core
#define GENMIX_VARIANT "default"
#define GENMIX_TARGET_FLAGS ""
#endif

#define GENMIX_STR2(x) #x
#define GENMIX_STR(x) GENMIX_STR2(x)

PYBIND11_MODULE(GENMIX_MODULE, m) {
    m.doc() = "genmix C++ core (Eigen + OpenMP). Private: use the classes in genmix.";
#ifdef _OPENMP
    m.attr("has_openmp") = true;
    m.attr("openmp_version") = (int)_OPENMP;
#else
    m.attr("has_openmp") = false;
    m.attr("openmp_version") = 0;
#endif
    py::dict info;
    info["variant"] = GENMIX_VARIANT;
    info["target_flags"] = GENMIX_TARGET_FLAGS;
    info["vector_bytes"] = genmix::kVectorBytes;
    info["register_bytes"] = genmix::kRegisterBytes;
    info["fma"] = genmix::kHasFma;
#if defined(__clang__)
    info["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
    info["compiler"] = "gcc " __VERSION__;
#else
    info["compiler"] = "unknown";
#endif
    info["eigen"] = GENMIX_STR(EIGEN_WORLD_VERSION) "." GENMIX_STR(EIGEN_MAJOR_VERSION) "." GENMIX_STR(EIGEN_MINOR_VERSION);
    info["eigen_simd"] = Eigen::SimdInstructionSetsInUse();
    m.attr("build_info") = info;
    m.def("default_threads", [] { return genmix::resolve_threads(0); },
          "Threads a call with n_threads=0 uses (OpenMP's default: OMP_NUM_THREADS or the cores).");
    // One ForkState per process, whichever core variants are loaded (they share libgomp and
    // pybind11's shared data); the first module registers the fork handler.
    const char* key = "genmix_fork_state";
    auto* shared = static_cast<genmix::ForkState*>(py::get_shared_data(key));
    if (!shared) {
        shared = static_cast<genmix::ForkState*>(py::set_shared_data(key, &genmix::fork_state()));
        pthread_atfork(nullptr, nullptr, genmix::on_fork_child);
    }
    genmix::fork_state_ptr() = shared;
    m.def("forked_child", [] { return genmix::fork_state().forked.load(); },
          "Whether this process was forked after a parallel call: every call then runs on one thread.");
    register_array_checks(m);
    // one submodule per model family (genmix._core.gmm, ...: see python/genmix/_core/)
    auto gmm = m.def_submodule("gmm", "Gaussian mixtures: EM, its statistics primitives, evaluation, k-means.");
    register_mixture(gmm);
    auto nn = m.def_submodule("nn", "Multilayer perceptrons: init, forward, backward, input-gradient penalty.");
    register_nn(nn);
    auto categorical = m.def_submodule("categorical", "Mixtures of categorical distributions: EM and evaluation.");
    register_categorical(categorical);
    auto gan = m.def_submodule("gan", "The GAN trainer: training steps, calibration, gradients, draws.");
    register_gan(gan);
}
