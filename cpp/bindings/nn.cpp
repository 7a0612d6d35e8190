// Bindings for the MLP core (genmix/nn.hpp). Python (genmix.nn) has validated shapes,
// dtypes and values; these functions check only what would make the core read or write
// out of bounds, release the GIL, run, and return new NumPy arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "genmix/nn.hpp"
#include "arrays.hpp"
#include "interrupt.hpp"

namespace py = pybind11;
using genmix_bindings::with_float_type;
using genmix_bindings::Interruptible;
namespace nn = genmix::nn;

namespace {

// Scratch memory an MLP object keeps between calls, so that repeated calls do not pay for
// fresh allocations (and their page faults). It holds no state: results never depend on
// it. A call that finds it busy (another Python thread) uses a temporary one instead.
struct NNWorkspace {
    std::mutex mutex;
    nn::Workspace<float> f32;
    nn::Workspace<double> f64;
};

template <class T>
nn::Workspace<T>& pick(NNWorkspace& w);
template <>
nn::Workspace<float>& pick<float>(NNWorkspace& w) { return w.f32; }
template <>
nn::Workspace<double>& pick<double>(NNWorkspace& w) { return w.f64; }

NNWorkspace* as_workspace(const py::object& ws) { return ws.is_none() ? nullptr : ws.cast<NNWorkspace*>(); }

// Runs work(workspace) with the shared workspace when it is free, else with a local one.
// Called without the GIL: `shared` was taken from its Python object before.
template <class T, class F>
void with_workspace(NNWorkspace* shared, F&& work) {
    std::unique_lock<std::mutex> lock;
    if (shared) lock = std::unique_lock<std::mutex>(shared->mutex, std::try_to_lock);
    nn::Workspace<T> local;
    work(shared && lock.owns_lock() ? pick<T>(*shared) : local);
}

nn::Spec make_spec(const std::vector<long>& sizes, const std::string& hidden, const std::string& output,
                   double slope) {
    return nn::Spec(sizes, nn::parse_activation(hidden), nn::parse_activation(output), slope);
}

// dtype equivalence, not identity: an unpickled array carries its own (equal) descriptor.
template <class T>
bool has_type(const py::array& a) { return py::isinstance<py::array_t<T>>(a); }


// A C-contiguous array of exactly type T and shape (rows, cols) (cols < 0: 1-D of `rows`).
template <class T>
const T* checked(const py::array& a, const char* name, long rows, long cols) {
    if (!has_type<T>(a))
        throw std::invalid_argument(std::string(name) + " must have the network's dtype");
    if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(std::string(name) + " must be C-contiguous");
    const bool ok = cols < 0 ? (a.ndim() == 1 && a.shape(0) == rows)
                             : (a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols);
    if (!ok) throw std::invalid_argument(std::string(name) + " has the wrong shape");
    return static_cast<const T*>(a.data());
}

template <class T>
long n_rows(const py::array& X, const nn::Spec& s) {
    if (X.ndim() != 2 || X.shape(1) != s.d_in()) throw std::invalid_argument("X has the wrong shape");
    return (long)X.shape(0);
}

template <class T>
py::array_t<T> init_t(const nn::Spec& s, nn::Init init, std::uint64_t seed) {
    py::array_t<T> out(s.n_params);
    nn::init_params<T>(s, init, seed, out.mutable_data());
    return out;
}

template <class T>
py::array_t<T> forward_t(const nn::Spec& s, const py::array& params, const py::array& X, int n_threads,
                         const py::object& ws) {
    const long n = n_rows<T>(X, s);
    const T* p = checked<T>(params, "params", s.n_params, -1);
    const T* x = checked<T>(X, "X", n, s.d_in());
    py::array_t<T> out({(py::ssize_t)n, (py::ssize_t)s.d_out()});
    T* o = out.mutable_data();
    NNWorkspace* shared = as_workspace(ws);
    Interruptible guard;
    guard.run([&] {
        with_workspace<T>(shared, [&](nn::Workspace<T>& w) { nn::forward<T>(s, p, x, n, o, n_threads, &guard.poll, &w); });
    });
    return out;
}

template <class T>
py::tuple backward_t(const nn::Spec& s, const py::array& params, const py::array& X, const py::array& G,
                     bool input_grad, int n_threads, const py::object& ws) {
    const long n = n_rows<T>(X, s);
    const T* p = checked<T>(params, "params", s.n_params, -1);
    const T* x = checked<T>(X, "X", n, s.d_in());
    const T* g = checked<T>(G, "grad_output", n, s.d_out());
    py::array_t<T> grad(s.n_params);
    py::object dX_obj = py::none();
    T* dx = nullptr;
    if (input_grad) {
        py::array_t<T> dX({(py::ssize_t)n, (py::ssize_t)s.d_in()});
        dx = dX.mutable_data();
        dX_obj = dX;
    }
    T* gp = grad.mutable_data();
    NNWorkspace* shared = as_workspace(ws);
    Interruptible guard;
    guard.run([&] {
        with_workspace<T>(shared, [&](nn::Workspace<T>& w) {
            nn::backward<T>(s, p, x, g, n, gp, dx, n_threads, &guard.poll, &w);
        });
    });
    return py::make_tuple(grad, dX_obj);
}

template <class T>
py::tuple penalty_t(const nn::Spec& s, const py::array& params, const py::array& X, double center,
                    const py::object& G, int n_threads, const py::object& ws) {
    const long n = n_rows<T>(X, s);
    const T* p = checked<T>(params, "params", s.n_params, -1);
    const T* x = checked<T>(X, "X", n, s.d_in());
    py::array G_arr;
    const T* g = nullptr;
    if (!G.is_none()) {
        G_arr = G.cast<py::array>();
        g = checked<T>(G_arr, "grad_output", n, 1);
    }
    py::array_t<T> grad(s.n_params);
    T* gp = grad.mutable_data();
    double value = 0;
    NNWorkspace* shared = as_workspace(ws);
    Interruptible guard;
    guard.run([&] {
        with_workspace<T>(shared, [&](nn::Workspace<T>& w) {
            value = nn::input_gradient_penalty<T>(s, p, x, n, (T)center, gp, n_threads, &guard.poll, &w, g);
        });
    });
    return py::make_tuple(value, grad);
}

}  // namespace

void register_nn(py::module_& m) {
    // module_local: several core variants may be imported in one process (tests, show_config)
    py::class_<NNWorkspace>(m, "Workspace",
                            "Scratch memory reused across MLP calls; holds no state (results never depend on it).",
                            py::module_local())
        .def(py::init<>());

    m.def(
        "n_params",
        [](const std::vector<long>& sizes) { return make_spec(sizes, "identity", "identity", 0.0).n_params; },
        py::arg("sizes"), "Length of the flat parameter buffer of an MLP with these layer sizes.");

    m.def(
        "init",
        [](const std::vector<long>& sizes, const std::string& hidden, const std::string& output, double slope,
           const std::string& init, std::uint64_t seed, bool float32) -> py::array {
            const nn::Spec s = make_spec(sizes, hidden, output, slope);
            const nn::Init how = nn::parse_init(init);
            return float32 ? (py::array)init_t<float>(s, how, seed) : (py::array)init_t<double>(s, how, seed);
        },
        py::arg("sizes"), py::arg("hidden"), py::arg("output"), py::arg("slope"), py::arg("init"),
        py::arg("seed"), py::arg("float32"),
        "Initial flat parameters: He normal before relu/leaky_relu, Glorot uniform otherwise, zero biases.");

    m.def(
        "forward",
        [](const std::vector<long>& sizes, const std::string& hidden, const std::string& output, double slope,
           const py::array& params, const py::array& X, int n_threads, const py::object& workspace) -> py::array {
            const nn::Spec s = make_spec(sizes, hidden, output, slope);
            return with_float_type(X, [&](auto t) {
                return (py::array)forward_t<decltype(t)>(s, params, X, n_threads, workspace);
            });
        },
        py::arg("sizes"), py::arg("hidden"), py::arg("output"), py::arg("slope"), py::arg("params"), py::arg("X"),
        py::arg("n_threads"), py::arg("workspace") = py::none(), "Network output for each row of X.");

    m.def(
        "backward",
        [](const std::vector<long>& sizes, const std::string& hidden, const std::string& output, double slope,
           const py::array& params, const py::array& X, const py::array& G, bool input_grad, int n_threads,
           const py::object& workspace) {
            const nn::Spec s = make_spec(sizes, hidden, output, slope);
            return with_float_type(X, [&](auto t) {
                return backward_t<decltype(t)>(s, params, X, G, input_grad, n_threads, workspace);
            });
        },
        py::arg("sizes"), py::arg("hidden"), py::arg("output"), py::arg("slope"), py::arg("params"), py::arg("X"),
        py::arg("grad_output"), py::arg("input_grad"), py::arg("n_threads"), py::arg("workspace") = py::none(),
        "(sum_i J_theta^T G_i as a flat array, J_x^T G_i per row or None).");

    m.def(
        "input_gradient_penalty",
        [](const std::vector<long>& sizes, const std::string& hidden, const std::string& output, double slope,
           const py::array& params, const py::array& X, double center, const py::object& G, int n_threads,
           const py::object& workspace) {
            const nn::Spec s = make_spec(sizes, hidden, output, slope);
            return with_float_type(X, [&](auto t) {
                return penalty_t<decltype(t)>(s, params, X, center, G, n_threads, workspace);
            });
        },
        py::arg("sizes"), py::arg("hidden"), py::arg("output"), py::arg("slope"), py::arg("params"), py::arg("X"),
        py::arg("center"), py::arg("grad_output"), py::arg("n_threads"), py::arg("workspace") = py::none(),
        "(R = mean_i (||grad_x f(x_i)|| - center)^2, gradient of R [+ sum_i G_i f(x_i)] wrt the flat "
        "parameters), by double backprop.");
}
