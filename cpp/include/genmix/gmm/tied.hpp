// The tied-covariance family: one precision factor U shared by every component.
//   model:      U (d x d) and the columns (mu_j - c) U, the bias
//   row layout: centred rows, row-major (s.xs)
//   E-step:     y = x' U once per block, then log p = bias_j - |y - (mu_j - c) U|^2 / 2
//   statistics: S1 and one scatter sum_i r_i x'_i x'_i^T (r_i the row's total weight)
//   M-step:     the scatter moved to the means used, regularised, factorised
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/full.hpp"

namespace genmix {

struct TiedFamily {
    static constexpr CovType cov = CovType::Tied;

    // The per-iteration model: what the E-step needs, in T and shifted coordinates.
    template <class T>
    struct Model {
        int k = 0, d = 0;
        MatT<T> U;     // d x d
        MatT<T> M;     // d x k, column j = ((mu_j - c) U)^T
        ArrT<T> bias;  // k: log w + log det U - d/2 log 2 pi

        Model() = default;
        Model(const GaussianParams& p, const VecD& c) : k(p.k), d(p.d), bias(p.k) {
            const double half_log2pi_d = 0.5 * d * kLog2Pi;
            U = Eigen::Map<const RowMatD>(p.prec_chol.data(), d, d).cast<T>();
            M.resize(d, k);
            for (int j = 0; j < k; ++j) {
                const long u = 0;
                Eigen::Map<const RowMatD> Uj(p.prec_chol.data() + u * d * d, d, d);
                const VecD m = Uj.transpose() * (p.means.row(j).transpose() - c);
                M.col(j) = m.cast<T>();
                bias[j] = (T)(std::log(p.weights[j]) + Uj.diagonal().array().log().sum() - half_log2pi_d);
            }
        }

        // logp (B x k) = log w_k + log N(x_i | k) for the block's centred rows (load_rows).
        void log_prob(Scratch<T>& s, long B) const {
            s.logp.resize(B, k);
            s.y.resize(B, d);
            if (d <= kSmallD) s.y.noalias() = s.xs.lazyProduct(U);
            else s.y.noalias() = s.xs * U;
            for (int j = 0; j < k; ++j) sq_dist_col(s, j);
        }

    private:
        // logp(:, j) = bias_j - |y - M(:, j)|^2 / 2, vectorised along rows
        void sq_dist_col(Scratch<T>& s, int j) const {
            auto out = s.logp.col(j).array();
            out = (s.y.col(0).array() - M(0, j)).square();
            for (int f = 1; f < d; ++f) out += (s.y.col(f).array() - M(f, j)).square();
            out = bias[j] - T(0.5) * out;
        }
    };

    // Centres rows [r0, r0 + B) on c into this family's row layout (plain centred rows;
    // k-means reads them too).
    template <class T>
    static void load_rows(const DataView<T>& data, const ArrT<T>& c, long r0, long B, Scratch<T>& s) {
        auto rows = data.rows(r0, B);
        s.xs.resize(B, data.d);
        s.xs = rows.rowwise() - c.matrix().transpose();
    }

    // Adds one block's contribution (responsibilities in sc.logp, centred rows in sc) to st;
    // `anchors` unused (the scatter is around c). `lazy`: see normalise_kept.
    template <class T>
    static void accumulate_block(int d, Scratch<T>& sc, const MatT<T>& /*anchors*/, Scratch<T>& s, Stats& st,
                                 bool lazy = false) {
        MatT<T>& g = sc.logp;
        const long B = g.rows();
        if (lazy) normalise_all(sc);
        const ArrT<T> nk = g.colwise().sum().transpose().array();
        st.N += nk.template cast<double>().matrix();
        if (d <= kSmallD) s.small.noalias() = g.transpose().lazyProduct(sc.xs);
        else s.small.noalias() = g.transpose() * sc.xs;
        st.S1 += s.small.template cast<double>();
        s.w.resize(B, d);
        const ArrT<T> r = g.rowwise().sum().array().sqrt();
        s.w = (sc.xs.array().colwise() * r).matrix();
        add_gram(s.w, s.small, st.S2);
    }

    // The covariance and precision factor of p from the statistics (see m_step).
    static void m_step(const Stats& st, const MatD& mu_s, const VecD& Neff, const MatD& /*anchors*/,
                       const std::vector<bool>& /*keep*/, bool /*has_prev_cov*/, const GaussianParams& /*prev*/,
                       const MStepOptions& o, GaussianParams& p) {
        const int d = p.d;
        MatD S = st.S2.triangularView<Eigen::Lower>();
        S = S.selfadjointView<Eigen::Lower>();
        // exact scatter around the means used: sum_k S2 - S1_k mu_k^T - mu_k S1_k^T + N_k mu_k mu_k^T
        S -= st.S1.transpose() * mu_s + mu_s.transpose() * st.S1 - mu_s.transpose() * st.N.asDiagonal() * mu_s;
        S /= Neff.sum();
        const MatD C = regularised_covariance(S, st.S2.diagonal().maxCoeff() / Neff.sum(), o, -1);
        Eigen::Map<RowMatD>(p.covariances.data(), d, d) = C;
        Eigen::Map<RowMatD>(p.prec_chol.data(), d, d) = precision_cholesky_full(C, -1, o.reg_covar, o.float32);
    }
};

}  // namespace genmix
