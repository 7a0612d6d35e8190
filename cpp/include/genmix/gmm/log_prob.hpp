// The E-step model: per-row log-densities of every component, in T and shifted coordinates.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/scratch.hpp"

namespace genmix {

// ---------------------------------------------------------------------------------------
// The per-iteration model: what the E-step needs, in T and shifted coordinates.

// The rounding error (nats) of a log-density term above which the diag/spherical kernel
// computes a component directly rather than in its expanded form (see LogProbModel).
constexpr double kDirectFormError = 1e-4;

template <class T>
struct LogProbModel {
    CovType cov;
    int k, d;
    int dp;        // full: d rounded up to whole SIMD vectors
    ArrT<T> Upad;  // full: k blocks of d x dp, row-major U_j zero padded
    ArrT<T> Mpad;  // full: k blocks of dp, (mu_j - c) U_j zero padded
    MatT<T> U;     // tied: d x d
    MatT<T> M;     // tied: d x k, column j = ((mu_j - c) U)^T
    ArrT<T> Wp;    // diag, spherical: (2d+1) x k, rows [-P/2 ; (mu - c) P ; bias], in tiles (panel_product)
    ArrT<T> bias;  // k: log w + log det U - d/2 log 2 pi (- (mu-c)^2 P / 2 for diag)
    // diag, spherical: the components whose expanded form cancels too much in T (narrow
    // and far from c), computed directly instead: (j, log w + log det - d/2 log 2 pi), and
    // their (mu - c) and precisions by feature (k x d, rows of the others unused)
    std::vector<std::pair<int, double>> direct;
    ArrT<T> direct_mu, direct_prec;

    LogProbModel(const GaussianParams& p, const VecD& c) : cov(p.cov), k(p.k), d(p.d), bias(p.k) {
        const double half_log2pi_d = 0.5 * d * kLog2Pi;
        const int lanes = Simd<T>::lanes;
        dp = padded_width(d, lanes);
        if (cov == CovType::Full || cov == CovType::Tied) {
            if (cov == CovType::Full) {
                Upad.setZero((long)k * d * dp);
                Mpad.setZero((long)k * dp);
            } else {
                U = Eigen::Map<const RowMatD>(p.prec_chol.data(), d, d).cast<T>();
                M.resize(d, k);
            }
            for (int j = 0; j < k; ++j) {
                const long u = cov == CovType::Full ? j : 0;
                Eigen::Map<const RowMatD> Uj(p.prec_chol.data() + u * d * d, d, d);
                const VecD m = Uj.transpose() * (p.means.row(j).transpose() - c);
                if (cov == CovType::Full) {
                    for (int f = 0; f < d; ++f)
                        for (int g = f; g < d; ++g) Upad[((long)j * d + f) * dp + g] = (T)Uj(f, g);
                    for (int g = 0; g < d; ++g) Mpad[(long)j * dp + g] = (T)m[g];
                } else {
                    M.col(j) = m.cast<T>();
                }
                bias[j] = (T)(std::log(p.weights[j]) + Uj.diagonal().array().log().sum() - half_log2pi_d);
            }
        } else {
            const int K = 2 * d + 1, C = kPanelTileCols;
            Wp.setZero((long)K * ((k + C - 1) / C * C));
            auto W = [&](int f, int j) -> T& { return Wp[((long)(j / C) * K + f) * C + j % C]; };
            for (int j = 0; j < k; ++j) {
                double logdet = 0, quad = 0;
                for (int f = 0; f < d; ++f) {
                    const double pc = cov == CovType::Diag ? p.prec_chol[(long)j * d + f] : p.prec_chol[j];
                    const double prec = pc * pc, mc = p.means(j, f) - c[f];
                    W(f, j) = (T)(-0.5 * prec);
                    W(d + f, j) = (T)(mc * prec);
                    logdet += std::log(pc);
                    quad += mc * mc * prec;
                }
                bias[j] = (T)(std::log(p.weights[j]) + logdet - half_log2pi_d - 0.5 * quad);
                W(2 * d, j) = bias[j];
                // The kernel's terms near this component are about p (mu - c)^2 / 2 each: their
                // rounding in T (eps of that) must stay far below a nat, else direct form.
                if (0.5 * quad * (double)std::numeric_limits<T>::epsilon() > kDirectFormError) {
                    if (direct.empty()) {
                        direct_mu.setZero((long)k * d);
                        direct_prec.setZero((long)k * d);
                    }
                    direct.emplace_back(j, std::log(p.weights[j]) + logdet - half_log2pi_d);
                    for (int f = 0; f < d; ++f) {
                        const double pc = cov == CovType::Diag ? p.prec_chol[(long)j * d + f] : p.prec_chol[j];
                        direct_mu[(long)j * d + f] = (T)(p.means(j, f) - c[f]);
                        direct_prec[(long)j * d + f] = (T)(pc * pc);
                    }
                }
            }
        }
    }

    // logp (B x k) = log w_k + log N(x_i | k) for the block's centred rows, read from the
    // layout load_centred_rows made for this covariance type.
    void log_prob(Scratch<T>& s, long B) const {
        s.logp.resize(B, k);
        if (cov == CovType::Full) {
            to_panels(s, B);
            for (int j = 0; j < k; ++j) log_prob_full_component(s, B, j);
        } else if (cov == CovType::Tied) {
            s.y.resize(B, d);
            if (d <= kSmallD) s.y.noalias() = s.xs.lazyProduct(U);
            else s.y.noalias() = s.xs * U;
            for (int j = 0; j < k; ++j) sq_dist_col(s, j);
        } else {
            panel_product(s.xpan.data(), B, 2 * d + 1, Wp.data(), k, s.logp.data());  // the ones add the bias
            for (const auto& jb : direct) {  // (rare) narrow components far from c: directly
                const int j = jb.first;
                const T* mu = direct_mu.data() + (long)j * d;
                const T* pr = direct_prec.data() + (long)j * d;
                const T b = (T)jb.second;
                for (long i = 0; i < B; ++i) {
                    const T* x = s.xs.data() + i * d;
                    T q = 0;
                    for (int f = 0; f < d; ++f) q += pr[f] * (x[f] - mu[f]) * (x[f] - mu[f]);
                    s.logp(i, j) = b - T(0.5) * q;
                }
            }
        }
    }

    // Full covariance: the block's rows as log_prob_full_component reads them.
    void to_panels(Scratch<T>& s, long B) const {
        if (d <= kSmallD) return;
        constexpr int P = panel_rows<T>();
        s.xt.resize((B + P - 1) / P * P * d);
        rows_to_panels(s.xp.data(), B, d, dp, s.xt.data());
    }

    // Full covariance: column j of logp alone (s.logp already B x k; to_panels done since
    // the rows last changed).
    void log_prob_full_component(Scratch<T>& s, long B, int j) const {
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

private:
    // logp(:, j) = bias_j - |y - M(:, j)|^2 / 2, vectorised along rows
    void sq_dist_col(Scratch<T>& s, int j) const {
        auto out = s.logp.col(j).array();
        out = (s.y.col(0).array() - M(0, j)).square();
        for (int f = 1; f < d; ++f) out += (s.y.col(f).array() - M(f, j)).square();
        out = bias[j] - T(0.5) * out;
    }
};

}  // namespace genmix
