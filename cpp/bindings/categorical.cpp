// Bindings for the categorical mixture core. Python validates the codes and parameters;
// these functions convert, release the GIL, run, and convert back.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "genmix/categorical.hpp"
#include "interrupt.hpp"
#include "arrays.hpp"

namespace py = pybind11;
using namespace genmix;
using genmix_bindings::Interruptible;
using genmix_bindings::optional_output;

namespace {

using DArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IArray = py::array_t<std::int64_t, py::array::c_style>;

CategoricalData make_data(const IArray& X, const std::vector<long>& offsets) {
    if (X.ndim() != 2) throw std::invalid_argument("X must be a 2-D array of int64 codes");
    CategoricalData data;
    data.X = X.data();
    data.n = (long)X.shape(0);
    data.d = (int)X.shape(1);
    data.offsets = offsets;
    if ((int)offsets.size() != data.d + 1) throw std::invalid_argument("offsets must have n_features + 1 entries");
    // Python validates the codes, but an out-of-range code would index theta out of bounds,
    // so the core never trusts them: one cheap pass before any work.
    if (offsets[0] != 0) throw std::invalid_argument("offsets must start at 0");
    for (int j = 0; j < data.d; ++j)
        if (offsets[j + 1] <= offsets[j]) throw std::invalid_argument("offsets must be increasing");
    for (long i = 0; i < data.n; ++i)
        for (int j = 0; j < data.d; ++j) {
            const std::int64_t c = data.X[i * data.d + j];
            if (c < 0 || c >= offsets[j + 1] - offsets[j])
                throw std::invalid_argument("category code " + std::to_string(c) + " of feature " + std::to_string(j) +
                                            " is outside 0 .. " + std::to_string(offsets[j + 1] - offsets[j] - 1));
        }
    return data;
}

CategoricalParams make_params(const DArray& weights, const DArray& theta, long total) {
    if (theta.ndim() != 2 || theta.shape(0) != total || theta.shape(1) != weights.size())
        throw std::invalid_argument("theta must have shape (sum of n_categories, n_components)");
    CategoricalParams p;
    p.weights = Eigen::Map<const Eigen::VectorXd>(weights.data(), weights.size());
    p.theta = Eigen::Map<const decltype(p.theta)>(theta.data(), theta.shape(0), theta.shape(1));
    return p;
}

}  // namespace

void register_categorical(py::module_& m) {
    m.def(
        "em",
        [](const IArray& X, const std::vector<long>& offsets, const DArray& weights, const DArray& theta, double alpha,
           const std::string& algorithm, double tol, int max_iter, int n_threads, const py::object& callback) {
            const CategoricalData data = make_data(X, offsets);
            const CategoricalParams init = make_params(weights, theta, offsets.back());
            const Algorithm alg = parse_algorithm(algorithm);
            Interruptible guard;
            std::function<void(int, double)> on_iter = [&](int it, double change) {
                py::gil_scoped_acquire gil;
                if (PyErr_CheckSignals() != 0) throw py::error_already_set();
                if (!callback.is_none()) callback(it, change);
            };
            CategoricalResult r;
            guard.run([&] { r = categorical_em(data, init, alpha, alg, tol, max_iter, n_threads, &guard.poll, on_iter); });
            py::dict out;
            DArray w(r.params.weights.size());
            std::copy(r.params.weights.data(), r.params.weights.data() + w.size(), w.mutable_data());
            DArray t({(py::ssize_t)r.params.theta.rows(), (py::ssize_t)r.params.theta.cols()});
            std::copy(r.params.theta.data(), r.params.theta.data() + t.size(), t.mutable_data());
            out["weights"] = w;
            out["theta"] = t;
            out["lower_bounds"] = py::cast(r.lower_bounds);
            out["converged"] = r.converged;
            out["n_iter"] = r.n_iter;
            return out;
        },
        py::arg("X"), py::arg("offsets"), py::arg("weights"), py::arg("theta"), py::arg("alpha"), py::arg("algorithm"),
        py::arg("tol"), py::arg("max_iter"), py::arg("n_threads"), py::arg("callback"),
        "EM (MAP with a symmetric Dirichlet smoothing alpha) for a mixture of categorical distributions.");

    m.def(
        "evaluate",
        [](const IArray& X, const std::vector<long>& offsets, const DArray& weights, const DArray& theta, bool log_prob,
           bool resp, bool labels, int n_threads) {
            const CategoricalData data = make_data(X, offsets);
            const CategoricalParams p = make_params(weights, theta, offsets.back());
            const long k = (long)p.weights.size();
            double *lp_ptr, *rs_ptr;
            std::int64_t* lb_ptr;
            const py::object lp = optional_output(log_prob, {(py::ssize_t)data.n}, lp_ptr);
            const py::object rs = optional_output(resp, {(py::ssize_t)data.n, (py::ssize_t)k}, rs_ptr);
            const py::object lb = optional_output(labels, {(py::ssize_t)data.n}, lb_ptr);
            Interruptible guard;
            guard.run([&] { categorical_evaluate(data, p, lp_ptr, rs_ptr, lb_ptr, n_threads, &guard.poll); });
            return py::make_tuple(lp, rs, lb);
        },
        py::arg("X"), py::arg("offsets"), py::arg("weights"), py::arg("theta"), py::arg("log_prob"), py::arg("resp"),
        py::arg("labels"), py::arg("n_threads"),
        "Per-row log-likelihood, responsibilities and most probable component, as requested.");
}
