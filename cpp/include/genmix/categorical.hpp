// Mixtures of independent categorical distributions (latent class models) by EM, with the
// same streaming-statistics pass as the Gaussian mixtures: per chunk, the responsibility-
// weighted category counts; reduced in chunk order, so any thread count gives the same bits.
//
// Data: n x d integer codes, column j in 0..m_j-1. Parameters: weights w (k) and, for every
// (feature j, category c), a row of k probabilities theta[offset_j + c, :] (so that one
// row's log-likelihood is a sum of d contiguous k-vectors).
#pragma once

#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "genmix/em_algorithm.hpp"
#include "genmix/parallel.hpp"

namespace genmix {

struct CategoricalParams {
    Eigen::VectorXd weights;                                                      // (k)
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> theta;  // (sum m_j, k)
};

struct CategoricalData {
    const std::int64_t* X = nullptr;  // n x d, row-major
    long n = 0;
    int d = 0;
    std::vector<long> offsets;  // d + 1: first row of each feature's block in theta
};

struct CategoricalStats {
    Eigen::VectorXd N;  // (k)
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> C;  // (sum m_j, k) weighted counts
    double obj = 0;

    CategoricalStats(long total, int k) : N(Eigen::VectorXd::Zero(k)), C(decltype(C)::Zero(total, k)) {}
    void add(const CategoricalStats& o) {
        N += o.N;
        C += o.C;
        obj += o.obj;
    }
};

// Writes log w_k + sum_j log theta[offset_j + x_j, k] for one row into lp (k).
inline void categorical_row_log_prob(const CategoricalData& data, const Eigen::VectorXd& log_w,
                                     const Eigen::MatrixXd& log_theta_t, long i, Eigen::VectorXd& lp) {
    lp = log_w;
    const std::int64_t* x = data.X + i * data.d;
    for (int j = 0; j < data.d; ++j) lp += log_theta_t.col(data.offsets[j] + x[j]);
}

// Responsibilities of one row in place (soft: posterior, hard: one-hot argmax); returns the
// row's objective (log-likelihood, or complete-data log-likelihood for hard EM).
inline double categorical_responsibilities(Eigen::VectorXd& lp, Algorithm alg) {
    Eigen::Index best;
    const double mx = lp.maxCoeff(&best);
    if (!std::isfinite(mx)) {  // impossible under every component (alpha = 0, unseen category)
        lp.setConstant(1.0 / (double)lp.size());
        return mx;
    }
    if (alg == Algorithm::Hard) {
        lp.setZero();
        lp[best] = 1;
        return mx;
    }
    lp = (lp.array() - mx).exp();
    const double s = lp.sum();
    lp /= s;
    return mx + std::log(s);
}

// log of the parameters, transposed so that one (feature, category) is a contiguous column.
inline Eigen::MatrixXd log_theta_columns(const CategoricalParams& p) { return p.theta.array().log().matrix().transpose(); }

inline CategoricalStats categorical_pass(const CategoricalData& data, const CategoricalParams& p, Algorithm alg,
                                         int n_threads, const PollFn* poll) {
    const int k = (int)p.weights.size();
    const long total = data.offsets.back();
    const Eigen::VectorXd log_w = p.weights.array().log().matrix();
    const Eigen::MatrixXd log_theta_t = log_theta_columns(p);
    const RowPartition part(data.n, 512, 64);
    std::vector<CategoricalStats> chunks(part.n_chunks, CategoricalStats(0, 0));
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        CategoricalStats st(total, k);
        Eigen::VectorXd lp(k);
        const long r0 = part.block_begin(part.chunk_first_block(ci));
        const long r1 = std::min(data.n, part.block_begin(part.chunk_first_block(ci + 1)));
        for (long i = r0; i < r1; ++i) {
            categorical_row_log_prob(data, log_w, log_theta_t, i, lp);
            st.obj += categorical_responsibilities(lp, alg);
            st.N += lp;
            const std::int64_t* x = data.X + i * data.d;
            for (int j = 0; j < data.d; ++j) st.C.row(data.offsets[j] + x[j]) += lp.transpose();
        }
        chunks[ci] = std::move(st);
    }, poll);
    CategoricalStats total_stats = std::move(chunks[0]);
    for (long ci = 1; ci < part.n_chunks; ++ci) total_stats.add(chunks[ci]);
    return total_stats;
}

// alpha * sum log theta: the log of the symmetric Dirichlet(alpha + 1) prior, up to a constant.
inline double categorical_log_prior(const CategoricalParams& p, double alpha) {
    return alpha > 0 ? alpha * p.theta.array().log().sum() : 0.0;
}

// MAP M-step: theta = (C + alpha) / (N_k + alpha m_j) per feature block, w = N / n. A
// component with no mass keeps its previous probabilities (and gets weight 0).
inline CategoricalParams categorical_m_step(const CategoricalStats& st, const CategoricalData& data,
                                            const CategoricalParams& prev, double alpha) {
    const int k = (int)st.N.size();
    CategoricalParams p;
    p.weights = st.N / st.N.sum();
    p.theta.resize(st.C.rows(), k);
    for (int j = 0; j < data.d; ++j) {
        const long a = data.offsets[j], m = data.offsets[j + 1] - a;
        for (int c = 0; c < k; ++c) {
            const double denom = st.C.block(a, c, m, 1).sum() + alpha * m;
            if (denom > 0) p.theta.block(a, c, m, 1) = (st.C.block(a, c, m, 1).array() + alpha) / denom;
            else p.theta.block(a, c, m, 1) = prev.theta.block(a, c, m, 1);
        }
    }
    return p;
}

struct CategoricalResult {
    CategoricalParams params;
    std::vector<double> lower_bounds;
    bool converged = false;
    int n_iter = 0;
};

// EM from `init`; the objective after each iteration is (sum of row objectives + log prior)/n
// at the parameters the iteration started from: the quantity MAP-EM never decreases.
inline CategoricalResult categorical_em(const CategoricalData& data, const CategoricalParams& init, double alpha,
                                        Algorithm alg, double tol, int max_iter, int n_threads,
                                        const PollFn* poll, const std::function<void(int, double)>& on_iter) {
    CategoricalResult r;
    r.params = init;
    double bound = -std::numeric_limits<double>::infinity();
    for (int it = 1; it <= max_iter; ++it) {
        const CategoricalStats st = categorical_pass(data, r.params, alg, n_threads, poll);
        const double prev = bound;
        bound = (st.obj + categorical_log_prior(r.params, alpha)) / (double)data.n;
        r.params = categorical_m_step(st, data, r.params, alpha);
        r.lower_bounds.push_back(bound);
        r.n_iter = it;
        if (on_iter) on_iter(it, bound - prev);
        if (std::abs(bound - prev) < tol) {
            r.converged = true;
            break;
        }
    }
    return r;
}

// Per-row log-likelihood (n), responsibilities (n x k) and most probable component (n);
// any output may be null.
inline void categorical_evaluate(const CategoricalData& data, const CategoricalParams& p, double* log_prob,
                                 double* resp, std::int64_t* labels, int n_threads, const PollFn* poll) {
    const int k = (int)p.weights.size();
    const Eigen::VectorXd log_w = p.weights.array().log().matrix();
    const Eigen::MatrixXd log_theta_t = log_theta_columns(p);
    const RowPartition part(data.n, 512, 64);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        Eigen::VectorXd lp(k);
        const long r0 = part.block_begin(part.chunk_first_block(ci));
        const long r1 = std::min(data.n, part.block_begin(part.chunk_first_block(ci + 1)));
        for (long i = r0; i < r1; ++i) {
            categorical_row_log_prob(data, log_w, log_theta_t, i, lp);
            if (labels) {
                Eigen::Index best;
                lp.maxCoeff(&best);
                labels[i] = (std::int64_t)best;
            }
            const double ll = categorical_responsibilities(lp, Algorithm::Soft);
            if (log_prob) log_prob[i] = ll;
            if (resp) Eigen::Map<Eigen::VectorXd>(resp + i * k, k) = lp;
        }
    }, poll);
}

}  // namespace genmix
