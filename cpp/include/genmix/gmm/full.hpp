// The full-covariance family: one precision factor U_j per component.
//   model:      U_j zero padded to whole SIMD vectors (d x dp), (mu_j - c) U_j, the bias
//   row layout: d <= kSmallD: centred rows column-major (s.xc); else row-major, zero padded
//               to dp (s.xp), and for the E-step in row panels (s.xt, to_panels)
//   E-step:     log p = bias_j - |x' U_j - (mu_j - c) U_j|^2 / 2, one component at a time
//   statistics: S1 and the scatter around each component's anchor a_j, dense or over the
//               kept rows of a sparse block (see sparse_resp_tau)
//   M-step:     the scatter moved from the anchor to the new mean, regularised, factorised
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/covariance.hpp"

namespace genmix {

template <class T>
Eigen::Map<const RowMatT<T>, 0, Eigen::OuterStride<>> padded_rows(const Scratch<T>& s, long B, int d, int dp) {
    return {s.xp.data(), B, d, Eigen::OuterStride<>(dp)};
}

// S (d x d, lower part) += the scatter weighted_scatter left in sbuf (row-major d x dp upper
// part == column-major dp x d lower part). Only the lower part is read by the M-step, and
// only it is added: the rest holds partial sums.
template <class T>
void add_scatter_lower(const ArrT<T>& sbuf, int d, int dp, double* S) {  // S: column-major, d apart
    for (int f = 0; f < d; ++f)
        for (int h = f; h < d; ++h) S[(long)f * d + h] += (double)sbuf[(long)f * dp + h];
}

struct FullFamily {
    static constexpr CovType cov = CovType::Full;

    // The per-iteration model: what the E-step needs, in T and shifted coordinates.
    template <class T>
    struct Model {
        int k = 0, d = 0;
        int dp = 0;    // d rounded up to whole SIMD vectors
        ArrT<T> Upad;  // k blocks of d x dp, row-major U_j zero padded
        ArrT<T> Mpad;  // k blocks of dp, (mu_j - c) U_j zero padded
        ArrT<T> bias;  // k: log w + log det U - d/2 log 2 pi

        Model() = default;
        Model(const GaussianParams& p, const VecD& c) : k(p.k), d(p.d), bias(p.k) {
            const double half_log2pi_d = 0.5 * d * kLog2Pi;
            const int lanes = Simd<T>::lanes;
            dp = padded_width(d, lanes);
            Upad.setZero((long)k * d * dp);
            Mpad.setZero((long)k * dp);
            for (int j = 0; j < k; ++j) {
                const long u = j;
                Eigen::Map<const RowMatD> Uj(p.prec_chol.data() + u * d * d, d, d);
                const VecD m = Uj.transpose() * (p.means.row(j).transpose() - c);
                for (int f = 0; f < d; ++f)
                    for (int g = f; g < d; ++g) Upad[((long)j * d + f) * dp + g] = (T)Uj(f, g);
                for (int g = 0; g < d; ++g) Mpad[(long)j * dp + g] = (T)m[g];
                bias[j] = (T)(std::log(p.weights[j]) + Uj.diagonal().array().log().sum() - half_log2pi_d);
            }
        }

        // logp (B x k) = log w_k + log N(x_i | k) for the block's centred rows (load_rows).
        void log_prob(Scratch<T>& s, long B) const {
            s.logp.resize(B, k);
            to_panels(s, B);
            for (int j = 0; j < k; ++j) log_prob_component(s, B, j);
        }

        // The block's rows as log_prob_component reads them.
        void to_panels(Scratch<T>& s, long B) const {
            if (d <= kSmallD) return;
            constexpr int P = panel_rows<T>();
            s.xt.resize((B + P - 1) / P * P * d);
            rows_to_panels(s.xp.data(), B, d, dp, s.xt.data());
        }

        // Column j of logp alone (s.logp already B x k; to_panels done since the rows last
        // changed).
        void log_prob_component(Scratch<T>& s, long B, int j) const {
            if (d <= kSmallD) {
                // few features: work down the columns, vectorised along the rows
                const T* Uj = Upad.data() + (long)j * d * dp;
                auto out = s.logp.col(j).array();
                out.setZero();
                for (int g = 0; g < d; ++g) {
                    s.tmp = s.xc.col(0).array() * Uj[g] - Mpad[(long)j * dp + g];
                    for (int f = 1; f <= g; ++f) s.tmp += s.xc.col(f).array() * Uj[(long)f * dp + g];
                    out += s.tmp.square();
                }
                out = bias[j] - T(0.5) * out;
            } else {
                triangular_quad(s.xt.data(), B, d, dp, Upad.data() + (long)j * d * dp, Mpad.data() + (long)j * dp,
                                bias[j], s.logp.data() + (long)j * B);
            }
        }
    };

    // Centres rows [r0, r0 + B) on c into this family's row layout.
    template <class T>
    static void load_rows(const DataView<T>& data, const ArrT<T>& c, long r0, long B, Scratch<T>& s) {
        const int d = data.d;
        auto rows = data.rows(r0, B);
        if (d <= kSmallD) {
            s.xc.resize(B, d);
            s.xc = rows.rowwise() - c.matrix().transpose();
            return;
        }
        const int dp = padded_width(d, Simd<T>::lanes);
        s.xp.resize(B * dp);
        Eigen::Map<RowMatT<T>> xp(s.xp.data(), B, dp);
        xp.leftCols(d) = rows.rowwise() - c.matrix().transpose();
        xp.rightCols(dp - d).setZero();
    }

    // Every row of the block: S2 block j (lower part) += sum_i g_ij (x_i - a_j)(x_i - a_j)^T,
    // down the columns for d <= kSmallD, else by weighted_scatter.
    template <class T>
    static void add_scatter_dense(const Scratch<T>& sc, int d, int j, const MatT<T>& anchors, Scratch<T>& s,
                                  Stats& st) {
        const MatT<T>& g = sc.logp;
        if (d <= kSmallD) {
            s.z = sc.xc.rowwise() - anchors.col(j).head(d).transpose();
            for (int f = 0; f < d; ++f) {
                s.tmp = g.col(j).array() * s.z.col(f).array();
                for (int h = f; h < d; ++h) st.S2(h, (long)j * d + f) += (double)(s.tmp * s.z.col(h).array()).sum();
            }
            return;
        }
        const int dp = (int)anchors.rows();
        s.sbuf.setZero((long)d * dp);
        weighted_scatter(sc.xp.data(), g.rows(), d, dp, g.col(j).data(), anchors.col(j).data(), s.sbuf.data());
        // row-major d x dp upper part == column-major dp x d lower part
        add_scatter_lower(s.sbuf, d, dp, st.S2.data() + (long)j * d * d);
    }

    // d > kSmallD, sparse responsibilities: component j over its kept rows (s.kept,
    // s.kept_rows from collect_kept): N_j and S1_j (as T sums, like the dense path's
    // products), g (x - a_j) into s.w, then the scatter of those rows only.
    template <class T>
    static void add_component_kept(const Scratch<T>& sc, int d, int j, const MatT<T>& anchors, Scratch<T>& s,
                                   Stats& st) {
        const int m = s.kept[j];
        if (m == 0) return;
        const MatT<T>& g = sc.logp;
        const long B = g.rows();
        const int dp = (int)anchors.rows();
        s.w.resize(dp, B);  // column q: g_q (x_q - a_j), zero padded
        s.y.resize(dp, 1);  // sum of g x'
        const int* rows = s.kept_rows.data() + (long)j * B;
        const T* gj = g.col(j).data();
        const T* a = anchors.col(j).data();
        T* s1 = s.y.data();
        std::fill(s1, s1 + dp, T(0));
        T nj = 0;
        for (int q = 0; q < m; ++q) {
            const T* x = sc.xp.data() + (long)rows[q] * dp;
            const T r = gj[rows[q]];
            T* gz = s.w.data() + (long)q * dp;
            nj += r;
            for (int f = 0; f < dp; ++f) {
                s1[f] += r * x[f];
                gz[f] = r * (x[f] - a[f]);
            }
        }
        st.N[j] += (double)nj;
        for (int f = 0; f < d; ++f) st.S1(j, f) += (double)s1[f];
        s.sbuf.setZero((long)d * dp);
        weighted_scatter_pre(sc.xp.data(), rows, s.w.data(), m, d, dp, a, s.sbuf.data());
        add_scatter_lower(s.sbuf, d, dp, st.S2.data() + (long)j * d * d);
    }

    // Adds one block's contribution (responsibilities in sc.logp, centred rows in sc) to st.
    // `anchors` (dp x k, shifted coordinates, zero padded) is the point each scatter matrix
    // is accumulated around. With d > kSmallD, a block with sparse responsibilities skips the
    // negligible entries (see sparse_resp_tau). `lazy`: see normalise_kept.
    template <class T>
    static void accumulate_block(int d, Scratch<T>& sc, const MatT<T>& anchors, Scratch<T>& s, Stats& st,
                                 bool lazy = false) {
        MatT<T>& g = sc.logp;
        const long B = g.rows();
        const int k = (int)g.cols();
        const bool may_skip = d > kSmallD;
        const T* rowsum = lazy ? sc.rowsum.data() : nullptr;
        if (may_skip && collect_kept(g, s.tmp, s.kept, s.kept_rows, B * k / 4, rowsum) <= B * k / 4) {
            if (lazy) normalise_kept(sc, s);
            // per component, over its kept rows only
            for (int j = 0; j < k; ++j) add_component_kept(sc, d, j, anchors, s, st);
            return;
        }
        if (lazy) normalise_all(sc);
        const ArrT<T> nk = g.colwise().sum().transpose().array();
        st.N += nk.template cast<double>().matrix();
        if (d <= kSmallD) {
            s.small.noalias() = g.transpose().lazyProduct(sc.xc);
            st.S1 += s.small.template cast<double>();
            for (int j = 0; j < k; ++j)
                if (nk[j] != T(0)) add_scatter_dense(sc, d, j, anchors, s, st);  // else it adds exactly nothing
            return;
        }
        const int dp = (int)anchors.rows();
        s.small.noalias() = g.transpose() * padded_rows(sc, B, d, dp);
        st.S1 += s.small.template cast<double>();
        for (int j = 0; j < k; ++j)
            if (nk[j] != T(0)) add_scatter_dense(sc, d, j, anchors, s, st);  // else it adds exactly nothing
    }

    // The covariances and precision factors of p from the statistics (see m_step).
    static void m_step(const Stats& st, const MatD& mu_s, const VecD& Neff, const MatD& anchors,
                       const std::vector<bool>& keep, bool has_prev_cov, const GaussianParams& prev,
                       const MStepOptions& o, GaussianParams& p) {
        const int k = p.k, d = p.d;
        for (int j = 0; j < k; ++j) {
            Eigen::Map<RowMatD> C(p.covariances.data() + (long)j * d * d, d, d);
            Eigen::Map<RowMatD> Uo(p.prec_chol.data() + (long)j * d * d, d, d);
            if (keep[j] && has_prev_cov) {
                C = Eigen::Map<const RowMatD>(prev.covariances.data() + (long)j * d * d, d, d);
                Uo = Eigen::Map<const RowMatD>(prev.prec_chol.data() + (long)j * d * d, d, d);
                continue;
            }
            MatD S = st.S2.middleCols((long)j * d, d).triangularView<Eigen::Lower>();
            S = S.selfadjointView<Eigen::Lower>();
            // Scatter around the mean mu = S1 / Neff actually used, from the scatter around
            // the anchor a: S_a - u d^T - d u^T + N d d^T with d = mu - a, u = S1 - N a.
            // (u = N d only when Neff = N; for a nearly empty component N << 10 eps and
            // S_a - N d d^T is not even positive semi-definite.)
            const VecD delta = mu_s.row(j).transpose() - anchors.col(j);
            const VecD u = st.S1.row(j).transpose() - st.N[j] * anchors.col(j);
            S -= u * delta.transpose() + delta * u.transpose() - st.N[j] * delta * delta.transpose();
            S /= Neff[j];
            // the sums came from rows x' - a: their rounding scales with x'^2 ~ mu'^2 too
            const double moments = std::max(st.S2.middleCols((long)j * d, d).diagonal().maxCoeff() / Neff[j],
                                            std::max(mu_s.row(j).squaredNorm(), anchors.col(j).squaredNorm()));
            const MatD Cj = regularised_covariance(S, moments, o, j);
            C = Cj;
            Uo = precision_cholesky_full(Cj, j, o.reg_covar, o.float32);
        }
    }
};

}  // namespace genmix
