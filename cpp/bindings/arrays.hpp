// What every binding file needs to move arrays across: the float type a call runs in
// (with_float_type: the one place it is chosen) and optional output arrays.
#pragma once

#include <pybind11/numpy.h>

#include <stdexcept>
#include <vector>

namespace genmix_bindings {

// Calls f(float{}) for a float32 array and f(double{}) for a float64 one: the kernels run
// in the data's own type. Anything else is refused.
template <class F>
auto with_float_type(const pybind11::array& X, F&& f) -> decltype(f(double{})) {
    if (X.dtype().equal(pybind11::dtype::of<float>())) return f(float{});
    if (X.dtype().equal(pybind11::dtype::of<double>())) return f(double{});
    throw std::invalid_argument("X must be float32 or float64");
}

// An output array allocated (with the GIL held) only when asked for, its data pointer
// handed to the core; None otherwise.
template <class T>
pybind11::object optional_output(bool wanted, std::vector<pybind11::ssize_t> shape, T*& data) {
    data = nullptr;
    if (!wanted) return pybind11::none();
    pybind11::array_t<T> a(shape);
    data = a.mutable_data();
    return std::move(a);
}

}  // namespace genmix_bindings
