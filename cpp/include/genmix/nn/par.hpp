// How the MLP passes use threads, and why the bits never depend on how many.
//
// Determinism: a batch goes through in super-blocks of kSuperRows samples, in order. The
// products of a super-block are split over threads by rows or columns of their results,
// and gemm.hpp sums every element in one fixed order whatever the split; a gradient keeps
// adding into the same buffer from one super-block to the next, so each of its elements is
// one sum in sample order. Elementwise work computes each element by the same expression
// wherever it falls. Small networks instead take a super-block as two fixed halves, one
// whole pass per thread, and add the halves' gradients in order (for_halves); whether a
// network does is decided by its shape and the super-block's size alone. So any thread
// count gives the same bits.
#pragma once

#include <algorithm>

#include "genmix/nn/gemm.hpp"
#include "genmix/parallel.hpp"

namespace genmix {
namespace nn {

// Threads. A batch is processed in super-blocks of up to kSuperRows samples, one after the
// other; inside a super-block every product of a layer is split over threads by rows or
// columns of its result (gemm.hpp sums each element in one fixed order, so the split never
// changes a bit), and elementwise work is split by columns. Small networks instead run each
// half of a super-block on one thread (for_halves).

// Samples per super-block: the width of every product, and of the tape.
constexpr long kSuperRows = 512;
// Products smaller than this (multiply-adds) run on the calling thread alone.
constexpr double kMinParallelWork = 1 << 16;
// Elementwise passes over fewer values than this run on the calling thread alone (waking
// the other threads costs about as much as they would save).
constexpr double kMinParallelCols = 1 << 18;
// Products whose op(A) has at most this many values are split by columns when they can be.
constexpr double kSmallOperand = 1 << 18;
// Weight gradients of at most this many values, over samples a column-first split left on
// two threads, are summed per half of the samples (see Net::weight_grad).
constexpr double kSmallOutput = 1 << 16;

// Elementwise work over a parameter vector (adding gradients, optimizer updates, norms) goes
// in fixed slices of this many values, spread over threads; the slices, not the threads,
// fix the bits.
constexpr long kElementwiseSlice = 1L << 13;

// The threads of one call and their pack buffers (one per part of a split product).
template <class T>
struct Par {
    int nt;
    gemm::PackBuffers<T>* packs;  // max(nt, 2) of them (nt when in_part)
    bool in_part;                 // the call covers one of a super-block's two halves (for_halves)
};

inline long ceil_div(long a, long b) { return (a + b - 1) / b; }

// Small layers over many samples: the weight gradient is summed per half of the samples
// (see Net::weight_grad), cut after half_cut(B) samples.
inline bool sum_per_half(long no, long ni, long B) {
    return (double)no * (double)B <= kSmallOperand && (double)no * (double)ni <= kSmallOutput &&
           B >= 4 * gemm::kNr;
}
inline long half_cut(long B) { return ceil_div(ceil_div(B, 2), gemm::kNr) * gemm::kNr; }

// dst[e] = ((accumulate ? dst[e] : 0) + P0[e]) + P1[e] for e in lo..hi: two halves' sums
// added in a fixed order.
template <class T>
void add_in_order(const T* P0, const T* P1, long lo, long hi, T* dst, bool accumulate) {
    for (long e = lo; e < hi; ++e) dst[e] = ((accumulate ? dst[e] : T(0)) + P0[e]) + P1[e];
}

// C (m x n, ldc) (+)= op(A) op(B) as gemm::product, split over par's threads; then
// epi(i0, i1, j0, j1) on each part (rows i0..i1, columns j0..j1) by the thread that computed
// it. Row splits fall on multiples of the register tile's height.
template <class T, class Epi>
void par_product(const Par<T>& par, long m, long n, long k, const T* A, long a_rs, long a_cs, const T* B, long b_rs,
                 long b_cs, T* C, long ldc, bool accumulate, Epi&& epi) {
    constexpr long mr = gemm::kMr<T>, nr = gemm::kNr;
    long parts = 1, step = 0;
    bool by_rows = true;
    if (par.nt > 1 && (double)m * (double)n * (double)std::max<long>(k, 1) >= kMinParallelWork) {
        // columns first when op(A) is small (every part packs all of it): a batch's columns then
        // stay with one thread from one layer's product to the next
        const bool cols_first = (double)m * (double)k <= kSmallOperand && n >= 2 * nr * par.nt;
        if (!cols_first && m >= 2 * mr * par.nt) {
            step = ceil_div(ceil_div(m, par.nt), mr) * mr;
            parts = ceil_div(m, step);
        } else if (n >= 2 * nr * par.nt) {
            by_rows = false;
            step = ceil_div(ceil_div(n, par.nt), nr) * nr;
            parts = ceil_div(n, step);
        }
    }
    const bool tiny = m <= gemm::kTinyRows;  // decided on the whole product, never on a part
    if (parts <= 1) {
        gemm::product<T>(m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, par.packs[0], tiny);
        epi(0L, m, 0L, n);
        return;
    }
    parallel_for(parts, par.nt, [&](long t) {
        gemm::PackBuffers<T>& pb = par.packs[t];
        if (by_rows) {
            const long i0 = t * step, i1 = std::min(m, i0 + step);
            gemm::product<T>(i1 - i0, n, k, A + i0 * a_rs, a_rs, a_cs, B, b_rs, b_cs, C + i0, ldc, accumulate, pb,
                             tiny);
            epi(i0, i1, 0L, n);
        } else {
            const long j0 = t * step, j1 = std::min(n, j0 + step);
            gemm::product<T>(m, j1 - j0, k, A, a_rs, a_cs, B + j0 * b_cs, b_rs, b_cs, C + j0 * ldc, ldc, accumulate,
                             pb, tiny);
            epi(0L, m, j0, j1);
        }
    });
}

template <class T>
void par_product(const Par<T>& par, long m, long n, long k, const T* A, long a_rs, long a_cs, const T* B, long b_rs,
                 long b_cs, T* C, long ldc, bool accumulate) {
    par_product(par, m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, [](long, long, long, long) {});
}

// fn(j0, j1) over columns 0..n of a panel with `rows` rows, split over threads when large.
template <class T, class F>
void par_cols(const Par<T>& par, long n, long rows, F&& fn) {
    const long parts = par.nt > 1 && (double)n * (double)rows >= kMinParallelCols ? std::min<long>(par.nt, n) : 1;
    if (parts <= 1) {
        fn(0L, n);
        return;
    }
    parallel_for(parts, par.nt, [&](long t) { fn(t * n / parts, (t + 1) * n / parts); });
}

}  // namespace nn
}  // namespace genmix
