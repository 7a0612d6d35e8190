// The M-step: parameters from statistics; the covariances by family (m_step of full.hpp,
// tied.hpp, diag.hpp), the rules they share in covariance.hpp.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/pass.hpp"

namespace genmix {

// ---------------------------------------------------------------------------------------
// M-step: parameters from statistics (double, shifted means in, original means out)

// `prev` holds the current parameters (original coordinates); in hard EM a component that
// received no rows keeps them and gets weight 0 (it is dropped for good).
inline GaussianParams m_step(const Stats& st, const VecD& c, const MatD& anchors, const GaussianParams& prev,
                             const MStepOptions& o, std::vector<int>* dropped = nullptr) {
    const int k = (int)st.N.size(), d = (int)st.S1.cols();
    GaussianParams p;
    p.cov = o.cov;
    p.k = k;
    p.d = d;
    const VecD Neff = st.N.array() + 10 * o.eps;
    std::vector<bool> keep(k, false);
    for (int j = 0; j < k; ++j) {
        keep[j] = o.algorithm == Algorithm::Hard && st.N[j] == 0.0 && prev.means.size() > 0;
        if (keep[j] && dropped) dropped->push_back(j);
    }
    p.weights = Neff;
    for (int j = 0; j < k; ++j)
        if (keep[j]) p.weights[j] = 0;
    p.weights /= p.weights.sum();

    MatD mu_s(k, d);  // shifted means
    for (int j = 0; j < k; ++j) mu_s.row(j) = st.S1.row(j) / Neff[j];
    p.means.resize(k, d);
    for (int j = 0; j < k; ++j) p.means.row(j) = keep[j] ? prev.means.row(j) : RowMatD(mu_s.row(j) + c.transpose());

    const long cs = cov_size(o.cov, k, d);
    p.covariances.resize(cs);
    p.prec_chol.resize(cs);
    const bool has_prev_cov = prev.covariances.size() == cs;
    with_family(o.cov, [&](auto fam) {
        decltype(fam)::m_step(st, mu_s, Neff, anchors, keep, has_prev_cov, prev, o, p);
    });
    return p;
}

// Anchors for the full-covariance scatter: the current means, shifted (d x k).
inline MatD shifted_means(const GaussianParams& p, const VecD& c) {
    MatD a(p.d, p.k);
    for (int j = 0; j < p.k; ++j) a.col(j) = p.means.row(j).transpose() - c;
    return a;
}

}  // namespace genmix
