// Optional output arrays for the evaluate-style bindings: allocated (with the GIL held)
// only when asked for, their data pointer handed to the core, None otherwise.
#pragma once

#include <pybind11/numpy.h>

#include <vector>

namespace genmix_bindings {

template <class T>
pybind11::object optional_output(bool wanted, std::vector<pybind11::ssize_t> shape, T*& data) {
    data = nullptr;
    if (!wanted) return pybind11::none();
    pybind11::array_t<T> a(shape);
    data = a.mutable_data();
    return std::move(a);
}

}  // namespace genmix_bindings
