// The fixed row partition and the per-thread scratch of a pass.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/types.hpp"

namespace genmix {

// ---------------------------------------------------------------------------------------
// Partition and per-thread scratch

// Rows per block: a block's centred rows and responsibilities stay in L1/L2.
constexpr long kBlockRows = 256;
static_assert(kBlockRows % panel_rows<float>() == 0 && kBlockRows % panel_rows<double>() == 0,
              "a block is whole row panels, for every vector width");

// d rounded up to whole SIMD vectors: the row stride of the full-covariance kernels.
inline int padded_width(int d, int lanes) { return (d + lanes - 1) / lanes * lanes; }

// Below this many features, coefficient-wise products beat GEMM (whose packing dominates).
constexpr int kSmallD = 8;

// w^T w (lower triangle at least) added to the d x d `out`.
template <class T>
void add_gram(const MatT<T>& w, MatT<T>& tmp, Eigen::Ref<MatD> out) {
    const long d = w.cols();
    if (d <= kSmallD) {
        tmp.noalias() = w.transpose().lazyProduct(w);
    } else {
        tmp.setZero(d, d);
        tmp.template selfadjointView<Eigen::Lower>().rankUpdate(w.transpose());
    }
    out += tmp.template cast<double>();
}

// Chunks bound the determinism-preserving per-chunk accumulators to about 32 MB.
inline RowPartition make_partition(long n, long stats_values) {
    const long budget = (32L << 20) / (8 * std::max<long>(1, stats_values));
    return RowPartition(n, kBlockRows, std::max<long>(1, std::min<long>(64, budget)));
}

// Threads worth using: a thread team costs tens of microseconds to wake (far more on a
// loaded machine), so small inputs run on fewer threads. The result never depends on it.
inline int threads_for(const RowPartition& part, int n_threads) {
    constexpr long kMinBlocksPerThread = 4;
    return (int)std::max<long>(1, std::min<long>(resolve_threads(n_threads), part.n_blocks / kMinBlocksPerThread));
}

inline int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

template <class T>
struct Scratch {
    RowMatT<T> xs;  // B x d       centred rows (tied, diag, spherical, k-means)
    ArrT<T> xp;     // B x dp      centred rows, zero padded to whole SIMD vectors (full)
    ArrT<T> xt;     // B x d       the same in row panels, B rounded up (full E-step, rows_to_panels)
    MatT<T> xc;     // B x d       centred rows, column-major (full with d <= kSmallD)
    MatT<T> z;      // B x d       rows minus an anchor (full with d <= kSmallD)
    ArrT<T> tmp;    // B
    ArrT<T> sbuf;   // d x dp      one block's scatter matrix (full)
    ArrT<T> xpan;   // B x 2d+1    [x'^2, x', 1] in row panels (diag, spherical; see panel_product)
    MatT<T> xx;     // B x 2d+1    the same, column-major (diag, spherical: dense M-step)
    MatT<T> y;      // B x d       rows times the tied precision factor
    MatT<T> logp;   // B x k       log w_k + log N(x | k), then responsibilities
    MatT<T> w;      // B x d       weighted centred rows for the scatter matrices
    MatT<T> small;  // small products (k x d, k x 2d, d x d)
    ArrD obj;       // B           per-row objective
    ArrT<T> rowsum, scale;  // B   lazy normalisation (stats_pass): each row's sum of exps, and
                            //     the factor its responsibilities still need (1 / sum, times w_i)
    std::vector<int> kept;       // per component: how many of the block's responsibilities are kept
    std::vector<int> kept_rows;  // k x B: their rows (sparse M-step, see collect_kept)
    // the block's missing entries (scan_missing) and their conditional means
    std::vector<int> miss_start, miss_col, miss_rows;
    std::vector<long> gap_at;  // full: where each missing entry is in the rows the E-step kernel reads
    std::vector<double> cond;  // entries x k: E[x'_f | x_o, component j] for entry (i, f)
    std::vector<double> work;  // small per-row matrices (full: the components side by side)
    std::vector<double> xgap;  // rows with gaps: centred values, zero at the gaps (double)
    std::vector<int> gap_pattern;       // per row with gaps: its pattern (GapPatterns)
    std::vector<double> pattern_tmp;    // a pattern's factors, when the table has none
    std::vector<double> cond_cov;       // full: conditional covariances of the chunk so far
};

}  // namespace genmix
