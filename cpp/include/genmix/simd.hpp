// The one source of SIMD vector width for genmix's own kernels (GMM E/M-steps, the MLP's
// packed products), and the few vector operations they need beyond + - * on GCC/Clang
// vector types.
//
// The width is a build setting, not a property of the machine the build runs on:
// GENMIX_VECTOR_BYTES (16, 32 or 64) defaults to the widest registers of the target
// instruction set (SSE: 16, AVX/AVX2: 32, AVX-512: 64) but can be set to any of the three on
// any target, where the compiler lowers the wider vectors to several narrower instructions.
// That is how the tests run the 64-byte (AVX-512) tiles on a machine without AVX-512.
// Every tile, panel and block size derives from Simd<T>::lanes; buffers are sized from the
// same constants the loops use, and static_asserts tie block sizes to the tiles they feed.
//
// Eigen's own packets (inside Eigen's algorithms: Cholesky, small products) follow the
// instruction set and size their own buffers; no genmix kernel uses them.
//
// Arithmetic: a * b + c on vectors and madd() on scalars are fused multiply-adds exactly
// when the target has FMA (the build sets -ffp-contract=fast), so a kernel's vector body and
// its scalar tail round alike. Results may therefore differ in the last bits between
// instruction sets (FMA or not, and sums split over a different number of lanes), never
// between thread counts on one machine.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__) || defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef GENMIX_VECTOR_BYTES
#if defined(__AVX512F__)
#define GENMIX_VECTOR_BYTES 64
#elif defined(__AVX__)
#define GENMIX_VECTOR_BYTES 32
#else
#define GENMIX_VECTOR_BYTES 16
#endif
#endif

namespace genmix {

constexpr int kVectorBytes = GENMIX_VECTOR_BYTES;
static_assert(kVectorBytes == 16 || kVectorBytes == 32 || kVectorBytes == 64,
              "GENMIX_VECTOR_BYTES must be 16, 32 or 64");

// Bytes of the target's widest vector registers (0: none known): a kernel vector wider than
// this lives in several registers or in memory.
#if defined(__AVX512F__)
constexpr int kRegisterBytes = 64;
#elif defined(__AVX__)
constexpr int kRegisterBytes = 32;
#elif defined(__SSE2__)
constexpr int kRegisterBytes = 16;
#else
constexpr int kRegisterBytes = 0;
#endif

#if defined(__FMA__) || defined(__aarch64__)
constexpr bool kHasFma = true;
#else
constexpr bool kHasFma = false;
#endif

template <class T>
struct SimdInt;
template <>
struct SimdInt<float> {
    using type = std::int32_t;
    using utype = std::uint32_t;
};
template <>
struct SimdInt<double> {
    using type = std::int64_t;
    using utype = std::uint64_t;
};

template <class T>
struct Simd {
    static constexpr int lanes = kVectorBytes / (int)sizeof(T);
    typedef T type __attribute__((vector_size(kVectorBytes)));
    // lane masks of comparisons (-1 where true, 0 where false), and bit patterns
    typedef typename SimdInt<T>::type itype __attribute__((vector_size(kVectorBytes)));
    typedef typename SimdInt<T>::utype utype __attribute__((vector_size(kVectorBytes)));  // bit shifts
};

// a * b + c, fused exactly when the target has FMA (as the vector a * b + c is).
template <class T>
inline T madd(T a, T b, T c) {
    if constexpr (kHasFma) return std::fma(a, b, c);
    else return a * b + c;
}

namespace simd {

template <class T>
inline typename Simd<T>::type load(const T* p) {
    typename Simd<T>::type v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

template <class T, class V>
inline void store(T* p, const V& v) {
    static_assert(sizeof(V) == kVectorBytes, "a whole vector");
    std::memcpy(p, &v, sizeof(v));
}

template <class T>
inline typename Simd<T>::type broadcast(T x) {
    return typename Simd<T>::type{} + x;
}

// Sum of the lanes in a fixed order (pairwise halves), the same for every call.
template <class T>
inline T reduce_add(const typename Simd<T>::type& v) {
    constexpr int L = Simd<T>::lanes;
    T a[L];
    std::memcpy(a, &v, sizeof(a));
    for (int w = L / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) a[l] += a[l + w];
    return a[0];
}

// Bit l set where lane l of the comparison mask m is true.
template <class M>
inline unsigned mask_bits(const M& m) {
    constexpr int L = sizeof(M) / sizeof(m[0]);
#if defined(__AVX512F__)
    if constexpr (sizeof(M) == 64 && L == 16) return (unsigned)_mm512_test_epi32_mask((__m512i)m, (__m512i)m);
    if constexpr (sizeof(M) == 64 && L == 8) return (unsigned)_mm512_test_epi64_mask((__m512i)m, (__m512i)m);
#endif
#if defined(__AVX__)
    if constexpr (sizeof(M) == 32 && L == 8) return (unsigned)_mm256_movemask_ps((__m256)m);
    if constexpr (sizeof(M) == 32 && L == 4) return (unsigned)_mm256_movemask_pd((__m256d)m);
#endif
#if defined(__SSE2__)
    if constexpr (sizeof(M) == 16 && L == 4) return (unsigned)_mm_movemask_ps((__m128)m);
    if constexpr (sizeof(M) == 16 && L == 2) return (unsigned)_mm_movemask_pd((__m128d)m);
#endif
    unsigned bits = 0;
    for (int l = 0; l < L; ++l) bits |= (unsigned)(m[l] != 0) << l;
    return bits;
}

// Keeps v in a register: GCC otherwise folds the loads of a vector used by several FMAs
// into each of them (a memory operand per FMA), and the loads, not the FMAs, then bound the
// loop. Only where a vector fits one register of the target.
template <class V>
inline void keep_in_register(V& v) {
#if defined(__GNUC__) || defined(__clang__)
    if constexpr (sizeof(V) <= kRegisterBytes && kRegisterBytes >= 32) {
#if defined(__AVX512F__)
        asm("" : "+v"(v));
#elif defined(__AVX__)
        asm("" : "+x"(v));
#endif
    }
#endif
    (void)v;
}

}  // namespace simd
}  // namespace genmix
