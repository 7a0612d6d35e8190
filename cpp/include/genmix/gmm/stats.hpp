// Sufficient statistics, where a pass gets responsibilities from, and the pieces of block
// accumulation every covariance family shares (responsibilities, sparse selection, lazy
// normalisation). The per-family accumulation is in full.hpp, tied.hpp, diag.hpp.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/scratch.hpp"

namespace genmix {

template <class T>
struct LogProbModel;  // family.hpp

// ---------------------------------------------------------------------------------------
// Sufficient statistics

struct Stats {
    VecD N;       // k      sum of responsibilities
    MatD S1;      // k x d  sum of gamma x'
    MatD S2;      // full: d x (k d) sum gamma (x'-a_j)(x'-a_j)^T (lower part);
                  // tied: d x d sum r x' x'^T (lower part); diag/spherical: k x d sum gamma x'^2
    double obj = 0;   // sum of w_i * objective_i
    double wsum = 0;  // sum of w_i

    Stats() = default;
    Stats(CovType cov, int k, int d) {
        N.setZero(k);
        S1.setZero(k, d);
        if (cov == CovType::Full) S2.setZero(d, (long)k * d);
        else if (cov == CovType::Tied) S2.setZero(d, d);
        else S2.setZero(k, d);
    }
    static long values(CovType cov, int k, int d) {
        const long s2 = cov == CovType::Full ? (long)k * d * d : cov == CovType::Tied ? (long)d * d : (long)k * d;
        return k + (long)k * d + s2;
    }
    void add(const Stats& o) {
        N += o.N;
        S1 += o.S1;
        S2 += o.S2;
        obj += o.obj;
        wsum += o.wsum;
    }
};

struct MissingModel;

// Where a pass gets each row's responsibilities from.
template <class T>
struct RespSource {
    const LogProbModel<T>* model = nullptr;  // E-step under this model ...
    const MissingModel* missing = nullptr;   // (and its parts for rows with gaps)
    Algorithm algorithm = Algorithm::Soft;
    // Semi-supervised clamping of the model's E-step: row_class[i] >= 0 restricts row i to
    // the components j with component_class[j] == row_class[i] (the others get log p = -inf
    // before normalisation); -1 leaves the row free. Both null: no clamping.
    const std::int64_t* row_class = nullptr;
    const std::int64_t* component_class = nullptr;
    const std::int64_t* labels = nullptr;    // ... or fixed labels (-1: row contributes nothing)
    bool random = false;                     // ... or uniform random, normalised per row
    std::uint64_t seed = 0;
};

// Turns logp (B x k) into responsibilities in place and writes each row's objective:
// soft: log sum_k exp(logp), hard: max_k logp with a one-hot responsibility. With
// `row_sum` (soft only) the exps are left unnormalised and each row's sum goes there.
template <class T>
void responsibilities_from_logp(MatT<T>& logp, Algorithm alg, ArrD& obj, ArrT<T>* row_sum = nullptr) {
    const long B = logp.rows();
    const int k = (int)logp.cols();
    obj.resize(B);
    if (alg == Algorithm::Soft) {
        ArrT<T> mx(B), sum(B);
        row_exps(logp.data(), B, B, k, mx.data(), sum.data());
        if (row_sum) {
            *row_sum = sum;
        } else {
            const ArrT<T> inv = sum.inverse();
            for (int j = 0; j < k; ++j) logp.col(j).array() *= inv;
        }
        sum = sum.log();  // apart from the cast, so that Eigen vectorises the log (float too)
        obj = (mx + sum).template cast<double>();
    } else {
        for (long i = 0; i < B; ++i) {
            int best = 0;
            T bv = logp(i, 0);
            for (int j = 1; j < k; ++j)
                if (logp(i, j) > bv) { bv = logp(i, j); best = j; }
            obj[i] = (double)bv;
            for (int j = 0; j < k; ++j) logp(i, j) = T(j == best);
        }
    }
}

// Kernels of the sparse selection (collect_kept), on simd.hpp's vectors.

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

// Sparse responsibilities. On well separated data most of a row's responsibilities are
// astronomically small, and the M-step sums can skip them: an entry g_ij = w_i r_ij (w_i the
// row's sample weight, 1 without weights, r_ij its responsibility) with g_ij <= tau * w_i
// is dropped from N_j, S1_j and S2_j alike, so the statistics stay those of one consistent
// responsibility matrix (covariances stay positive semi-definite).
//
// Why the result is unchanged at working precision: what component j loses is at most
// D_j <= tau * W, W = sum_i w_i (n without weights). The M-step divides by
// Neff_j = N_j + 10 eps >= 10 eps (see m_step), so every statistic divided by Neff_j
// (weight, mean, covariance) moves by at most D_j / Neff_j <= tau W / (10 eps) relative to
// the data's scale, which is below the eps / 2 of one rounding for W <= 5 eps^2 / tau:
//   double: tau = 1e-40, 5 eps^2 = 2.5e-31, so W up to 2.5e9 rows (or total weight);
//   float:  tau = 1e-25, 5 eps^2 = 7.1e-14, so W up to 7.1e11.
// (For comparison, the dense path's own per-block sums round at about B eps relative.)
// Exact zeros (underflowed exp, hard EM, rows of weight 0) are always skipped: g > tau w_i
// keeps an entry. A block uses the sparse path only when at most a quarter of its entries
// are kept, so on overlapping components the dense GEMM path runs as before; the choice
// depends on the data alone, never on the thread count, so the bits do not either.
template <class T>
constexpr T sparse_resp_tau() {
    return std::is_same<T, float>::value ? T(1e-25) : T(1e-40);
}

// The block's kept entries (see sparse_resp_tau): per component j, kept[j] rows, listed in
// rows[j B ...] in increasing order; thr gets each row's threshold tau * w_i. Returns the
// total, or some number above `limit` as soon as the block is found dense (then the lists
// are partial). The test is the same for g with each row scaled by a positive factor, so
// g may be a row-scaled copy; `rowsum` (optional): its row sums, when already known.
template <class T>
long collect_kept(const MatT<T>& g, ArrT<T>& thr, std::vector<int>& kept, std::vector<int>& rows, long limit,
                  const T* rowsum = nullptr) {
    const long B = g.rows();
    const int k = (int)g.cols();
    kept.resize(k);
    rows.resize((size_t)k * B + kSelectSlack);  // select_above may write past its count
    thr.resize(B);
    // a look at the first rows first: on overlapping components the block is dense, and
    // this decides it for an eighth of the full count (a pure function of the block's data)
    constexpr long probe = 32;
    if (B >= 4 * probe) {
        if (rowsum) std::copy(rowsum, rowsum + probe, thr.data());
        else row_sums(g.data(), probe, B, k, thr.data());
        thr.head(probe) *= sparse_resp_tau<T>();
        long seen = 0;
        for (int j = 0; j < k; ++j) seen += select_above(g.col(j).data(), thr.data(), probe, rows.data());
        if (seen * 2 > probe * k) return limit + 1;
    }
    if (rowsum) std::copy(rowsum, rowsum + B, thr.data());
    else row_sums(g.data(), B, B, k, thr.data());
    thr *= sparse_resp_tau<T>();
    long total = 0;
    for (int j = 0; j < k && total <= limit; ++j)
        total += kept[j] = select_above(g.col(j).data(), thr.data(), B, rows.data() + (long)j * B);
    return total;
}

// Lazy normalisation (stats_pass, soft EM on complete rows): sc.logp holds unnormalised
// exps, each row still to be multiplied by sc.scale (sc.rowsum its sums). A sparse block
// scales only the entries it keeps (s.kept, s.kept_rows from collect_kept) ...
template <class T>
void normalise_kept(Scratch<T>& sc, const Scratch<T>& s) {
    MatT<T>& g = sc.logp;
    const long B = g.rows();
    const int k = (int)g.cols();
    for (int j = 0; j < k; ++j) {
        const int* rows = s.kept_rows.data() + (long)j * B;
        T* gj = g.col(j).data();
        for (int q = 0; q < s.kept[j]; ++q) gj[rows[q]] *= sc.scale[rows[q]];
    }
}

// ... a dense block every one.
template <class T>
void normalise_all(Scratch<T>& sc) {
    MatT<T>& g = sc.logp;
    const int k = (int)g.cols();
    for (int j = 0; j < k; ++j) g.col(j).array() *= sc.scale;
}

}  // namespace genmix
