// Entry points: column means and centres, the EM loop, initial parameters from labels, evaluation.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/e_step.hpp"

namespace genmix {

// ---------------------------------------------------------------------------------------
// Public entry points

// Column means of the observed entries, for data with gaps (weighted as column_mean).
template <class T>
VecD observed_column_mean(const DataView<T>& data, int n_threads) {
    const int d = data.d;
    const RowPartition part(data.n, 1024, 64);
    std::vector<VecD> sums(part.n_chunks, VecD::Zero(d)), wsums(part.n_chunks, VecD::Zero(d));
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        const long end = std::min(data.n, part.block_begin(part.chunk_first_block(ci + 1)));
        for (long i = part.block_begin(part.chunk_first_block(ci)); i < end; ++i) {
            const double w = data.sample_weight ? (double)data.sample_weight[i] : 1.0;
            for (int f = 0; f < d; ++f) {
                const T x = data.X[i * d + f];
                if (std::isnan(x)) continue;
                sums[ci][f] += w * (double)x;
                wsums[ci][f] += w;
            }
        }
    });
    VecD s = VecD::Zero(d), ws = VecD::Zero(d);
    for (long ci = 0; ci < part.n_chunks; ++ci) { s += sums[ci]; ws += wsums[ci]; }
    for (int f = 0; f < d; ++f) s[f] = ws[f] > 0 ? s[f] / ws[f] : 0.0;
    return s;
}

// The shift c of the data for a fit: per column, the lower median of the values (observed,
// of rows with positive weight). Any c gives the same model, but every row loses the digits
// below the rounding unit of |x - c|: a median is a value of the data, so the bulk of the
// rows keeps its digits whatever a few far rows do (a mean is pulled far from all rows by
// one outlier at 1e20). On long data the median of kCentreRows evenly spaced rows: it only
// has to be a typical value, and it costs nothing beside a pass over X.
constexpr long kCentreRows = 4096;

template <class T>
VecD column_centre(const DataView<T>& data) {
    const int d = data.d;
    VecD c = VecD::Zero(d);
    const long m = std::min(data.n, kCentreRows);
    std::vector<T> v;  // m * d values at most: no threads needed
    for (int f = 0; f < d; ++f) {
        v.clear();
        auto gather = [&](long count) {
            for (long q = 0; q < count; ++q) {
                const long i = count == data.n ? q : q * data.n / count;
                const T x = data.X[i * d + f];
                if (std::isnan(x) || (data.sample_weight && !(data.sample_weight[i] > 0))) continue;
                v.push_back(x);
            }
        };
        gather(m);
        if (v.empty() && m < data.n) gather(data.n);  // a sparse column: every row
        if (!v.empty()) {
            auto mid = v.begin() + (long)(v.size() - 1) / 2;
            std::nth_element(v.begin(), mid, v.end());
            c[f] = (double)*mid;
        }
    }
    return c;
}

// The shift c of the data as the kernels use it: they centre the rows in T (x - (T)c) and
// the parameters in double (mu - c), so c must be a value of T, or every float32 distance
// is off by c - (T)c (half an ulp of c: a whole nat near a component of standard deviation
// 1e-3 at 40).
template <class T>
VecD representable_shift(const VecD& c) {
    return c.template cast<T>().template cast<double>();
}

template <class T>
VecD column_mean(const DataView<T>& data, int n_threads) {
    if (data.has_missing) return observed_column_mean(data, n_threads);
    // weighted by sample_weight when given (so weights and repeated rows shift alike)
    const RowPartition part(data.n, 1024, 64);
    std::vector<VecD> sums(part.n_chunks, VecD::Zero(data.d));
    std::vector<double> wsums(part.n_chunks, 0.0);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
            const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
            if (data.sample_weight) {
                const VecD w = Eigen::Map<const ArrT<T>>(data.sample_weight + r0, B).template cast<double>().matrix();
                sums[ci] += data.rows(r0, B).template cast<double>().transpose() * w;
                wsums[ci] += w.sum();
            } else {
                sums[ci] += data.rows(r0, B).template cast<double>().colwise().sum().transpose();
                wsums[ci] += (double)B;
            }
        }
    });
    VecD s = VecD::Zero(data.d);
    double wsum = 0;
    for (long ci = 0; ci < part.n_chunks; ++ci) { s += sums[ci]; wsum += wsums[ci]; }
    return wsum > 0 ? VecD(s / wsum) : VecD::Zero(data.d);
}

template <class T>
bool all_finite(const T* x, long size, int n_threads) {
    const RowPartition part(size, 1 << 16, 256);
    std::vector<char> ok(part.n_chunks, 1);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        const long a = part.block_begin(part.chunk_first_block(ci));
        const long b = std::min(size, part.block_begin(part.chunk_first_block(ci + 1)));
        ok[ci] = Eigen::Map<const ArrT<T>>(x + a, b - a).allFinite();
    });
    for (char v : ok)
        if (!v) return false;
    return true;
}

struct EMOptions {
    CovType cov = CovType::Full;
    Algorithm algorithm = Algorithm::Soft;
    double tol = 1e-3;
    double reg_covar = 1e-6;
    int max_iter = 100;
    int n_threads = 0;
    double initial_lower_bound = -std::numeric_limits<double>::infinity();
    // semi-supervised clamping (see RespSource); null: unsupervised
    const std::int64_t* row_class = nullptr;
    const std::int64_t* component_class = nullptr;
};

struct EMResult {
    GaussianParams params;
    std::vector<double> lower_bounds;
    bool converged = false;
    int n_iter = 0;
    std::vector<int> dropped;  // hard EM: components that became empty
};

// Called after every iteration with (iteration, change of the objective); may throw.
using IterCallback = std::function<void(int, double)>;

template <class T>
EMResult em_fit(const DataView<T>& data, const GaussianParams& init, const EMOptions& o, const PollFn* poll,
                const IterCallback& on_iter) {
    const VecD c = column_centre(data);  // values of the data: representable in T
    const MStepOptions mo{o.cov, o.algorithm, o.reg_covar, (double)std::numeric_limits<T>::epsilon(),
                          std::is_same<T, float>::value};
    EMResult r;
    r.params = init;
    const GapPatterns patterns = gap_patterns_for(data, o.cov, init.k);
    double lower_bound = o.initial_lower_bound;
    std::vector<double> table;  // the missing-data table's memory, reused by every iteration
    EStepOptions eo;
    eo.algorithm = o.algorithm;
    eo.n_threads = o.n_threads;
    eo.row_class = o.row_class;
    eo.component_class = o.component_class;
    for (int it = 1; it <= o.max_iter; ++it) {
        const Stats st = e_step_stats(data, r.params, c, eo, poll, patterns, &table);
        const double prev = lower_bound;
        lower_bound = st.obj / st.wsum;
        r.params = m_step(st, c, shifted_means(r.params, c), r.params, mo, &r.dropped);
        r.lower_bounds.push_back(lower_bound);
        r.n_iter = it;
        const double change = lower_bound - prev;
        if (on_iter) on_iter(it, change);
        if (std::abs(change) < o.tol) {
            r.converged = true;
            break;
        }
    }
    return r;
}

// Initial parameters from fixed responsibilities: labels (-1 = no contribution) or random.
// Two passes: means first, then the scatter around them.
template <class T>
GaussianParams params_from_responsibilities(const DataView<T>& data, int k, CovType cov, double reg_covar,
                                            const std::int64_t* labels, std::uint64_t seed, int n_threads,
                                            const PollFn* poll) {
    const int d = data.d;
    const VecD c = column_centre(data);  // values of the data: representable in T
    RespSource<T> src;
    src.labels = labels;
    src.random = labels == nullptr;
    src.seed = seed;
    const MStepOptions mo{cov, Algorithm::Soft, reg_covar, (double)std::numeric_limits<T>::epsilon(),
                          std::is_same<T, float>::value};
    GaussianParams none;
    MatD anchors = MatD::Zero(d, k);
    GaussianParams p;
    if (cov == CovType::Full) {  // first pass for the means only
        const Stats st0 = stats_pass(data, c, CovType::Diag, k, src, anchors, n_threads, poll);
        for (int j = 0; j < k; ++j) anchors.col(j) = st0.S1.row(j).transpose() / (st0.N[j] + 10 * mo.eps);
    }
    const Stats st = stats_pass(data, c, cov, k, src, anchors, n_threads, poll);
    p = m_step(st, c, anchors, none, mo);
    // sklearn divides the initial N_k by n rather than by their sum; we normalise to sum 1.
    return p;
}

// Per-row outputs under fixed parameters: log p(x) (n), responsibilities (n x k, C order)
// and/or labels (n); any output pointer may be null.
template <class T>
void evaluate(const DataView<T>& data, const GaussianParams& p, Algorithm alg, double* log_prob, T* resp,
              std::int64_t* labels, int n_threads, const PollFn* poll, T* imputed = nullptr,
              double* largest = nullptr) {
    const int k = p.k, d = p.d;
    // A shift that depends on the model only, so a row's result never depends on the batch:
    // per feature the lower median of the means (see column_centre), so that components far
    // from the others do not take the others' digits.
    VecD c(d);
    for (int f = 0; f < d; ++f) {
        std::vector<double> m(k);
        for (int j = 0; j < k; ++j) m[j] = p.means(j, f);
        std::nth_element(m.begin(), m.begin() + (k - 1) / 2, m.end());
        c[f] = m[(k - 1) / 2];
    }
    c = representable_shift<T>(c);
    const LogProbModel<T> model(p, c);
    std::unique_ptr<MissingModel> missing;
    const GapPatterns patterns = gap_patterns_for(data, p.cov, k);
    if (data.has_missing) missing.reset(new MissingModel(p, c, &patterns, n_threads));
    const RowPartition part = make_partition(data.n, 1);
    const int nt = threads_for(part, n_threads);
    std::vector<Scratch<T>> scratch(nt);
    const ArrT<T> cT = c.cast<T>().array();
    with_family(p.cov, [&](auto fam) {  // once per call: no branch on the covariance type per block
        using Family = decltype(fam);
        parallel_for(part.n_chunks, nt, [&](long ci) {
            Scratch<T>& s = scratch[thread_index()];
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                Family::load_rows(data, cT, r0, B, s);
                const bool gaps = data.has_missing && scan_missing(data, r0, B, s, &patterns);
                if (gaps) {
                    fill_gaps(Family(), s, d, [](int) { return T(0); });
                    log_prob_missing(Family(), model, *missing, s, r0, B);
                } else {
                    model.template get<Family>().log_prob(s, B);
                }
                if (labels || largest) {  // largest: the row's largest log(w_j p_j(x)), free beside the argmax
                    for (long i = 0; i < B; ++i) {
                        Eigen::Index best;
                        const T top = s.logp.row(i).maxCoeff(&best);
                        if (labels) labels[r0 + i] = (std::int64_t)best;
                        if (largest) largest[r0 + i] = (double)top;
                    }
                }
                if (log_prob || resp || imputed) {
                    responsibilities_from_logp(s.logp, alg, s.obj);
                    if (log_prob)
                        for (long i = 0; i < B; ++i) log_prob[r0 + i] = s.obj[i];
                    if (resp) Eigen::Map<RowMatT<T>>(resp + r0 * k, B, k) = s.logp;
                }
                if (imputed) {  // E[x_m | x_o] = sum_j r_j E[x_m | x_o, j]
                    Eigen::Map<RowMatT<T>>(imputed + r0 * d, B, d) = data.rows(r0, B);
                    if (gaps)
                        for (int i : s.miss_rows)
                            for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) {
                                double v = 0;
                                for (int j = 0; j < k; ++j) v += (double)s.logp(i, j) * s.cond[(long)e * k + j];
                                imputed[(r0 + i) * d + s.miss_col[e]] = (T)(v + c[s.miss_col[e]]);
                            }
                }
            }
        }, poll);
    });
}

}  // namespace genmix
