// Small vector kernels of the E- and M-steps.
//
// exp: the E-step's n x k exponentials are a large share of an EM iteration. Cody-Waite
// range reduction and a Taylor polynomial (about 1 ulp for double, 2 ulp for float);
// inputs below the underflow limit give exactly 0. With AVX2+FMA 4 doubles / 8 floats go
// at a time, otherwise the same polynomial runs one value at a time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GENMIX_AVX2_EXP 1
#endif

namespace genmix {

namespace detail {
// exp(v) for one value by the same method as the vector path, so tails match it.
inline double exp_poly(double v) {
    if (v < -708.0) return 0.0;
    const double magic = 6755399441055744.0;  // 2^52 + 2^51: adding it rounds to an integer
    const double t = std::fma(v, 1.4426950408889634, magic);
    const double nf = t - magic;
    double r = std::fma(-nf, 6.93147180369123816490e-01, v);
    r = std::fma(-nf, 1.90821492927058770002e-10, r);
    double p = 1.0 / 6227020800.0;
    const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
                        1.0 / 5040.0,      1.0 / 720.0,      1.0 / 120.0,     1.0 / 24.0,     1.0 / 6.0,
                        0.5,               1.0,              1.0};
    for (double ci : c) p = std::fma(p, r, ci);
    std::int64_t bits;
    static_assert(sizeof(bits) == sizeof(t), "");
    __builtin_memcpy(&bits, &t, 8);
    const std::int64_t scale_bits = (bits + 1023) << 52;  // the low bits of t hold n
    double scale;
    __builtin_memcpy(&scale, &scale_bits, 8);
    return p * scale;
}

inline float exp_poly(float v) {
    if (v < -87.0f) return 0.0f;
    const float magic = 12582912.0f;  // 2^23 + 2^22
    const float t = std::fma(v, 1.44269504f, magic);
    const float nf = t - magic;
    float r = std::fma(-nf, 0.693145752f, v);
    r = std::fma(-nf, 1.42860677e-06f, r);
    float p = 1.0f / 5040.0f;
    const float c[] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
    for (float ci : c) p = std::fma(p, r, ci);
    std::int32_t bits;
    __builtin_memcpy(&bits, &t, 4);
    const std::int32_t scale_bits = (bits + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &scale_bits, 4);
    return p * scale;
}
}  // namespace detail

#ifdef GENMIX_AVX2_EXP
namespace detail {
inline __m256d exp_vec(__m256d v0) {
    const __m256d lo = _mm256_set1_pd(-708.0), magic = _mm256_set1_pd(6755399441055744.0);
    const __m256d under = _mm256_cmp_pd(v0, lo, _CMP_LT_OQ);
    const __m256d v = _mm256_max_pd(v0, lo);
    const __m256d t = _mm256_fmadd_pd(v, _mm256_set1_pd(1.4426950408889634), magic);
    const __m256d nf = _mm256_sub_pd(t, magic);
    __m256d r = _mm256_fnmadd_pd(nf, _mm256_set1_pd(6.93147180369123816490e-01), v);
    r = _mm256_fnmadd_pd(nf, _mm256_set1_pd(1.90821492927058770002e-10), r);
    static const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                               1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,     1.0 / 120.0,
                               1.0 / 24.0,        1.0 / 6.0,        0.5,             1.0,
                               1.0};
    __m256d p = _mm256_set1_pd(1.0 / 6227020800.0);
    for (double ci : c) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(ci));
    const __m256i sb = _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023)), 52);
    return _mm256_blendv_pd(_mm256_mul_pd(p, _mm256_castsi256_pd(sb)), _mm256_setzero_pd(), under);
}

inline __m256 exp_vec(__m256 v0) {
    const __m256 lo = _mm256_set1_ps(-87.0f), magic = _mm256_set1_ps(12582912.0f);
    const __m256 under = _mm256_cmp_ps(v0, lo, _CMP_LT_OQ);
    const __m256 v = _mm256_max_ps(v0, lo);
    const __m256 t = _mm256_fmadd_ps(v, _mm256_set1_ps(1.44269504f), magic);
    const __m256 nf = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0.693145752f), v);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(1.42860677e-06f), r);
    static const float c[] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    for (float ci : c) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ci));
    const __m256i sb = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127)), 23);
    return _mm256_blendv_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(sb)), _mm256_setzero_ps(), under);
}

inline __m256d load_vec(const double* p) { return _mm256_loadu_pd(p); }
inline __m256 load_vec(const float* p) { return _mm256_loadu_ps(p); }
inline void store_vec(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
inline void store_vec(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline __m256d sub_vec(__m256d a, __m256d b) { return _mm256_sub_pd(a, b); }
inline __m256 sub_vec(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
inline __m256d add_vec(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }
inline __m256 add_vec(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
// v where keep, else 0
inline __m256d keep_if(__m256d v, bool keep) {
    return _mm256_and_pd(v, _mm256_castsi256_pd(_mm256_set1_epi64x(-(long long)keep)));
}
inline __m256 keep_if(__m256 v, bool keep) { return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(-(int)keep))); }
inline __m256d set1_vec(double v) { return _mm256_set1_pd(v); }
inline __m256 set1_vec(float v) { return _mm256_set1_ps(v); }
template <class T>
inline auto zero_vec() {
    if constexpr (sizeof(T) == 4) return _mm256_setzero_ps();
    else return _mm256_setzero_pd();
}
inline bool any_ge(__m256d a, __m256d b) { return _mm256_movemask_pd(_mm256_cmp_pd(a, b, _CMP_GE_OQ)) != 0; }
inline bool any_ge(__m256 a, __m256 b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ)) != 0; }
}  // namespace detail
#endif

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
    long i0 = 0;
#ifdef GENMIX_AVX2_EXP
    constexpr long L = 32 / sizeof(T);
    const long nv = n / L;
    i0 = nv * L;
    // the live vectors: offset in g and first row (not off % ld: a division per vector
    // costs more than the exponentials saved); not zero-filled
    std::unique_ptr<long[]> live(new long[(size_t)k * nv]);
    std::unique_ptr<int[]> live_row(new int[(size_t)k * nv]);
    long n_live = 0;
    const auto cut = detail::set1_vec(exp_negligible<T>());
    for (int j = 0; j < k; ++j)
        for (long i = 0; i < i0; i += L) {
            const long off = j * ld + i;
            const auto v = detail::sub_vec(detail::load_vec(g + off), detail::load_vec(mx + i));
            const bool any = detail::any_ge(v, cut);
            detail::store_vec(g + off, detail::keep_if(v, any));
            live[n_live] = off;
            live_row[n_live] = (int)i;
            n_live += any;
        }
    for (long q = 0; q < n_live; ++q) {  // column by column, so each row sums in column order
        const long off = live[q], i = live_row[q];
        const auto e = detail::exp_vec(detail::load_vec(g + off));
        detail::store_vec(g + off, e);
        detail::store_vec(sum + i, detail::add_vec(detail::load_vec(sum + i), e));
    }
#endif
    for (int j = 0; j < k; ++j)
        for (long i = i0; i < n; ++i) {
            T& x = g[j * ld + i];
            x = detail::exp_poly(x - mx[i]);
            sum[i] += x;
        }
}

}  // namespace genmix

namespace genmix {

// Fixed-width SIMD vectors through the GCC/Clang vector extension: 32 bytes (4 doubles,
// 8 floats), lowered to AVX2 where the build allows and to narrower code elsewhere.
template <class T>
struct Simd {
    static constexpr int lanes = 32 / sizeof(T);
    typedef T type __attribute__((vector_size(32)));
};

namespace detail {
template <class T>
inline typename Simd<T>::type load_simd(const T* p) {
    typename Simd<T>::type v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}

// Keeps v in a register: GCC otherwise folds the loads of a vector used by several FMAs
// into each of them (a memory operand per FMA), and the loads, not the FMAs, then bound
// the loop (triangular_quad: twice the loads, 1.3x the time for float at d = 16).
template <class V>
inline void keep_in_register(V& v) {
#if defined(__AVX__) && (defined(__GNUC__) || defined(__clang__))
    asm("" : "+x"(v));
#else
    (void)v;
#endif
}

// The diagonal block of the W columns from j0: row j0 + t of U reaches columns j0 + t on.
template <int t, int W, class T, class V>
inline void panel_diagonal(V (&acc)[2][W], const T* xt, const T* U, int dp, int j0) {
    if constexpr (t < W) {
        constexpr int L = Simd<T>::lanes, P = 2 * L;
        const int f = j0 + t;
        V x0 = load_simd(xt + f * P), x1 = load_simd(xt + f * P + L);
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
        V x0 = load_simd(xt + f * P), x1 = load_simd(xt + f * P + L);
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
    for (int v = 0; v < W; ++v) av[v] = load_simd(a + (v0 + v) * L);
    for (long i = 0; i < B; ++i) {
        const T gi = g[i];
        if (gi == T(0)) continue;  // hard EM: most rows belong elsewhere
        const T* row = xp + i * dp;
        T b[F];
        for (int r = 0; r < F; ++r) b[r] = gi * (row[f + r] - a[f + r]);
        for (int v = 0; v < W; ++v) {
            const V z = load_simd(row + (v0 + v) * L) - av[v];
            for (int r = 0; r < F; ++r) acc[r][v] += z * b[r];
        }
    }
    for (int r = 0; r < F; ++r)
        for (int v = 0; v < W; ++v) {
            T* out = S + (long)(f + r) * dp + (v0 + v) * L;
            const V cur = load_simd(out) + acc[r][v];
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

#ifdef GENMIX_AVX2_EXP
namespace detail {
// For a compare mask m of L lanes: the set lanes' indices, in order, then filler.
template <int L>
struct CompressTable {
    std::uint8_t idx[1 << L][8];
    constexpr CompressTable() : idx() {
        for (int m = 0; m < (1 << L); ++m) {
            int c = 0;
            for (int l = 0; l < L; ++l)
                if (m >> l & 1) idx[m][c++] = (std::uint8_t)l;
        }
    }
};
inline constexpr CompressTable<4> compress4{};
inline constexpr CompressTable<8> compress8{};
}  // namespace detail
#endif

// out[i] = sum_j g[j * ld + i] for i < n: the row sums of a column-major n x k matrix,
// 8 vectors of rows at a time held in registers across the columns.
template <class T>
inline void row_sums(const T* g, long n, long ld, int k, T* out) {
    using V = typename Simd<T>::type;
    constexpr int L = Simd<T>::lanes, NV = 8;
    long i = 0;
    for (; i + NV * L <= n; i += NV * L) {
        V acc[NV];
        for (int v = 0; v < NV; ++v) acc[v] = detail::load_simd(g + i + v * L);
        for (int j = 1; j < k; ++j)
            for (int v = 0; v < NV; ++v) acc[v] += detail::load_simd(g + (long)j * ld + i + v * L);
        __builtin_memcpy(out + i, acc, sizeof(acc));
    }
    for (; i < n; ++i) {
        T t = g[i];
        for (int j = 1; j < k; ++j) t += g[(long)j * ld + i];
        out[i] = t;
    }
}

// Writes to idx the i in [0, n) with g[i] > thr[i], in increasing order; returns how many.
// idx needs room for n + 8 values (the vector path stores whole vectors of indices).
// Branch-free: a compare, a table lookup and one store per vector of rows.
template <class T>
inline int select_above(const T* g, const T* thr, long n, int* idx) {
    int c = 0;
    long i = 0;
#ifdef GENMIX_AVX2_EXP
    constexpr long L = 32 / sizeof(T);
    for (; i + L <= n; i += L) {
        unsigned mask;
        if constexpr (sizeof(T) == 8)
            mask = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd((const double*)g + i),
                                                              _mm256_loadu_pd((const double*)thr + i), _CMP_GT_OQ));
        else
            mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps((const float*)g + i),
                                                              _mm256_loadu_ps((const float*)thr + i), _CMP_GT_OQ));
        const std::uint8_t* lanes = L == 4 ? detail::compress4.idx[mask] : detail::compress8.idx[mask];
        const __m256i v = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)lanes)),
                                           _mm256_set1_epi32((int)i));
        _mm256_storeu_si256((__m256i*)(idx + c), v);
        c += __builtin_popcount(mask);
    }
#endif
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
            const V xv = load_simd(x + v * L);
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
    for (int v = 0; v < W; ++v) av[v] = load_simd(a + (v0 + v) * L);
    for (long i = 0; i < B; ++i) {
        const T* row = xp + (long)rows[i] * dp;
        const T* grow = gz + i * dp + f;
        for (int v = 0; v < W; ++v) {
            const V z = load_simd(row + (v0 + v) * L) - av[v];
            for (int r = 0; r < F; ++r) acc[r][v] += z * grow[r];
        }
    }
    for (int r = 0; r < F; ++r)
        for (int v = 0; v < W; ++v) {
            T* out = S + (long)(f + r) * dp + (v0 + v) * L;
            const V cur = load_simd(out) + acc[r][v];
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
// zero past row B. With AVX2, double rows go 4 x 4 values at a time, transposed in
// registers: one vector store for 4 values where the plain loop makes 4 scalar ones.
template <class T>
void square_panels(const T* xs, long B, int d, T* xpan) {
    constexpr int P = panel_rows<T>();
    const int K = 2 * d + 1;
    const long n_panels = (B + P - 1) / P;
    if (B % P) std::fill(xpan + (n_panels - 1) * K * P, xpan + n_panels * K * P, T(0));
    long i = 0;
#ifdef GENMIX_AVX2_EXP
    if constexpr (sizeof(T) == 8) {
        for (; i + 4 <= B; i += 4) {  // 4 rows, in one panel (P = 8)
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
        V x0 = load_simd(xp + f * P), x1 = load_simd(xp + f * P + L);
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
