// Small vector kernels shared by the mixture E-steps, on simd.hpp's vectors: the exponentials
// of the responsibilities and the row panels the E-step kernels read. (The kernels of one
// covariance family live in its header, gmm/full.hpp and gmm/diag.hpp; the sparse
// selection in gmm/stats.hpp.)
//
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

// The E-step kernels' row panels: two vectors of rows, 16 floats or 8 doubles.
template <class T>
constexpr int panel_rows() {
    return 2 * Simd<T>::lanes;
}

}  // namespace genmix
