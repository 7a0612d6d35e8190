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

// ---------------------------------------------------------------------------------------
// Kernels of the full family (on simd.hpp's vectors)

namespace detail {
using simd::keep_in_register;

// The diagonal block of the W columns from j0: row j0 + t of U reaches columns j0 + t on.
template <int t, int W, class T, class V>
inline void panel_diagonal(V (&acc)[2][W], const T* xt, const T* U, int dp, int j0) {
    if constexpr (t < W) {
        constexpr int L = Simd<T>::lanes, P = 2 * L;
        const int f = j0 + t;
        V x0 = simd::load(xt + f * P), x1 = simd::load(xt + f * P + L);
        keep_in_register(x0);
        keep_in_register(x1);
        for (int c = t; c < W; ++c) {
            const T u = U[(long)f * dp + j0 + c];
            acc[0][c] += x0 * u;
            acc[1][c] += x1 * u;
        }
        panel_diagonal<t + 1, W>(acc, xt, U, dp, j0);
    }
}

// sq += (x U[:, j] - m_j)^2 for the W columns j from j0, for the two vectors of rows of a
// panel. 2 x W accumulators, two rows of x and a broadcast of U fit the 16 registers.
template <int W, class T, class V>
inline void panel_columns(V (&sq)[2], const T* xt, const T* U, int dp, const T* m, int j0) {
    constexpr int L = Simd<T>::lanes, P = 2 * L;
    V acc[2][W];
    for (int c = 0; c < W; ++c) acc[0][c] = acc[1][c] = V{} - m[j0 + c];
    for (int f = 0; f < j0; ++f) {
        V x0 = simd::load(xt + f * P), x1 = simd::load(xt + f * P + L);
        keep_in_register(x0);
        keep_in_register(x1);
        for (int c = 0; c < W; ++c) {
            const T u = U[(long)f * dp + j0 + c];
            acc[0][c] += x0 * u;
            acc[1][c] += x1 * u;
        }
    }
    panel_diagonal<0, W>(acc, xt, U, dp, j0);
    for (int c = 0; c < W; ++c) {
        sq[0] += acc[0][c] * acc[0][c];
        sq[1] += acc[1][c] * acc[1][c];
    }
}
}  // namespace detail

// Full covariance works on the block's centred rows transposed into panels (panel_rows):
//   xt[(p d + f) P + r] = x(p P + r, f), zero past row B.
// Then y_j = sum_{f <= j} x_f U[f, j] is one FMA of a whole vector of rows per entry of U
// on or above the diagonal: only the d(d+1)/2 useful products, where vectors along U's
// rows waste the lanes below the diagonal (at d = 16: 24 instead of 17 FMAs per float
// row), and the result is a vector of rows, with no horizontal sums.
// xt <- the B rows of xp (row-major, rows dp apart) in panels, as above.
template <class T>
void rows_to_panels(const T* xp, long B, int d, int dp, T* xt) {
    constexpr int P = panel_rows<T>();
    for (long p = 0; p * P < B; ++p) {
        T* out = xt + p * d * P;
        const int rows = (int)std::min<long>(P, B - p * P);
        for (int r = 0; r < rows; ++r) {
            const T* x = xp + (p * P + r) * dp;
            for (int f = 0; f < d; ++f) out[f * P + r] = x[f];
        }
        if (rows < P)
            for (int f = 0; f < d; ++f) std::fill(out + f * P + rows, out + (f + 1) * P, T(0));
    }
}

// The Gaussian quadratic form of the E-step for an upper-triangular precision factor:
//   out[i] = bias - |x_i U - m|^2 / 2
// for the B rows in the panels xt (rows_to_panels). `U` is d x dp row-major, of which
// only the entries on or above the diagonal are read; `m` has d values.
template <class T>
void triangular_quad(const T* xt, long B, int d, int dp, const T* U, const T* m, T bias, T* out) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes, P = 2 * L, W = 4;  // W = 5 and 6 were slower for double
    for (long p = 0; p * P < B; ++p) {
        const T* x = xt + p * d * P;
        V sq[2] = {};
        int j0 = 0;
        for (; j0 + W <= d; j0 += W) detail::panel_columns<W>(sq, x, U, dp, m, j0);
        switch (d - j0) {
            case 3: detail::panel_columns<3>(sq, x, U, dp, m, j0); break;
            case 2: detail::panel_columns<2>(sq, x, U, dp, m, j0); break;
            case 1: detail::panel_columns<1>(sq, x, U, dp, m, j0); break;
            default: break;
        }
        const V r[2] = {bias - T(0.5) * sq[0], bias - T(0.5) * sq[1]};
        if (B - p * P >= P) {
            __builtin_memcpy(out + p * P, r, sizeof(r));
        } else {  // the last rows of the block
            T res[P];
            __builtin_memcpy(res, r, sizeof(r));
            std::copy(res, res + (B - p * P), out + p * P);
        }
    }
}

namespace detail {
// S[f + r, v0 L + ...] += acc[r][v] for F rows of S (row-major, dp apart) and W vectors.
template <int F, int W, class T, class V>
inline void add_tile(const V (&acc)[F][W], int dp, int f, int v0, T* S) {
    constexpr int L = Simd<T>::lanes;
    for (int r = 0; r < F; ++r)
        for (int v = 0; v < W; ++v) {
            T* out = S + (long)(f + r) * dp + (v0 + v) * L;
            const V cur = simd::load(out) + acc[r][v];
            __builtin_memcpy(out, &cur, sizeof(V));
        }
}

// tile(std::integral_constant<int, W>, v0) over the vectors of columns of a dp-wide row from
// f's diagonal block on (those left of it are not needed): tiles of 4 vectors, then the rest.
template <class T, class Tile>
inline void for_column_tiles(int dp, int f, Tile&& tile) {
    constexpr int L = Simd<T>::lanes, VT = 4;
    const int nv = dp / L;
    int v0 = f / L;
    for (; v0 + VT <= nv; v0 += VT) tile(std::integral_constant<int, VT>(), v0);
    switch (nv - v0) {
        case 3: tile(std::integral_constant<int, 3>(), v0); break;
        case 2: tile(std::integral_constant<int, 2>(), v0); break;
        case 1: tile(std::integral_constant<int, 1>(), v0); break;
        default: break;
    }
}

// S[f + r, tile] += sum_i g_i (x_i[f + r] - a[f + r]) (x_i[tile] - a[tile]) for F rows of S
// from f and a tile of W vectors from v0. x - a is formed on the fly: the B x dp block
// stays in L1, where a precomputed copy would not.
template <int F, int W, class T>
inline void scatter_tile(const T* xp, long B, int dp, const T* g, const T* a, int f, int v0, T* S) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes;
    V acc[F][W] = {};
    V av[W];
    for (int v = 0; v < W; ++v) av[v] = simd::load(a + (v0 + v) * L);
    for (long i = 0; i < B; ++i) {
        const T gi = g[i];
        if (gi == T(0)) continue;  // hard EM: most rows belong elsewhere
        const T* row = xp + i * dp;
        T b[F];
        for (int r = 0; r < F; ++r) b[r] = gi * (row[f + r] - a[f + r]);
        for (int v = 0; v < W; ++v) {
            const V z = simd::load(row + (v0 + v) * L) - av[v];
            for (int r = 0; r < F; ++r) acc[r][v] += z * b[r];
        }
    }
    add_tile<F, W>(acc, dp, f, v0, S);
}

template <int F, class T>
inline void scatter_rows(const T* xp, long B, int dp, const T* g, const T* a, int f, T* S) {
    for_column_tiles<T>(dp, f, [&](auto w, int v0) { scatter_tile<F, decltype(w)::value>(xp, B, dp, g, a, f, v0, S); });
}
}  // namespace detail

// Weighted scatter around an anchor, upper part: for every row f of S (d x dp, row-major)
// and every vector of columns from f's diagonal block on,
//   S[f, g] += sum_i g_i (x_i[f] - a[f]) (x_i[g] - a[g]).
// `xp` as for triangular_quad, `a` has dp values (zero padded). Entries with g >= f are
// complete; others may hold partial sums and must be ignored.
template <class T>
void weighted_scatter(const T* xp, long B, int d, int dp, const T* g, const T* a, T* S) {
    int f = 0;
    for (; f + 2 <= d; f += 2) detail::scatter_rows<2>(xp, B, dp, g, a, f, S);
    if (f < d) detail::scatter_rows<1>(xp, B, dp, g, a, f, S);
}

namespace detail {
// As scatter_tile over the rows xp[rows[i]], with the weighted left factor precomputed:
// gz_i = g_i (x_rows[i] - a).
template <int F, int W, class T>
inline void scatter_tile_pre(const T* xp, const int* rows, const T* gz, long B, int dp, const T* a, int f, int v0, T* S) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes;
    V acc[F][W] = {};
    V av[W];
    for (int v = 0; v < W; ++v) av[v] = simd::load(a + (v0 + v) * L);
    for (long i = 0; i < B; ++i) {
        const T* row = xp + (long)rows[i] * dp;
        const T* grow = gz + i * dp + f;
        for (int v = 0; v < W; ++v) {
            const V z = simd::load(row + (v0 + v) * L) - av[v];
            for (int r = 0; r < F; ++r) acc[r][v] += z * grow[r];
        }
    }
    add_tile<F, W>(acc, dp, f, v0, S);
}

template <int F, class T>
inline void scatter_rows_pre(const T* xp, const int* rows, const T* gz, long B, int dp, const T* a, int f, T* S) {
    for_column_tiles<T>(dp, f, [&](auto w, int v0) {
        scatter_tile_pre<F, decltype(w)::value>(xp, rows, gz, B, dp, a, f, v0, S);
    });
}
}  // namespace detail

// weighted_scatter over the B rows xp[rows[i]] (rows dp apart), with gz (B x dp, rows
// g_i (x_rows[i] - a), zero padded) given: no scalar work per row and entry, only
// broadcasts of gz. Rows of 2 vectors or fewer take 4 rows of S a
// pass (half the passes over the rows); wider ones 2, which keeps the accumulators in registers.
template <class T>
void weighted_scatter_pre(const T* xp, const int* rows, const T* gz, long B, int d, int dp, const T* a, T* S) {
    int f = 0;
    if (dp / Simd<T>::lanes <= 2)
        for (; f + 4 <= d; f += 4) detail::scatter_rows_pre<4>(xp, rows, gz, B, dp, a, f, S);
    for (; f + 2 <= d; f += 2) detail::scatter_rows_pre<2>(xp, rows, gz, B, dp, a, f, S);
    if (f < d) detail::scatter_rows_pre<1>(xp, rows, gz, B, dp, a, f, S);
}

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
