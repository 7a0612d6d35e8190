// The diagonal and spherical families: per component a precision for every feature (diag)
// or one for all of them (spherical). The two differ only in how the parameters are read
// and in the M-step's last line; the kernels are shared.
//   model:      W = [-P/2 ; (mu - c) P ; bias] ((2d+1) x k, in tiles for panel_product), and
//               the components computed directly (narrow and far from c)
//   row layout: centred rows, row-major (s.xs), and [x'^2, x', 1] in row panels (s.xpan)
//   E-step:     log p = [x'^2, x', 1] W, one small product per block
//   statistics: per component [sum g x'^2, sum g x', sum g], dense (one product) or over the
//               kept rows of a sparse block (see sparse_resp_tau)
//   M-step:     variances around the means used
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/tied.hpp"

namespace genmix {

// ---------------------------------------------------------------------------------------
// Kernels of the diag and spherical families (on simd.hpp's vectors)

namespace detail {
using simd::keep_in_register;
}  // namespace detail

// The diag/spherical E-step product out = X2 W (out: B x k, column-major, B apart), X2's
// rows [x'^2, x', 1] (K = 2d + 1 values). Unlike a library GEMM nothing is repacked per
// call: load_rows writes X2 in panels of two vectors of rows, W is packed once per
// iteration, and each tile keeps 2 x 6 accumulators in registers (the fastest shape tried
// with AVX2: 3 x 4 and 4 x 3 tiles ran at about half its speed).
//   panels: xpan[(p K + f) P + r] = X2(p P + r, f), P = panel_rows<T>(), zero past row B;
//   tiles:  Wp[(t K + f) C + c] = W(f, t C + c), C = kPanelTileCols, zero past column k.
constexpr int kPanelTileCols = 6;

// xpan <- the panels above of X2 = [x^2, x, 1] for the B rows of xs (row-major, d apart),
// zero past row B. With AVX2, double rows go 4 x 4 values at a time (any vector width), transposed in
// registers: one vector store for 4 values where the plain loop makes 4 scalar ones.
template <class T>
void square_panels(const T* xs, long B, int d, T* xpan) {
    constexpr int P = panel_rows<T>();
    const int K = 2 * d + 1;
    const long n_panels = (B + P - 1) / P;
    if (B % P) std::fill(xpan + (n_panels - 1) * K * P, xpan + n_panels * K * P, T(0));
    long i = 0;
#if defined(__AVX2__)
    if constexpr (sizeof(T) == 8) {
        static_assert(P % 4 == 0, "4 rows in one panel");
        for (; i + 4 <= B; i += 4) {  // 4 rows, in one panel
            double* xp = (double*)xpan + i / P * K * P + i % P;
            const double* x = (const double*)xs + i * d;
            int f = 0;
            for (; f + 4 <= d; f += 4) {
                const __m256d a0 = _mm256_loadu_pd(x + f), a1 = _mm256_loadu_pd(x + d + f);
                const __m256d a2 = _mm256_loadu_pd(x + 2 * d + f), a3 = _mm256_loadu_pd(x + 3 * d + f);
                const __m256d t0 = _mm256_unpacklo_pd(a0, a1), t1 = _mm256_unpackhi_pd(a0, a1);
                const __m256d t2 = _mm256_unpacklo_pd(a2, a3), t3 = _mm256_unpackhi_pd(a2, a3);
                const __m256d col[4] = {_mm256_permute2f128_pd(t0, t2, 0x20), _mm256_permute2f128_pd(t1, t3, 0x20),
                                        _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_permute2f128_pd(t1, t3, 0x31)};
                for (int q = 0; q < 4; ++q) {  // col[q]: feature f + q of the 4 rows
                    _mm256_storeu_pd(xp + (f + q) * P, _mm256_mul_pd(col[q], col[q]));
                    _mm256_storeu_pd(xp + (d + f + q) * P, col[q]);
                }
            }
            for (; f < d; ++f)
                for (int r = 0; r < 4; ++r) {
                    const double v = x[r * d + f];
                    xp[f * P + r] = v * v;
                    xp[(d + f) * P + r] = v;
                }
            _mm256_storeu_pd(xp + 2 * d * P, _mm256_set1_pd(1.0));
        }
    }
#endif
    for (; i < B; ++i) {  // row by row: the reads stream, the panel stays in L1
        T* xp = xpan + i / P * K * P + i % P;
        const T* x = xs + i * d;
        for (int f = 0; f < d; ++f) {
            xp[f * P] = x[f] * x[f];
            xp[(d + f) * P] = x[f];
        }
        xp[2 * d * P] = T(1);
    }
}

namespace detail {
// Columns t C .. t C + NC - 1 of one panel's product, written to out (columns ld apart).
// NC < C for the last tile of a k that is not a multiple of C: only its real columns.
template <int NC, class T>
inline void panel_tile(const T* xp, long rows, int K, const T* w, T* out, long ld) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes, P = 2 * L, C = kPanelTileCols;
    V acc[NC][2] = {};
    for (int f = 0; f < K; ++f) {
        V x0 = simd::load(xp + f * P), x1 = simd::load(xp + f * P + L);
        keep_in_register(x0);
        keep_in_register(x1);
        for (int c = 0; c < NC; ++c) {
            const T wc = w[f * C + c];
            acc[c][0] += x0 * wc;
            acc[c][1] += x1 * wc;
        }
    }
    for (int c = 0; c < NC; ++c) {
        T* o = out + c * ld;
        if (rows == P) {
            __builtin_memcpy(o, &acc[c][0], sizeof(V));
            __builtin_memcpy(o + L, &acc[c][1], sizeof(V));
        } else {
            T tmp[P];
            __builtin_memcpy(tmp, &acc[c][0], sizeof(V));
            __builtin_memcpy(tmp + L, &acc[c][1], sizeof(V));
            std::copy(tmp, tmp + rows, o);
        }
    }
}
}  // namespace detail

template <class T>
void panel_product(const T* xpan, long B, int K, const T* Wp, int k, T* out) {
    constexpr int P = panel_rows<T>(), C = kPanelTileCols;
    for (long i0 = 0; i0 < B; i0 += P) {
        const T* xp = xpan + i0 * K;
        const long rows = std::min<long>(P, B - i0);
        int t = 0;
        for (; (t + 1) * C <= k; ++t) detail::panel_tile<C>(xp, rows, K, Wp + (long)t * K * C, out + (long)t * C * B + i0, B);
        const T* w = Wp + (long)t * K * C;
        T* o = out + (long)t * C * B + i0;
        switch (k - t * C) {
            case 5: detail::panel_tile<5>(xp, rows, K, w, o, B); break;
            case 4: detail::panel_tile<4>(xp, rows, K, w, o, B); break;
            case 3: detail::panel_tile<3>(xp, rows, K, w, o, B); break;
            case 2: detail::panel_tile<2>(xp, rows, K, w, o, B); break;
            case 1: detail::panel_tile<1>(xp, rows, K, w, o, B); break;
            default: break;
        }
    }
}

namespace detail {
// acc2[v] += sum_q g_q x_q[v]^2, acc1[v] += sum_q g_q x_q[v] for W vectors of columns from
// column f0, over the m selected rows (x rows are d apart).
template <int W, class T>
inline void moments_tile(const T* xs, int d, const int* rows, const T* g, int m, int f0, T* a1, T* a2) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes;
    V s1[W] = {}, s2[W] = {};
    for (int q = 0; q < m; ++q) {
        const int i = rows[q];
        const T* x = xs + (long)i * d + f0;
        const T r = g[i];
        for (int v = 0; v < W; ++v) {
            const V xv = simd::load(x + v * L);
            const V t = xv * r;
            s1[v] += t;
            s2[v] += t * xv;
        }
    }
    for (int v = 0; v < W; ++v)
        for (int l = 0; l < L; ++l) {
            a1[f0 + v * L + l] += s1[v][l];
            a2[f0 + v * L + l] += s2[v][l];
        }
}
}  // namespace detail

// First and second moments of the selected rows for one component, added to a1 and a2
// (d values each): a1 += sum_q g[rows[q]] x_rows[q], a2 += sum_q g[rows[q]] x_rows[q]^2,
// with x the row-major centred rows (B x d). The accumulators of a tile stay in registers.
template <class T>
void weighted_moments(const T* xs, int d, const int* rows, const T* g, int m, T* a1, T* a2) {
    constexpr int L = Simd<T>::lanes, VT = 4;
    const int nv = d / L;
    int v0 = 0;
    for (; v0 + VT <= nv; v0 += VT) detail::moments_tile<VT>(xs, d, rows, g, m, v0 * L, a1, a2);
    switch (nv - v0) {
        case 3: detail::moments_tile<3>(xs, d, rows, g, m, v0 * L, a1, a2); break;
        case 2: detail::moments_tile<2>(xs, d, rows, g, m, v0 * L, a1, a2); break;
        case 1: detail::moments_tile<1>(xs, d, rows, g, m, v0 * L, a1, a2); break;
        default: break;
    }
    for (int f = nv * L; f < d; ++f) {
        T s1 = 0, s2 = 0;
        for (int q = 0; q < m; ++q) {
            const T x = xs[(long)rows[q] * d + f], t = g[rows[q]] * x;
            s1 += t;
            s2 += t * x;
        }
        a1[f] += s1;
        a2[f] += s2;
    }
}

// The rounding error (nats) of a log-density term above which the diag/spherical kernel
// computes a component directly rather than in its expanded form (see DiagModel).
constexpr double kDirectFormError = 1e-4;

// The per-iteration model of the diag and spherical families: what the E-step needs, in T
// and shifted coordinates.
template <class T>
struct DiagModel {
    CovType cov = CovType::Diag;
    int k = 0, d = 0;
    ArrT<T> Wp;    // (2d+1) x k, rows [-P/2 ; (mu - c) P ; bias], in tiles (panel_product)
    ArrT<T> bias;  // k: log w + log det U - d/2 log 2 pi - (mu-c)^2 P / 2 (the last for diag)
    // the components whose expanded form cancels too much in T (narrow and far from c),
    // computed directly instead: (j, log w + log det - d/2 log 2 pi), and their (mu - c) and
    // precisions by feature (k x d, rows of the others unused)
    std::vector<std::pair<int, double>> direct;
    ArrT<T> direct_mu, direct_prec;

    DiagModel() = default;
    DiagModel(const GaussianParams& p, const VecD& c) : cov(p.cov), k(p.k), d(p.d), bias(p.k) {
        const double half_log2pi_d = 0.5 * d * kLog2Pi;
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

    // logp (B x k) = log w_k + log N(x_i | k) for the block's centred rows (load_rows).
    void log_prob(Scratch<T>& s, long B) const {
        s.logp.resize(B, k);
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
};

// The column-major [x'^2, x', 1] of the dense M-step sums, from the centred rows.
template <class T>
void square_rows_colmajor(const RowMatT<T>& xs, MatT<T>& xx) {
    const long B = xs.rows(), d = xs.cols();
    xx.resize(B, 2 * d + 1);
    xx.leftCols(d) = xs.array().square().matrix();
    xx.middleCols(d, d) = xs;
    xx.col(2 * d).setOnes();
}

template <CovType Cov>
struct DiagFamilyT {
    static_assert(Cov == CovType::Diag || Cov == CovType::Spherical, "diag or spherical");
    static constexpr CovType cov = Cov;

    template <class T>
    using Model = DiagModel<T>;

    // Centres rows [r0, r0 + B) on c into this family's row layout.
    template <class T>
    static void load_rows(const DataView<T>& data, const ArrT<T>& c, long r0, long B, Scratch<T>& s) {
        const int d = data.d;
        auto rows = data.rows(r0, B);
        s.xs.resize(B, d);
        s.xs = rows.rowwise() - c.matrix().transpose();
        constexpr int P = panel_rows<T>();
        const int K = 2 * d + 1;
        const long n_panels = (B + P - 1) / P;
        s.xpan.resize(n_panels * K * P);
        square_panels(s.xs.data(), B, d, s.xpan.data());
    }

    // Adds one block's contribution (responsibilities in sc.logp, centred rows in sc) to st;
    // `anchors` unused (the sums are around c). A block with sparse responsibilities skips
    // the negligible entries (see sparse_resp_tau). `lazy`: see normalise_kept.
    template <class T>
    static void accumulate_block(int d, Scratch<T>& sc, const MatT<T>& /*anchors*/, Scratch<T>& s, Stats& st,
                                 bool lazy = false) {
        MatT<T>& g = sc.logp;
        const long B = g.rows();
        const int k = (int)g.cols();
        const T* rowsum = lazy ? sc.rowsum.data() : nullptr;
        if (collect_kept(g, s.tmp, s.kept, s.kept_rows, B * k / 4, rowsum) <= B * k / 4) {
            if (lazy) normalise_kept(sc, s);
            s.small.setZero(2L * d + 1, k);  // column j: [sum g x'^2, sum g x', sum g] of component j
            for (int j = 0; j < k; ++j) {
                const int m = s.kept[j];
                if (m == 0) continue;
                const int* rows = s.kept_rows.data() + (long)j * B;
                const T* gj = g.col(j).data();
                T* a2 = s.small.col(j).data();
                weighted_moments(sc.xs.data(), d, rows, gj, m, a2 + d, a2);
                T nj = 0;
                for (int q = 0; q < m; ++q) nj += gj[rows[q]];
                a2[2L * d] = nj;
            }
            st.S2 += s.small.topRows(d).transpose().template cast<double>();
            st.S1 += s.small.middleRows(d, d).transpose().template cast<double>();
            st.N += s.small.row(2L * d).transpose().template cast<double>();
            return;
        }
        if (lazy) normalise_all(sc);
        square_rows_colmajor(sc.xs, s.xx);
        s.small.noalias() = g.transpose() * s.xx;  // k x 2d+1: [sum g x'^2, sum g x', sum g]
        st.S2 += s.small.leftCols(d).template cast<double>();
        st.S1 += s.small.middleCols(d, d).template cast<double>();
        st.N += s.small.col(2L * d).template cast<double>();
    }

    // The variances and precisions of p from the statistics (see m_step).
    static void m_step(const Stats& st, const MatD& mu_s, const VecD& Neff, const MatD& /*anchors*/,
                       const std::vector<bool>& keep, bool has_prev_cov, const GaussianParams& prev,
                       const MStepOptions& o, GaussianParams& p) {
        const int k = p.k, d = p.d;
        for (int j = 0; j < k; ++j) {
            const bool sph = o.cov == CovType::Spherical;
            if (keep[j] && has_prev_cov) {
                if (sph) {
                    p.covariances[j] = prev.covariances[j];
                    p.prec_chol[j] = prev.prec_chol[j];
                } else {
                    for (int f = 0; f < d; ++f) {
                        p.covariances[(long)j * d + f] = prev.covariances[(long)j * d + f];
                        p.prec_chol[(long)j * d + f] = prev.prec_chol[(long)j * d + f];
                    }
                }
                continue;
            }
            // exact scatter around the mean used, (S2 - 2 m S1 + N m^2) / Neff: unlike
            // sklearn's S2 / Neff - m^2 it does not depend on the origin when N << 10 eps.
            // Within rounding of the sums (see regularised_covariance) a variance is zero.
            const ArrD m = mu_s.row(j).transpose().array();
            const ArrD s2 = st.S2.row(j).transpose().array();
            ArrD v = (s2 - 2 * m * st.S1.row(j).transpose().array() + st.N[j] * m.square()) / Neff[j];
            if (!v.allFinite()) throw std::domain_error(not_pd_message(j, o.reg_covar, o.float32));
            v = (v > kRoundingUnits * o.eps * s2 / Neff[j]).select(v, 0.0) + o.reg_covar;
            if (sph) v = ArrD::Constant(1, v.mean());
            for (long f = 0; f < v.size(); ++f) {
                if (!(v[f] > 0) || !std::isfinite(v[f]) || (o.float32 && !((float)v[f] > 0))) throw std::domain_error(not_pd_message(j, o.reg_covar, o.float32));
                const long idx = sph ? j : (long)j * d + f;
                p.covariances[idx] = v[f];
                p.prec_chol[idx] = 1.0 / std::sqrt(v[f]);
            }
        }
    }
};

using DiagFamily = DiagFamilyT<CovType::Diag>;
using SphericalFamily = DiagFamilyT<CovType::Spherical>;

}  // namespace genmix
