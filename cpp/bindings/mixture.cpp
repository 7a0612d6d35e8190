// Bindings for the mixture core. Python has already validated shapes, dtypes and values;
// these functions only convert, release the GIL, run, and convert back.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "genmix/mixture.hpp"
#include "interrupt.hpp"
#include "arrays.hpp"

namespace py = pybind11;
using namespace genmix;
using genmix_bindings::Interruptible;
using genmix_bindings::optional_output;
using genmix_bindings::with_float_type;

namespace {

using DArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

VecD to_vec(const DArray& a) { return Eigen::Map<const VecD>(a.data(), a.size()); }

DArray from_vec(const VecD& v, std::vector<py::ssize_t> shape) {
    DArray out(shape);
    std::copy(v.data(), v.data() + v.size(), out.mutable_data());
    return out;
}

std::vector<py::ssize_t> cov_shape(CovType cov, int k, int d) {
    switch (cov) {
        case CovType::Full: return {k, d, d};
        case CovType::Tied: return {d, d};
        case CovType::Diag: return {k, d};
        default: return {k};
    }
}

GaussianParams make_params(const DArray& weights, const DArray& means, const py::object& covariances,
                           const DArray& prec_chol, const std::string& cov) {
    GaussianParams p;
    p.cov = parse_covariance_type(cov);
    p.k = (int)means.shape(0);
    p.d = (int)means.shape(1);
    if (weights.size() != p.k || prec_chol.size() != cov_size(p.cov, p.k, p.d))
        throw std::invalid_argument("parameter arrays have inconsistent sizes");
    p.weights = to_vec(weights);
    p.means = Eigen::Map<const RowMatD>(means.data(), p.k, p.d);
    p.prec_chol = to_vec(prec_chol);
    if (!covariances.is_none()) p.covariances = to_vec(covariances.cast<DArray>());
    return p;
}

py::dict params_dict(const GaussianParams& p) {
    py::dict out;
    out["weights"] = from_vec(p.weights, {p.k});
    out["means"] = from_vec(Eigen::Map<const VecD>(p.means.data(), p.means.size()), {p.k, p.d});
    out["covariances"] = from_vec(p.covariances, cov_shape(p.cov, p.k, p.d));
    out["precisions_cholesky"] = from_vec(p.prec_chol, cov_shape(p.cov, p.k, p.d));
    return out;
}

// X (and sample_weight) must already be C-contiguous arrays of type T: the view points
// into their memory, so no temporary copy may be made here.
template <class T>
DataView<T> view(const py::array& X, const py::object& sample_weight, bool has_missing = false) {
    DataView<T> v;
    v.has_missing = has_missing;
    if (X.ndim() != 2 || !X.dtype().equal(py::dtype::of<T>()) || !(X.flags() & py::array::c_style))
        throw std::invalid_argument("X must be a C-contiguous 2-D float array");
    v.X = static_cast<const T*>(X.data());
    v.n = (long)X.shape(0);
    v.d = (int)X.shape(1);
    if (!sample_weight.is_none()) {
        const py::array w = sample_weight.cast<py::array>();
        if (w.ndim() != 1 || w.size() != v.n || !w.dtype().equal(py::dtype::of<T>()) || !(w.flags() & py::array::c_style))
            throw std::invalid_argument("sample_weight must be a C-contiguous 1-D array of X's dtype and length");
        v.sample_weight = static_cast<const T*>(w.data());
    }
    return v;
}

template <class T>
py::dict em_fit_t(const py::array& X, const py::object& sample_weight, const GaussianParams& init, EMOptions o,
                  const py::object& callback, const py::object& row_class, const py::object& component_class,
                  bool missing) {
    const DataView<T> data = view<T>(X, sample_weight, missing);
    IArray rc, cc;
    if (!row_class.is_none()) {
        rc = row_class.cast<IArray>();
        cc = component_class.cast<IArray>();
        if (rc.ndim() != 1 || rc.size() != data.n) throw std::invalid_argument("row_class has the wrong length");
        if (cc.ndim() != 1 || cc.size() != init.k) throw std::invalid_argument("component_class has the wrong length");
        o.row_class = rc.data();
        o.component_class = cc.data();
    }
    Interruptible guard;
    IterCallback on_iter = [&](int it, double change) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!callback.is_none()) callback(it, change);
    };
    EMResult r;
    guard.run([&] { r = em_fit<T>(data, init, o, &guard.poll, on_iter); });
    py::dict out = params_dict(r.params);
    out["lower_bounds"] = py::cast(r.lower_bounds);
    out["converged"] = r.converged;
    out["n_iter"] = r.n_iter;
    out["dropped"] = py::cast(r.dropped);
    return out;
}

template <class T>
py::dict params_from_labels_t(const py::array& X, const py::object& labels, int k, const std::string& cov,
                              double reg_covar, std::uint64_t seed, int n_threads, const py::object& sample_weight) {
    const DataView<T> data = view<T>(X, sample_weight);
    const std::int64_t* lab = nullptr;
    py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> labels_arr;
    if (!labels.is_none()) {
        labels_arr = labels.cast<decltype(labels_arr)>();
        if (labels_arr.size() != data.n) throw std::invalid_argument("labels have the wrong length");
        lab = labels_arr.data();
    }
    Interruptible guard;
    GaussianParams p;
    guard.run([&] {
        p = params_from_responsibilities<T>(data, k, parse_covariance_type(cov), reg_covar, lab, seed, n_threads,
                                            &guard.poll);
    });
    return params_dict(p);
}

template <class T>
py::tuple evaluate_t(const py::array& X, const GaussianParams& p, Algorithm alg, bool want_log_prob,
                     bool want_resp, bool want_labels, int n_threads, bool missing, bool want_imputed,
                     bool want_largest) {
    const DataView<T> data = view<T>(X, py::none(), missing);
    double* lp_ptr;
    T* rs_ptr;
    std::int64_t* lb_ptr;
    T* im_ptr;
    const py::object lp = optional_output(want_log_prob, {(py::ssize_t)data.n}, lp_ptr);
    const py::object rs = optional_output(want_resp, {(py::ssize_t)data.n, (py::ssize_t)p.k}, rs_ptr);
    const py::object lb = optional_output(want_labels, {(py::ssize_t)data.n}, lb_ptr);
    const py::object im = optional_output(want_imputed, {(py::ssize_t)data.n, (py::ssize_t)data.d}, im_ptr);
    double* lg_ptr;
    const py::object lg = optional_output(want_largest, {(py::ssize_t)data.n}, lg_ptr);
    Interruptible guard;
    guard.run([&] { evaluate<T>(data, p, alg, lp_ptr, rs_ptr, lb_ptr, n_threads, &guard.poll, im_ptr, lg_ptr); });
    return py::make_tuple(lp, rs, lb, im, lg);
}

template <class T>
py::array_t<std::int64_t> kmeans_plusplus_t(const py::array& X, int k, std::uint64_t seed, int n_threads,
                                            const py::object& sample_weight) {
    const DataView<T> data = view<T>(X, sample_weight);
    Interruptible guard;
    std::vector<long> idx;
    guard.run([&] { idx = kmeans_plusplus<T>(data, k, seed, n_threads, &guard.poll); });
    py::array_t<std::int64_t> out(k);
    for (int j = 0; j < k; ++j) out.mutable_data()[j] = idx[j];
    return out;
}

template <class T>
py::array_t<std::uint64_t> row_hash_t(const py::array& X, int n_threads) {
    const DataView<T> data = view<T>(X, py::none());
    py::array_t<std::uint64_t> out(data.n);
    std::uint64_t* ptr = out.mutable_data();
    Interruptible guard;
    guard.run([&] { row_hashes<T>(data, ptr, n_threads, &guard.poll); });
    return out;
}

template <class T>
py::tuple kmeans_lloyd_t(const py::array& X, const DArray& centres, int max_iter, double tol, int n_threads,
                         const py::object& sample_weight) {
    const DataView<T> data = view<T>(X, sample_weight);
    RowMatD c0 = Eigen::Map<const RowMatD>(centres.data(), centres.shape(0), centres.shape(1));
    Interruptible guard;
    KMeansResult r;
    guard.run([&] { r = kmeans_lloyd<T>(data, c0, max_iter, tol, n_threads, &guard.poll); });
    py::array_t<std::int64_t> labels(data.n);
    std::copy(r.labels.begin(), r.labels.end(), labels.mutable_data());
    DArray c = from_vec(Eigen::Map<const VecD>(r.centres.data(), r.centres.size()),
                        {(py::ssize_t)r.centres.rows(), (py::ssize_t)r.centres.cols()});
    return py::make_tuple(labels, c, r.n_iter);
}

// Sufficient statistics of some rows as Python sees them: the sums (Stats) and the frame
// they were accumulated in, so that merging and the M-step cannot mix frames.
struct GmmStats {
    Stats stats;
    CovType cov = CovType::Full;
    bool float32 = false;  // the rows' type: sets the M-step's rounding thresholds
    VecD centre;           // d: the shift c of the rows
    MatD anchors;          // d x k: where full-covariance scatter is accumulated around
};

DArray matrix_array(const MatD& a) {  // a copy in C order
    DArray out({(py::ssize_t)a.rows(), (py::ssize_t)a.cols()});
    Eigen::Map<RowMatD>(out.mutable_data(), a.rows(), a.cols()) = a;
    return out;
}

MatD array_matrix(const DArray& a, long rows, long cols, const char* name) {
    if (a.ndim() != 2 || a.shape(0) != rows || a.shape(1) != cols)
        throw std::invalid_argument(std::string("Stats state: ") + name + " has the wrong shape");
    return Eigen::Map<const RowMatD>(a.data(), rows, cols);
}

template <class T>
GmmStats e_step_stats_t(const py::array& X, const py::object& sample_weight, const GaussianParams& p,
                        const VecD& centre, EStepOptions o, const py::object& row_class,
                        const py::object& component_class, bool missing) {
    const DataView<T> data = view<T>(X, sample_weight, missing);
    if (data.d != p.d) throw std::invalid_argument("X has the wrong number of features");
    if (centre.size() != p.d) throw std::invalid_argument("centre has the wrong length");
    IArray rc, cc;
    if (!row_class.is_none()) {
        rc = row_class.cast<IArray>();
        cc = component_class.cast<IArray>();
        if (rc.ndim() != 1 || rc.size() != data.n) throw std::invalid_argument("row_class has the wrong length");
        if (cc.ndim() != 1 || cc.size() != p.k) throw std::invalid_argument("component_class has the wrong length");
        o.row_class = rc.data();
        o.component_class = cc.data();
    }
    GmmStats out;
    out.cov = p.cov;
    out.float32 = std::is_same<T, float>::value;
    out.centre = centre;
    out.anchors = shifted_means(p, centre);
    Interruptible guard;
    guard.run([&] { out.stats = e_step_stats<T>(data, p, centre, o, &guard.poll); });
    return out;
}

}  // namespace

void register_array_checks(py::module_& m) {
    m.def(
        "all_finite",
        [](const py::array& a, int n_threads) {
            if (!(a.flags() & py::array::c_style)) throw std::invalid_argument("a must be C-contiguous");
            return with_float_type(a, [&](auto t) {
                using T = decltype(t);
                // everything that touches Python objects happens before the GIL is released
                const long size = (long)a.size();
                const T* data = static_cast<const T*>(a.data());
                py::gil_scoped_release release;
                return all_finite<T>(data, size, n_threads);
            });
        },
        py::arg("a"), py::arg("n_threads") = 0, "True when every value of a float array is finite.");
}

void register_mixture(py::module_& m) {
    m.def(
        "column_mean",
        [](const py::array& X, int n_threads) {
            const VecD c = with_float_type(X, [&](auto t) {
                const auto data = view<decltype(t)>(X, py::none());
                py::gil_scoped_release release;
                return column_mean(data, n_threads);
            });
            return py::array_t<double>((py::ssize_t)c.size(), c.data());
        },
        py::arg("X"), py::arg("n_threads") = 0,
        "Column means of X (n x d), as em_fit centres the data; NaN or infinity in X make them non-finite "
        "(so do sums beyond the float64 range).");
    m.def(
        "em_fit",
        [](const py::array& X, const py::object& sample_weight, const DArray& weights, const DArray& means,
           const py::object& covariances, const DArray& prec_chol, const std::string& cov,
           const std::string& algorithm, double tol, double reg_covar, int max_iter, int n_threads,
           double initial_lower_bound, const py::object& callback, const py::object& row_class,
           const py::object& component_class, bool missing) {
            const GaussianParams init = make_params(weights, means, covariances, prec_chol, cov);
            EMOptions o;
            o.cov = init.cov;
            o.algorithm = parse_algorithm(algorithm);
            o.tol = tol;
            o.reg_covar = reg_covar;
            o.max_iter = max_iter;
            o.n_threads = n_threads;
            o.initial_lower_bound = initial_lower_bound;
            return with_float_type(X, [&](auto t) {
                return em_fit_t<decltype(t)>(X, sample_weight, init, o, callback, row_class, component_class, missing);
            });
        },
        py::arg("X"), py::arg("sample_weight"), py::arg("weights"), py::arg("means"), py::arg("covariances"),
        py::arg("precisions_cholesky"), py::arg("covariance_type"), py::arg("algorithm"), py::arg("tol"),
        py::arg("reg_covar"), py::arg("max_iter"), py::arg("n_threads"), py::arg("initial_lower_bound"),
        py::arg("callback"), py::arg("row_class") = py::none(), py::arg("component_class") = py::none(),
        py::arg("missing") = false,
        "Runs EM from the given parameters until convergence or max_iter. row_class (n, int64; -1 = free) and "
        "component_class (k, int64) clamp labelled rows to their class's components (semi-supervised EM). "
        "missing: NaN entries of X are missing features (marginal E-step, conditional M-step).");

    py::class_<GmmStats>(m, "Stats",
                         "Sufficient statistics of some rows under fixed mixture parameters (from e_step_stats), "
                         "in the frame they were accumulated in: merge them in a fixed order, then m_step.")
        .def_property_readonly("covariance_type", [](const GmmStats& s) { return covariance_type_name(s.cov); })
        .def_property_readonly("float32", [](const GmmStats& s) { return s.float32; })
        .def_property_readonly("N", [](const GmmStats& s) { return from_vec(s.stats.N, {s.stats.N.size()}); },
                               "Sum of responsibilities (times sample weights) per component (k).")
        .def_property_readonly("S1", [](const GmmStats& s) { return matrix_array(s.stats.S1); },
                               "Sum of responsibility times (x - centre), k x d.")
        .def_property_readonly("S2", [](const GmmStats& s) { return matrix_array(s.stats.S2); },
                               "Second moments (layout per covariance type: see gmm/stats.hpp).")
        .def_property_readonly("obj", [](const GmmStats& s) { return s.stats.obj; },
                               "Sum of the rows' weighted objective (log-likelihood, or its hard-EM bound).")
        .def_property_readonly("wsum", [](const GmmStats& s) { return s.stats.wsum; }, "Sum of the rows' weights.")
        .def_property_readonly("centre", [](const GmmStats& s) { return from_vec(s.centre, {s.centre.size()}); })
        .def_property_readonly("lower_bound", [](const GmmStats& s) { return s.stats.obj / s.stats.wsum; },
                               "obj / wsum: em_fit's lower bound for the iteration these rows make.")
        .def(
            "merge",
            [](GmmStats& s, const GmmStats& o) {
                if (o.cov != s.cov || o.float32 != s.float32 || o.stats.S2.rows() != s.stats.S2.rows() ||
                    o.stats.S2.cols() != s.stats.S2.cols() || o.stats.N.size() != s.stats.N.size())
                    throw std::invalid_argument("Stats.merge: statistics of another model shape or dtype");
                if (o.centre != s.centre || o.anchors != s.anchors)
                    throw std::invalid_argument(
                        "Stats.merge: statistics accumulated under other parameters or another centre");
                s.stats.add(o.stats);
            },
            py::arg("other"),
            "Adds other's sums to these (self = self + other: merge in a fixed order for fixed bits).")
        .def(py::pickle(
            [](const GmmStats& s) {
                return py::make_tuple(std::string(covariance_type_name(s.cov)), s.float32, matrix_array(s.stats.N),
                                      matrix_array(s.stats.S1), matrix_array(s.stats.S2), s.stats.obj, s.stats.wsum,
                                      matrix_array(s.centre), matrix_array(s.anchors));
            },
            [](const py::tuple& t) {
                if (t.size() != 9) throw std::invalid_argument("Stats: bad pickled state");
                GmmStats s;
                s.cov = parse_covariance_type(t[0].cast<std::string>());
                s.float32 = t[1].cast<bool>();
                const DArray N = t[2].cast<DArray>(), S1 = t[3].cast<DArray>(), S2 = t[4].cast<DArray>(),
                             c = t[7].cast<DArray>(), a = t[8].cast<DArray>();
                if (N.ndim() != 2 || S1.ndim() != 2 || c.ndim() != 2)
                    throw std::invalid_argument("Stats: bad pickled state");
                const long k = (long)N.shape(0), d = (long)S1.shape(1);
                s.stats = Stats(s.cov, (int)k, (int)d);
                s.stats.N = array_matrix(N, k, 1, "N");
                s.stats.S1 = array_matrix(S1, k, d, "S1");
                s.stats.S2 = array_matrix(S2, s.stats.S2.rows(), s.stats.S2.cols(), "S2");
                s.stats.obj = t[5].cast<double>();
                s.stats.wsum = t[6].cast<double>();
                s.centre = array_matrix(c, d, 1, "centre");
                s.anchors = array_matrix(a, d, k, "anchors");
                return s;
            }));

    m.def(
        "e_step_stats",
        [](const py::array& X, const py::object& sample_weight, const DArray& weights, const DArray& means,
           const DArray& prec_chol, const std::string& cov, const DArray& centre, const std::string& algorithm,
           int n_threads, bool one_chunk, const py::object& row_class, const py::object& component_class,
           bool missing) {
            const GaussianParams p = make_params(weights, means, py::none(), prec_chol, cov);
            EStepOptions o;
            o.algorithm = parse_algorithm(algorithm);
            o.n_threads = n_threads;
            o.one_chunk = one_chunk;
            const VecD c = to_vec(centre);
            return with_float_type(X, [&](auto t) {
                return e_step_stats_t<decltype(t)>(X, sample_weight, p, c, o, row_class, component_class, missing);
            });
        },
        py::arg("X"), py::arg("sample_weight"), py::arg("weights"), py::arg("means"), py::arg("precisions_cholesky"),
        py::arg("covariance_type"), py::arg("centre"), py::arg("algorithm"), py::arg("n_threads"),
        py::arg("one_chunk") = false, py::arg("row_class") = py::none(), py::arg("component_class") = py::none(),
        py::arg("missing") = false,
        "The E-step statistics of the rows of X under the given parameters, in coordinates x - centre (the "
        "same centre for every chunk of a data set: column_centre of the whole). one_chunk: every row in order "
        "on one thread, as em_fit accumulates each chunk of stats_chunks.");

    m.def(
        "m_step",
        [](const GmmStats& s, const DArray& weights, const DArray& means, const py::object& covariances,
           const DArray& prec_chol, const std::string& algorithm, double reg_covar) {
            const GaussianParams prev =
                make_params(weights, means, covariances, prec_chol, covariance_type_name(s.cov));
            if (prev.k != s.stats.N.size() || prev.d != s.stats.S1.cols())
                throw std::invalid_argument("m_step: parameters of another shape than the statistics");
            if (shifted_means(prev, s.centre) != s.anchors)
                throw std::invalid_argument("m_step: the statistics were accumulated under other parameters");
            const MStepOptions mo{s.cov, parse_algorithm(algorithm), reg_covar,
                                  s.float32 ? (double)std::numeric_limits<float>::epsilon()
                                            : (double)std::numeric_limits<double>::epsilon(),
                                  s.float32};
            std::vector<int> dropped;
            GaussianParams p;
            {
                py::gil_scoped_release release;
                p = m_step(s.stats, s.centre, s.anchors, prev, mo, &dropped);
            }
            py::dict out = params_dict(p);
            out["dropped"] = py::cast(dropped);
            return out;
        },
        py::arg("stats"), py::arg("weights"), py::arg("means"), py::arg("covariances"), py::arg("precisions_cholesky"),
        py::arg("algorithm"), py::arg("reg_covar"),
        "New parameters from statistics accumulated under the given (previous) parameters; 'dropped': hard-EM "
        "components that received no rows (they keep their parameters, with weight 0).");

    m.def(
        "stats_chunks",
        [](long n, const std::string& cov, int k, int d) {
            const RowPartition part = stats_partition(n, parse_covariance_type(cov), k, d);
            py::array_t<std::int64_t> out(part.n_chunks + 1);
            for (long ci = 0; ci <= part.n_chunks; ++ci)
                out.mutable_data()[ci] = std::min(n, part.block_begin(part.chunk_first_block(ci)));
            return out;
        },
        py::arg("n_samples"), py::arg("covariance_type"), py::arg("n_components"), py::arg("n_features"),
        "Row boundaries of the chunks a pass over n_samples rows accumulates separately and adds in order.");

    m.def(
        "column_centre",
        [](const py::array& X, const py::object& sample_weight, bool missing) {
            const VecD c = with_float_type(X, [&](auto t) {
                return column_centre(view<decltype(t)>(X, sample_weight, missing));
            });
            return from_vec(c, {c.size()});
        },
        py::arg("X"), py::arg("sample_weight") = py::none(), py::arg("missing") = false,
        "The shift em_fit centres X on: per column the lower median of up to 4096 evenly spaced rows "
        "(positive weight, not NaN).");

    m.def(
        "params_from_labels",
        [](const py::array& X, const py::object& labels, int k, const std::string& cov, double reg_covar,
           std::uint64_t seed, int n_threads, const py::object& sample_weight) {
            return with_float_type(X, [&](auto t) {
                return params_from_labels_t<decltype(t)>(X, labels, k, cov, reg_covar, seed, n_threads, sample_weight);
            });
        },
        py::arg("X"), py::arg("labels"), py::arg("n_components"), py::arg("covariance_type"), py::arg("reg_covar"),
        py::arg("seed"), py::arg("n_threads"), py::arg("sample_weight") = py::none(),
        "Mixture parameters from hard labels (-1: ignored row), or from random responsibilities when labels is None.");

    m.def(
        "evaluate",
        [](const py::array& X, const DArray& weights, const DArray& means, const DArray& prec_chol,
           const std::string& cov, const std::string& algorithm, bool log_prob, bool resp, bool labels,
           int n_threads, bool missing, bool imputed, bool largest) {
            const GaussianParams p = make_params(weights, means, py::none(), prec_chol, cov);
            const Algorithm alg = parse_algorithm(algorithm);
            return with_float_type(X, [&](auto t) {
                return evaluate_t<decltype(t)>(X, p, alg, log_prob, resp, labels, n_threads, missing, imputed, largest);
            });
        },
        py::arg("X"), py::arg("weights"), py::arg("means"), py::arg("precisions_cholesky"),
        py::arg("covariance_type"), py::arg("algorithm"), py::arg("log_prob"), py::arg("resp"),
        py::arg("labels"), py::arg("n_threads"), py::arg("missing") = false, py::arg("imputed") = false,
        py::arg("largest") = false,
        "Per-row log-likelihood, responsibilities, most probable component, X with its NaN entries "
        "replaced by their conditional expectation and the largest log(w_j p_j(x)), as requested (a 5-tuple, "
        "None for what was not asked; missing: NaN entries are missing features).");

    m.def(
        "kmeans_plusplus",
        [](const py::array& X, int k, std::uint64_t seed, int n_threads, const py::object& sample_weight) {
            return with_float_type(X, [&](auto t) {
                return kmeans_plusplus_t<decltype(t)>(X, k, seed, n_threads, sample_weight);
            });
        },
        py::arg("X"), py::arg("n_clusters"), py::arg("seed"), py::arg("n_threads"), py::arg("sample_weight") = py::none(),
        "Row indices of greedy k-means++ seeds, drawn in an order set by the rows' values (not their positions).");

    m.def(
        "row_hash",
        [](const py::array& X, int n_threads) {
            return with_float_type(X, [&](auto t) { return row_hash_t<decltype(t)>(X, n_threads); });
        },
        py::arg("X"), py::arg("n_threads"),
        "A 64-bit hash of each row's values (-0 as +0): equal rows, equal hashes.");

    m.def(
        "kmeans_lloyd",
        [](const py::array& X, const DArray& centres, int max_iter, double tol, int n_threads,
           const py::object& sample_weight) {
            return with_float_type(X, [&](auto t) {
                return kmeans_lloyd_t<decltype(t)>(X, centres, max_iter, tol, n_threads, sample_weight);
            });
        },
        py::arg("X"), py::arg("centres"), py::arg("max_iter"), py::arg("tol"), py::arg("n_threads"),
        py::arg("sample_weight") = py::none(),
        "Lloyd's k-means from the given centres: (labels, centres, n_iter).");
}
