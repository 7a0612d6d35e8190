// Small vector kernels of the E- and M-steps, on simd.hpp's vectors.
//
// exp: the E-step's n x k exponentials are a large share of an EM iteration. Cody-Waite
// range reduction and a Taylor polynomial (about 1 ulp for double, 2 ulp for float);
// inputs below the underflow limit give exactly 0. A whole vector goes at a time; the
// scalar tail runs the same operations (madd fuses exactly when the vector code does), so
// tails match the vector lanes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "genmix/simd.hpp"

namespace genmix {

namespace detail {
// The constants of exp for each type: underflow limit, rounding magic (2^52 + 2^51 or
// 2^23 + 2^22: adding it rounds to an integer whose low bits hold n), ln 2 in two parts
// (the high part has trailing zero bits, so n * hi is exact), the exponent bias and the
// Taylor coefficients 1/m! from the highest degree down.
template <class T>
struct ExpConstants;
template <>
struct ExpConstants<double> {
    static constexpr double lo = -708.0, magic = 6755399441055744.0, log2e = 1.4426950408889634;
    static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    static constexpr int mantissa_bits = 52;
    static constexpr std::int64_t bias = 1023;
    static constexpr int degree = 13;
    static constexpr double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                     1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,      1.0 / 720.0,
                                     1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,         0.5,
                                     1.0,                1.0};
};
template <>
struct ExpConstants<float> {
    static constexpr float lo = -87.0f, magic = 12582912.0f, log2e = 1.44269504f;
    static constexpr float ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-06f;
    static constexpr int mantissa_bits = 23;
    static constexpr std::int32_t bias = 127;
    static constexpr int degree = 7;
    static constexpr float c[8] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                   1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
};

// exp(v) for one value, by the same operations as exp_vec.
template <class T>
inline T exp_poly(T v) {
    using C = ExpConstants<T>;
    using U = typename SimdInt<T>::utype;  // unsigned: the shift drops the magic's exponent bits
    if (v < C::lo) return T(0);
    const T t = madd(v, C::log2e, C::magic);
    const T nf = t - C::magic;
    T r = madd(-nf, C::ln2_hi, v);
    r = madd(-nf, C::ln2_lo, r);
    T p = C::c[0];
    for (int m = 1; m <= C::degree; ++m) p = madd(p, r, C::c[m]);
    U bits;
    std::memcpy(&bits, &t, sizeof(bits));
    const U scale_bits = (bits + (U)C::bias) << C::mantissa_bits;
    T scale;
    std::memcpy(&scale, &scale_bits, sizeof(scale));
    return p * scale;
}

// exp of every lane of v (a Simd<T>::type).
template <class T>
inline typename Simd<T>::type exp_vec(typename Simd<T>::type v0) {
    using C = ExpConstants<T>;
    using V = typename Simd<T>::type;
    using I = typename Simd<T>::itype;
    const I under = v0 < C::lo;
    const V v = under ? simd::broadcast<T>(C::lo) : v0;
    const V t = v * C::log2e + C::magic;
    const V nf = t - C::magic;
    V r = v - nf * C::ln2_hi;
    r = r - nf * C::ln2_lo;
    V p = simd::broadcast<T>(C::c[0]);
    for (int m = 1; m <= C::degree; ++m) p = p * r + C::c[m];
    using U = typename Simd<T>::utype;
    const U scale_bits = ((U)t + (typename SimdInt<T>::utype)C::bias) << C::mantissa_bits;
    return under ? V{} : p * (V)scale_bits;
}
}  // namespace detail

// Below this, exp(v) is negligible next to the exp(0) = 1 of a row's maximum: under the
// sparse M-step's tau (sparse_resp_tau: e^-100 = 3.7e-44 < 1e-40 in double, e^-60 =
// 8.7e-27 < 1e-25 in float), so it changes no sum after rounding and no kept statistic.
template <class T>
constexpr T exp_negligible() {
    return sizeof(T) == 4 ? T(-60) : T(-100);
}

// The E-step's log-sum-exp over the rows of g, column-major n x k (columns ld apart):
//   mx[i] = max_j g(i, j),  g(i, j) <- exp(g(i, j) - mx[i]),  sum[i] = sum_j g(i, j)
// (summed in column order). A vector whose every value lies below exp_negligible is stored
// as 0 without evaluating the exponentials: on well separated components that is most of
// them. A first pass shifts every vector and zeroes those, without branches, and lists
// the others; the exponentials then run down the list. (A branch per vector mispredicts on
// the irregular mix and loses the overlap of the independent exponentials, 13 dependent
// FMAs each: the list makes the pass 1.3x faster on the diag benchmark's blocks.)
template <class T>
inline void row_exps(T* g, long n, long ld, int k, T* mx, T* sum) {
    std::copy(g, g + n, mx);
    for (int j = 1; j < k; ++j)
        for (long i = 0; i < n; ++i) mx[i] = std::max(mx[i], g[j * ld + i]);
    std::fill(sum, sum + n, T(0));
    using V = typename Simd<T>::type;
    constexpr long L = Simd<T>::lanes;
    const long nv = n / L;
    const long i0 = nv * L;
    // the live vectors: offset in g and first row (not off % ld: a division per vector
    // costs more than the exponentials saved); not zero-filled
    std::unique_ptr<long[]> live(new long[(size_t)k * nv]);
    std::unique_ptr<int[]> live_row(new int[(size_t)k * nv]);
    long n_live = 0;
    const V cut = simd::broadcast<T>(exp_negligible<T>());
    for (int j = 0; j < k; ++j)
        for (long i = 0; i < i0; i += L) {
            const long off = j * ld + i;
            const V v = simd::load(g + off) - simd::load(mx + i);
            const bool any = simd::mask_bits(v >= cut) != 0;
            simd::store(g + off, any ? v : V{});
            live[n_live] = off;
            live_row[n_live] = (int)i;
            n_live += any;
        }
    for (long q = 0; q < n_live; ++q) {  // column by column, so each row sums in column order
        const long off = live[q], i = live_row[q];
        const V e = detail::exp_vec<T>(simd::load(g + off));
        simd::store(g + off, e);
        simd::store(sum + i, simd::load(sum + i) + e);
    }
    for (int j = 0; j < k; ++j)
        for (long i = i0; i < n; ++i) {
            T& x = g[j * ld + i];
            x = detail::exp_poly(x - mx[i]);
            sum[i] += x;
        }
}

}  // namespace genmix

namespace genmix {

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

// The E-step kernels' row panels: two vectors of rows, 16 floats or 8 doubles.
template <class T>
constexpr int panel_rows() {
    return 2 * Simd<T>::lanes;
}

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
    for (int r = 0; r < F; ++r)
        for (int v = 0; v < W; ++v) {
            T* out = S + (long)(f + r) * dp + (v0 + v) * L;
            const V cur = simd::load(out) + acc[r][v];
            __builtin_memcpy(out, &cur, sizeof(V));
        }
}

template <int F, class T>
inline void scatter_rows(const T* xp, long B, int dp, const T* g, const T* a, int f, T* S) {
    constexpr int L = Simd<T>::lanes, VT = 4;
    const int nv = dp / L;
    int v0 = f / L;  // vectors left of the diagonal block are not needed
    for (; v0 + VT <= nv; v0 += VT) scatter_tile<F, VT>(xp, B, dp, g, a, f, v0, S);
    switch (nv - v0) {
        case 3: scatter_tile<F, 3>(xp, B, dp, g, a, f, v0, S); break;
        case 2: scatter_tile<F, 2>(xp, B, dp, g, a, f, v0, S); break;
        case 1: scatter_tile<F, 1>(xp, B, dp, g, a, f, v0, S); break;
        default: break;
    }
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
}  // namespace genmix

namespace genmix {

#if defined(__AVX2__) && !defined(__AVX512F__)
namespace detail {
// For a compare mask of 8 lanes: the set lanes' indices, in order, then filler.
struct CompressTable {
    std::uint8_t idx[256][8];
    constexpr CompressTable() : idx() {
        for (int m = 0; m < 256; ++m) {
            int c = 0;
            for (int l = 0; l < 8; ++l)
                if (m >> l & 1) idx[m][c++] = (std::uint8_t)l;
        }
    }
};
inline constexpr CompressTable compress8{};
}  // namespace detail
#endif

// Room select_above needs past its count.
constexpr long kSelectSlack = 8;

namespace detail {
// Writes base + l for the set bits l of mask (L lanes), in increasing order, at idx; returns
// how many. May write up to kSelectSlack values past the count (never past idx + L + 7).
template <int L>
inline int compress_indices(unsigned mask, int base, int* idx) {
#if defined(__AVX512F__)
    static_assert(L <= 16, "one 16-lane compress");
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    _mm512_mask_compressstoreu_epi32(idx, (__mmask16)mask, _mm512_add_epi32(lanes, _mm512_set1_epi32(base)));
    return __builtin_popcount(mask);
#elif defined(__AVX2__)
    int c = 0;
    for (int h = 0; h < L; h += 8) {  // 8 lanes at a time: a table lookup and one store
        const unsigned m = (mask >> h) & 0xffu;
        const __m256i v = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)compress8.idx[m])),
                                           _mm256_set1_epi32(base + h));
        _mm256_storeu_si256((__m256i*)(idx + c), v);
        c += __builtin_popcount(m);
    }
    return c;
#else
    int c = 0;
    for (int l = 0; l < L; ++l) {
        idx[c] = base + l;
        c += (mask >> l) & 1u;
    }
    return c;
#endif
}
}  // namespace detail

// out[i] = sum_j g[j * ld + i] for i < n: the row sums of a column-major n x k matrix,
// 8 vectors of rows at a time held in registers across the columns.
template <class T>
inline void row_sums(const T* g, long n, long ld, int k, T* out) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes, NV = 8;
    long i = 0;
    for (; i + NV * L <= n; i += NV * L) {
        V acc[NV];
        for (int v = 0; v < NV; ++v) acc[v] = simd::load(g + i + v * L);
        for (int j = 1; j < k; ++j)
            for (int v = 0; v < NV; ++v) acc[v] += simd::load(g + (long)j * ld + i + v * L);
        __builtin_memcpy(out + i, acc, sizeof(acc));
    }
    for (; i < n; ++i) {
        T t = g[i];
        for (int j = 1; j < k; ++j) t += g[(long)j * ld + i];
        out[i] = t;
    }
}

// Writes to idx the i in [0, n) with g[i] > thr[i], in increasing order; returns how many.
// idx needs room for n + kSelectSlack values (the vector path stores whole vectors of
// indices). Branch-free: a compare and a compress per vector of rows.
template <class T>
inline int select_above(const T* g, const T* thr, long n, int* idx) {
    constexpr int L = Simd<T>::lanes;
    int c = 0;
    long i = 0;
    for (; i + L <= n; i += L)
        c += detail::compress_indices<L>(simd::mask_bits(simd::load(g + i) > simd::load(thr + i)), (int)i, idx + c);
    for (; i < n; ++i) {
        idx[c] = (int)i;
        c += g[i] > thr[i];
    }
    return c;
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
}  // namespace genmix

namespace genmix {
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
    for (int r = 0; r < F; ++r)
        for (int v = 0; v < W; ++v) {
            T* out = S + (long)(f + r) * dp + (v0 + v) * L;
            const V cur = simd::load(out) + acc[r][v];
            __builtin_memcpy(out, &cur, sizeof(V));
        }
}

template <int F, class T>
inline void scatter_rows_pre(const T* xp, const int* rows, const T* gz, long B, int dp, const T* a, int f, T* S) {
    constexpr int L = Simd<T>::lanes, VT = 4;
    const int nv = dp / L;
    int v0 = f / L;
    for (; v0 + VT <= nv; v0 += VT) scatter_tile_pre<F, VT>(xp, rows, gz, B, dp, a, f, v0, S);
    switch (nv - v0) {
        case 3: scatter_tile_pre<F, 3>(xp, rows, gz, B, dp, a, f, v0, S); break;
        case 2: scatter_tile_pre<F, 2>(xp, rows, gz, B, dp, a, f, v0, S); break;
        case 1: scatter_tile_pre<F, 1>(xp, rows, gz, B, dp, a, f, v0, S); break;
        default: break;
    }
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
}  // namespace genmix

namespace genmix {
// The diag/spherical E-step product out = X2 W (out: B x k, column-major, B apart), X2's
// rows [x'^2, x', 1] (K = 2d + 1 values). Unlike a library GEMM nothing is repacked per
// call: load_centred_rows writes X2 in panels of two vectors of rows, W is packed once per
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
}  // namespace genmix
