// The extension module genmix._core: one registration function per area.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_mixture(py::module_& m);
void register_nn(py::module_& m);
void register_categorical(py::module_& m);
void register_gan(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "genmix C++ core (Eigen + OpenMP). Private: use the classes in genmix.";
#ifdef _OPENMP
    m.attr("has_openmp") = true;
#else
    m.attr("has_openmp") = false;
#endif
    register_mixture(m);
    register_nn(m);
    register_categorical(m);
    register_gan(m);
}
