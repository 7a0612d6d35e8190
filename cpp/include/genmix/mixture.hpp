// Gaussian mixtures by EM: one streaming pass per iteration over a fixed partition of the
// rows, accumulating sufficient statistics per chunk (ARCHITECTURE.md, core idea 1).
//
// Coordinates: every pass works on x' = x - c, where c is the column mean of X computed
// once per fit. Second moments are accumulated around the current means (full) or around c
// (tied, diag, spherical), which keeps digits on data far from the origin.
//
// Parameters cross the API in double, in NumPy's C layout and in the original coordinates;
// the heavy kernels run in the data's own type T (float or double), and per-block results
// are added into double accumulators.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "genmix/parallel.hpp"
#include "genmix/rng.hpp"
#include "genmix/vmath.hpp"

namespace genmix {

enum class CovType { Full, Tied, Diag, Spherical };
enum class Algorithm { Soft, Hard };

template <class T>
using MatT = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using RowMatT = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ArrT = Eigen::Array<T, Eigen::Dynamic, 1>;
using MatD = MatT<double>;
using RowMatD = RowMatT<double>;
using VecD = Eigen::VectorXd;
using ArrD = Eigen::ArrayXd;

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// Number of values in the covariance (or precision-Cholesky) array, NumPy C layout:
// full (k,d,d), tied (d,d), diag (k,d), spherical (k,).
inline long cov_size(CovType cov, long k, long d) {
    switch (cov) {
        case CovType::Full: return k * d * d;
        case CovType::Tied: return d * d;
        case CovType::Diag: return k * d;
        case CovType::Spherical: return k;
    }
    return 0;
}

struct GaussianParams {
    CovType cov = CovType::Full;
    int k = 0, d = 0;
    VecD weights;      // (k)
    RowMatD means;     // (k, d)
    VecD covariances;  // cov_size values; may be empty when only precisions are known
    VecD prec_chol;    // cov_size values; full/tied: upper U with precision = U U^T
};

// Rows of X live in caller memory (C-contiguous, n x d, type T).
template <class T>
struct DataView {
    const T* X = nullptr;
    long n = 0;
    int d = 0;
    const T* sample_weight = nullptr;  // optional, n values
    bool has_missing = false;          // NaN entries are missing features (EM with missing data)
    Eigen::Map<const RowMatT<T>> rows(long r0, long count) const {
        return Eigen::Map<const RowMatT<T>>(X + r0 * d, count, d);
    }
};

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

template <class T>
Eigen::Map<const RowMatT<T>, 0, Eigen::OuterStride<>> padded_rows(const Scratch<T>& s, long B, int d, int dp) {
    return {s.xp.data(), B, d, Eigen::OuterStride<>(dp)};
}

// Centres rows [r0, r0 + B) on c into the layout the covariance type's kernels read.
template <class T>
void load_centred_rows(const DataView<T>& data, const ArrT<T>& c, long r0, long B, Scratch<T>& s, CovType cov) {
    const int d = data.d;
    auto rows = data.rows(r0, B);
    if (cov == CovType::Full && d <= kSmallD) {
        s.xc.resize(B, d);
        s.xc = rows.rowwise() - c.matrix().transpose();
        return;
    }
    if (cov == CovType::Full) {
        const int dp = padded_width(d, Simd<T>::lanes);
        s.xp.resize(B * dp);
        Eigen::Map<RowMatT<T>> xp(s.xp.data(), B, dp);
        xp.leftCols(d) = rows.rowwise() - c.matrix().transpose();
        xp.rightCols(dp - d).setZero();
        return;
    }
    s.xs.resize(B, d);
    s.xs = rows.rowwise() - c.matrix().transpose();
    if (cov == CovType::Diag || cov == CovType::Spherical) {
        constexpr int P = panel_rows<T>();
        const int K = 2 * d + 1;
        const long n_panels = (B + P - 1) / P;
        s.xpan.resize(n_panels * K * P);
        square_panels(s.xs.data(), B, d, s.xpan.data());
    }
}

// The column-major [x'^2, x', 1] of the dense diag/spherical M-step, from the centred rows.
template <class T>
void square_rows_colmajor(const RowMatT<T>& xs, MatT<T>& xx) {
    const long B = xs.rows(), d = xs.cols();
    xx.resize(B, 2 * d + 1);
    xx.leftCols(d) = xs.array().square().matrix();
    xx.middleCols(d, d) = xs;
    xx.col(2 * d).setOnes();
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

// S (d x d, lower part) += the scatter weighted_scatter left in sbuf (row-major d x dp upper
// part == column-major dp x d lower part). Only the lower part is read by the M-step, and
// only it is added: the rest holds partial sums.
template <class T>
void add_scatter_lower(const ArrT<T>& sbuf, int d, int dp, double* S) {  // S: column-major, d apart
    for (int f = 0; f < d; ++f)
        for (int h = f; h < d; ++h) S[(long)f * d + h] += (double)sbuf[(long)f * dp + h];
}

// Full covariance, every row of the block: S2 block j (lower part) += sum_i g_ij
// (x_i - a_j)(x_i - a_j)^T, down the columns for d <= kSmallD, else by weighted_scatter.
template <class T>
void add_full_scatter_dense(const Scratch<T>& sc, int d, int j, const MatT<T>& anchors, Scratch<T>& s, Stats& st) {
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

// Full covariance (d > kSmallD), sparse responsibilities: component j over its kept rows
// (s.kept, s.kept_rows from collect_kept): N_j and S1_j (as T sums, like the dense path's
// products), g (x - a_j) into s.w, then the scatter of those rows only.
template <class T>
void add_full_component_kept(const Scratch<T>& sc, int d, int j, const MatT<T>& anchors, Scratch<T>& s, Stats& st) {
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
// `anchors` (dp x k, shifted coordinates, zero padded) is the point each full-covariance
// scatter matrix is accumulated around. Diag, spherical and full (d > kSmallD) blocks with
// sparse responsibilities skip the negligible entries (see sparse_resp_tau).
// `lazy`: sc.logp holds unnormalised exps, each row still to be multiplied by sc.scale
// (sc.rowsum its sums); only the entries a sparse block keeps are, else every one.
template <class T>
void accumulate_block(CovType cov, int d, Scratch<T>& sc, const MatT<T>& anchors, Scratch<T>& s, Stats& st,
                      bool lazy = false) {
    MatT<T>& g = sc.logp;
    const long B = g.rows();
    const int k = (int)g.cols();
    const bool may_skip = cov == CovType::Diag || cov == CovType::Spherical || (cov == CovType::Full && d > kSmallD);
    const T* rowsum = lazy ? sc.rowsum.data() : nullptr;
    if (may_skip && collect_kept(g, s.tmp, s.kept, s.kept_rows, B * k / 4, rowsum) <= B * k / 4) {
        if (lazy)
            for (int j = 0; j < k; ++j) {
                const int* rows = s.kept_rows.data() + (long)j * B;
                T* gj = g.col(j).data();
                for (int q = 0; q < s.kept[j]; ++q) gj[rows[q]] *= sc.scale[rows[q]];
            }
        if (cov != CovType::Full) {
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
        // full: per component, over its kept rows only
        for (int j = 0; j < k; ++j) add_full_component_kept(sc, d, j, anchors, s, st);
        return;
    }
    if (lazy)
        for (int j = 0; j < k; ++j) g.col(j).array() *= sc.scale;
    if (cov == CovType::Diag || cov == CovType::Spherical) {
        square_rows_colmajor(sc.xs, s.xx);
        s.small.noalias() = g.transpose() * s.xx;  // k x 2d+1: [sum g x'^2, sum g x', sum g]
        st.S2 += s.small.leftCols(d).template cast<double>();
        st.S1 += s.small.middleCols(d, d).template cast<double>();
        st.N += s.small.col(2L * d).template cast<double>();
        return;
    }
    const ArrT<T> nk = g.colwise().sum().transpose().array();
    st.N += nk.template cast<double>().matrix();
    if (cov == CovType::Full && d <= kSmallD) {
        s.small.noalias() = g.transpose().lazyProduct(sc.xc);
        st.S1 += s.small.template cast<double>();
        for (int j = 0; j < k; ++j)
            if (nk[j] != T(0)) add_full_scatter_dense(sc, d, j, anchors, s, st);  // else it adds exactly nothing
        return;
    }
    if (cov == CovType::Full) {
        const int dp = (int)anchors.rows();
        s.small.noalias() = g.transpose() * padded_rows(sc, B, d, dp);
        st.S1 += s.small.template cast<double>();
        for (int j = 0; j < k; ++j)
            if (nk[j] != T(0)) add_full_scatter_dense(sc, d, j, anchors, s, st);  // else it adds exactly nothing
        return;
    }
    if (d <= kSmallD) s.small.noalias() = g.transpose().lazyProduct(sc.xs);
    else s.small.noalias() = g.transpose() * sc.xs;
    st.S1 += s.small.template cast<double>();
    s.w.resize(B, d);
    if (cov == CovType::Tied) {
        const ArrT<T> r = g.rowwise().sum().array().sqrt();
        s.w = (sc.xs.array().colwise() * r).matrix();
        add_gram(s.w, s.small, st.S2);
    }
}

// ---------------------------------------------------------------------------------------
// Missing features: NaN entries, missing at random.
//
// For a component with mean mu and precision P, and a row with observed part o and
// missing part m, everything follows from P and its small block P_mm. With d0 = x - mu
// set to zero at m and b = (P d0)_m:
//   (x_o - mu_o)^T S_oo^-1 (x_o - mu_o) = d0^T P d0 - b^T P_mm^-1 b
//   log det S_oo = log det S + log det P_mm
//   E[x_m | x_o] = mu_m - P_mm^-1 b,   Cov[x_m | x_o] = P_mm^-1
// So the complete-row kernels do the d x d work on rows whose gaps hold the component's
// mean (full), or on zero-filled rows plus a few products (tied, diag, spherical), and
// only the m x m block is factorised, once per gap pattern and component (GapPatterns).

// The gap patterns of the data (the missing features of each row). They do not change
// during a fit, so they are found once; each iteration then factorises every pattern's
// P_mm once per precision, in a table all threads share (MissingModel). Pattern ids are
// ordered by frequency (ties: first appearance), and only the first `cached` patterns get
// table entries, up to about as many values as X has (at least 2^16, at most 2^22 = 32 MB):
// wide data, where nearly every row has a pattern of its own, computes the rest per use.
struct GapPatterns {
    std::vector<int> row;          // n: each row's pattern, -1 for a complete row
    std::vector<int> start, cols;  // pattern p misses cols[start[p] .. start[p + 1])
    std::vector<long> offset;      // cached patterns: where their factors start in the table
    long cached = 0, table_size = 0;
    int n_patterns() const { return (int)start.size() - 1; }
    int gaps(int p) const { return start[p + 1] - start[p]; }
};

// Values of one pattern's factors for nP precisions (see compute_gap_factors).
inline long gap_factor_size(int m, int nP) { return (2L * m * m + 1) * nP; }

// nP: how many precisions the factors are needed for (k for full covariance, 1 for tied).
template <class T>
GapPatterns find_gap_patterns(const DataView<T>& data, int nP) {
    const int d = data.d;
    GapPatterns gp;
    gp.row.assign(data.n, -1);
    std::unordered_map<std::string, int> id;
    std::vector<int> cols, first_start{0}, first_cols;
    std::vector<long> count;
    for (long i = 0; i < data.n; ++i) {
        cols.clear();
        for (int f = 0; f < d; ++f)
            if (std::isnan(data.X[i * d + f])) cols.push_back(f);
        if (cols.empty()) continue;
        auto at = id.emplace(std::string((const char*)cols.data(), cols.size() * sizeof(int)), (int)count.size());
        if (at.second) {
            count.push_back(0);
            first_cols.insert(first_cols.end(), cols.begin(), cols.end());
            first_start.push_back((int)first_cols.size());
        }
        gp.row[i] = at.first->second;
        ++count[at.first->second];
    }
    const int P = (int)count.size();
    std::vector<int> order(P), new_id(P);
    for (int p = 0; p < P; ++p) order[p] = p;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return count[a] > count[b]; });
    gp.start.assign(1, 0);
    for (int q = 0; q < P; ++q) {
        new_id[order[q]] = q;
        gp.cols.insert(gp.cols.end(), first_cols.begin() + first_start[order[q]], first_cols.begin() + first_start[order[q] + 1]);
        gp.start.push_back((int)gp.cols.size());
    }
    for (int& r : gp.row)
        if (r >= 0) r = new_id[r];
    const long cap = std::min(1L << 22, std::max(1L << 16, data.n * d));
    for (int p = 0; p < P && gp.table_size + gap_factor_size(gp.gaps(p), nP) <= cap; ++p) {
        gp.offset.push_back(gp.table_size);
        gp.table_size += gap_factor_size(gp.gaps(p), nP);
        gp.cached = p + 1;
    }
    return gp;
}

// ---------------------------------------------------------------------------------------
// Small factorisations, nP of them side by side: element (a, b) of matrix j is at
// A[(a m + b) nP + j], so the loops over j vectorise (one matrix per component) and each
// matrix sees the same operations in the same order whatever nP is.

// A loop over independent components: vectorise without run-time aliasing checks (these
// loops are short and run millions of times).
#ifdef _OPENMP
#define GENMIX_SIMD _Pragma("omp simd")
#else
#define GENMIX_SIMD
#endif

// Lower Cholesky factors of the m x m matrices, in place, except that the diagonal holds
// the reciprocals 1 / L_aa (the solves below then multiply: divisions would dominate).
// Returns the first j whose matrix is not positive definite, -1 if none.
inline int small_cholesky(double* A, int m, int nP) {
    auto at = [&](int a, int b) { return A + ((long)a * m + b) * nP; };
    for (int c = 0; c < m; ++c) {
        for (int q = 0; q < c; ++q) {
            const double* l = at(c, q);
            double* s = at(c, c);
            GENMIX_SIMD for (int j = 0; j < nP; ++j) s[j] -= l[j] * l[j];
        }
        double* s = at(c, c);
        for (int j = 0; j < nP; ++j)
            if (!(s[j] > 0)) return j;
        GENMIX_SIMD for (int j = 0; j < nP; ++j) s[j] = 1.0 / std::sqrt(s[j]);
        for (int i = c + 1; i < m; ++i) {
            double* t = at(i, c);
            for (int q = 0; q < c; ++q) {
                const double *li = at(i, q), *lc = at(c, q);
                GENMIX_SIMD for (int j = 0; j < nP; ++j) t[j] -= li[j] * lc[j];
            }
            GENMIX_SIMD for (int j = 0; j < nP; ++j) t[j] *= s[j];
        }
    }
    return -1;
}

// z <- L^-1 z, and (backward) z <- L^-T z, for the factors of small_cholesky; z is m x nP.
inline void small_forward(const double* L, int m, int nP, double* z) {
    for (int a = 0; a < m; ++a) {
        double* za = z + (long)a * nP;
        for (int q = 0; q < a; ++q) {
            const double *l = L + ((long)a * m + q) * nP, *zq = z + (long)q * nP;
            GENMIX_SIMD for (int j = 0; j < nP; ++j) za[j] -= l[j] * zq[j];
        }
        const double* l = L + ((long)a * m + a) * nP;
        GENMIX_SIMD for (int j = 0; j < nP; ++j) za[j] *= l[j];
    }
}
inline void small_backward(const double* L, int m, int nP, double* z) {
    for (int a = m - 1; a >= 0; --a) {
        double* za = z + (long)a * nP;
        for (int q = a + 1; q < m; ++q) {
            const double *l = L + ((long)q * m + a) * nP, *zq = z + (long)q * nP;
            GENMIX_SIMD for (int j = 0; j < nP; ++j) za[j] -= l[j] * zq[j];
        }
        const double* l = L + ((long)a * m + a) * nP;
        GENMIX_SIMD for (int j = 0; j < nP; ++j) za[j] *= l[j];
    }
}

inline std::string missing_not_pd_message(int component) {
    return "Fitting the mixture failed: the precision of " +
           (component < 0 ? std::string("the tied covariance") : "component " + std::to_string(component)) +
           " restricted to a row's missing features is not positive definite. Increase reg_covar.";
}

// log det(P_mm) / 2 of factor j: one log of the product of the diagonal when that product
// is a normal number (the usual case), else a sum of logs.
inline double half_logdet(const double* L, int m, int nP, int j) {
    double prod = 1;
    for (int a = 0; a < m; ++a) prod *= L[((long)a * m + a) * nP + j];
    if (std::isnormal(prod)) return -std::log(prod);
    double s = 0;
    for (int a = 0; a < m; ++a) s -= std::log(L[((long)a * m + a) * nP + j]);
    return s;
}

// The gap patterns MissingModel needs: full and tied covariance only.
template <class T>
GapPatterns gap_patterns_for(const DataView<T>& data, CovType cov, int k) {
    if (!data.has_missing || (cov != CovType::Full && cov != CovType::Tied)) return {};
    return find_gap_patterns(data, cov == CovType::Full ? k : 1);
}

// Components per register block in the per-row corrections of log_prob_missing.
constexpr int kLanesB = 8;

// Per-iteration model parts the gaps need, in double and shifted coordinates.
struct MissingModel {
    CovType cov;
    int k, d;
    RowMatD mu;              // k x d  means minus c
    std::vector<RowMatD> P;  // full: k precisions; tied: one
    RowMatD U;               // tied: the precision factor (P = U U^T)
    RowMatD MU, PM;          // tied: k x d, rows mu_j U and (P mu_j)^T
    RowMatD var;             // diag, spherical: k x d variances
    RowMatD prec;            // diag, spherical: k x d precisions
    RowMatD logn;            // diag, spherical: k x d, log pc - log(2 pi) / 2 (one feature's constant)
    VecD bias;               // k: log w (+ log det U - d/2 log 2 pi for full, tied)
    int kp = 0;              // full: k rounded up to whole blocks of kLanesB
    std::vector<double> PT;  // full: d x d x kp, P_j(f, g) at (f d + g) kp + j (zero padded)
    RowMatD muT;             // full: d x kp, the means minus c by feature (zero padded)
    const GapPatterns* patterns = nullptr;  // full, tied: the data's gap patterns ...
    std::vector<double> table;              // ... and the factors of the cached ones

    // `storage`: memory for the table, e.g. the previous iteration's
    MissingModel(const GaussianParams& p, const VecD& c, const GapPatterns* gp, int n_threads,
                 std::vector<double> storage = {})
        : cov(p.cov), k(p.k), d(p.d), patterns(gp), table(std::move(storage)) {
        mu = p.means.rowwise() - c.transpose();
        bias = p.weights.array().log();
        if (cov == CovType::Full || cov == CovType::Tied) {
            const int nP = cov == CovType::Full ? k : 1;
            for (int j = 0; j < nP; ++j) {
                Eigen::Map<const RowMatD> Uj(p.prec_chol.data() + (long)j * d * d, d, d);
                P.push_back(Uj * Uj.transpose());
            }
            for (int j = 0; j < k; ++j) {
                Eigen::Map<const RowMatD> Uj(p.prec_chol.data() + (cov == CovType::Full ? (long)j * d * d : 0L), d, d);
                bias[j] += Uj.diagonal().array().log().sum() - 0.5 * d * kLog2Pi;
            }
            if (cov == CovType::Tied) {
                U = Eigen::Map<const RowMatD>(p.prec_chol.data(), d, d);
                MU = mu * U;
                PM = mu * P[0];  // P is symmetric
            } else {
                kp = (k + kLanesB - 1) / kLanesB * kLanesB;
                PT.assign((size_t)d * d * kp, 0.0);
                for (int f = 0; f < d; ++f)
                    for (int g = 0; g < d; ++g)
                        for (int j = 0; j < k; ++j) PT[((size_t)f * d + g) * kp + j] = P[j](f, g);
                muT.setZero(d, kp);
                muT.leftCols(k) = mu.transpose();
            }
            if (gp) fill_table(n_threads);
        } else {
            var.resize(k, d);
            prec.resize(k, d);
            logn.resize(k, d);
            for (int j = 0; j < k; ++j)
                for (int f = 0; f < d; ++f) {
                    const double pc = cov == CovType::Diag ? p.prec_chol[(long)j * d + f] : p.prec_chol[j];
                    var(j, f) = 1.0 / (pc * pc);
                    prec(j, f) = pc * pc;
                    logn(j, f) = std::log(pc) - 0.5 * kLog2Pi;
                }
        }
    }

    int n_prec() const { return (int)P.size(); }

    // For the gap pattern `cols` (m features) and every precision P_j: the factors L_j of
    // P_mm (m x m x nP, side by side as above), then the inverses C_j = P_mm^-1 (same
    // layout), then log det(P_mm) / 2 (nP values). z: m nP values of scratch.
    void compute_gap_factors(const int* cols, int m, double* F, double* z) const {
        const int nP = n_prec();
        const long mm = (long)m * m * nP;
        for (int a = 0; a < m; ++a)
            for (int b = 0; b < m; ++b) {
                double* out = F + ((long)a * m + b) * nP;
                if (cov == CovType::Full) std::copy_n(PT.data() + ((size_t)cols[a] * d + cols[b]) * kp, nP, out);
                else out[0] = P[0](cols[a], cols[b]);
            }
        const int bad = small_cholesky(F, m, nP);
        if (bad >= 0) throw std::domain_error(missing_not_pd_message(cov == CovType::Tied ? -1 : bad));
        double* C = F + mm;
        for (int b = 0; b < m; ++b) {  // column b of the inverses: L^-T L^-1 e_b
            std::fill(z, z + (long)m * nP, 0.0);
            std::fill(z + (long)b * nP, z + (long)(b + 1) * nP, 1.0);
            small_forward(F, m, nP, z);
            small_backward(F, m, nP, z);
            for (int a = 0; a < m; ++a)
                for (int j = 0; j < nP; ++j) C[((long)a * m + b) * nP + j] = z[(long)a * nP + j];
        }
        for (int j = 0; j < nP; ++j) F[2 * mm + j] = half_logdet(F, m, nP, j);
    }

private:
    // The cached patterns' factors, in parallel over patterns (each is computed alone, so
    // the bits do not depend on the thread count).
    void fill_table(int n_threads) {
        const GapPatterns& gp = *patterns;
        table.resize(gp.table_size);
        if (gp.cached == 0) return;
        const long n_items = std::min<long>(gp.cached, 64);
        parallel_for(n_items, n_threads, [&](long ci) {
            std::vector<double> z;
            for (long p = ci * gp.cached / n_items; p < (ci + 1) * gp.cached / n_items; ++p) {
                const int m = gp.gaps((int)p);
                z.resize((size_t)m * n_prec());
                compute_gap_factors(gp.cols.data() + gp.start[p], m, table.data() + gp.offset[p], z.data());
            }
        });
    }
};

// With z = b on entry (m x 1): returns what the gaps add to the complete-row log density
// computed from d0, 0.5 b^T P_mm^-1 b - 0.5 log det P_mm + m/2 log 2 pi, and leaves
// z = P_mm^-1 b. F: one precision's factors (compute_gap_factors with nP = 1).
inline double marginal_correction(const double* F, int m, double* z) {
    const double half_log_det = F[2L * m * m];
    if (m == 1) {  // the most common cases, without loops
        const double y = z[0] * F[0];
        z[0] = y * F[0];
        return 0.5 * y * y - half_log_det + 0.5 * kLog2Pi;
    }
    if (m == 2) {
        const double y0 = z[0] * F[0], y1 = (z[1] - F[2] * y0) * F[3];
        z[1] = y1 * F[3];
        z[0] = (y0 - F[2] * z[1]) * F[0];
        return 0.5 * (y0 * y0 + y1 * y1) - half_log_det + kLog2Pi;
    }
    small_forward(F, m, 1, z);
    double quad = 0;
    for (int a = 0; a < m; ++a) quad += z[a] * z[a];
    small_backward(F, m, 1, z);
    return 0.5 * quad - half_log_det + 0.5 * m * kLog2Pi;
}

// Finds the block's NaN entries (row i's are miss_col[miss_start[i] .. miss_start[i+1])),
// from the data's gap patterns when they are indexed.
template <class T>
bool scan_missing(const DataView<T>& data, long r0, long B, Scratch<T>& s, const GapPatterns* gp) {
    const int d = data.d;
    s.miss_start.assign(B + 1, 0);
    s.miss_col.clear();
    s.miss_rows.clear();
    const bool indexed = gp && !gp->row.empty();  // read from the index, else from the data
    for (long i = 0; i < B; ++i) {
        if (indexed) {
            const int p = gp->row[r0 + i];
            if (p >= 0) s.miss_col.insert(s.miss_col.end(), gp->cols.begin() + gp->start[p], gp->cols.begin() + gp->start[p + 1]);
        } else {
            const T* x = data.X + (r0 + i) * d;
            for (int f = 0; f < d; ++f)
                if (std::isnan(x[f])) s.miss_col.push_back(f);
        }
        s.miss_start[i + 1] = (int)s.miss_col.size();
        if (s.miss_start[i + 1] > s.miss_start[i]) s.miss_rows.push_back((int)i);
    }
    return !s.miss_rows.empty();
}

// Entry (i, f) of the centred rows, in every layout load_centred_rows made for `cov`.
template <class T>
void set_entry(Scratch<T>& s, CovType cov, int d, long i, int f, T v) {
    if (cov == CovType::Full && d <= kSmallD) {
        s.xc(i, f) = v;
    } else if (cov == CovType::Full) {
        s.xp[i * padded_width(d, Simd<T>::lanes) + f] = v;
    } else {
        s.xs(i, f) = v;
        if (cov == CovType::Diag || cov == CovType::Spherical) {
            constexpr int P = panel_rows<T>();
            T* xp = s.xpan.data() + i / P * (2L * d + 1) * P + i % P;
            xp[(long)f * P] = v * v;
            xp[(long)(d + f) * P] = v;
        }
    }
}

template <class T>
T get_entry(const Scratch<T>& s, CovType cov, int d, long i, int f) {
    if (cov == CovType::Full && d <= kSmallD) return s.xc(i, f);
    if (cov == CovType::Full) return s.xp[i * padded_width(d, Simd<T>::lanes) + f];
    return s.xs(i, f);
}

// Full covariance: the centred rows, and where entry (i, f) is in them.
template <class T>
T* full_rows_data(Scratch<T>& s, int d) { return d <= kSmallD ? s.xc.data() : s.xp.data(); }
template <class T>
long full_offset(const Scratch<T>& s, int d, long i, int f) {
    return d <= kSmallD ? (long)f * s.xc.rows() + i : i * padded_width(d, Simd<T>::lanes) + f;
}
// The same for the rows the E-step kernel reads (after LogProbModel::to_panels).
template <class T>
T* quad_rows_data(Scratch<T>& s, int d) { return d <= kSmallD ? s.xc.data() : s.xt.data(); }
template <class T>
long quad_offset(const Scratch<T>& s, int d, long i, int f) {
    constexpr int P = panel_rows<T>();
    return d <= kSmallD ? (long)f * s.xc.rows() + i : (i / P * d + f) * P + i % P;
}

// Full covariance: writes value(e) into every gap e of the listed rows (a single layout:
// straight into it; this runs k times a block).
template <class T, class Value>
void fill_gaps_full(Scratch<T>& s, int d, const int* rows, long count, Value value) {
    T* base = full_rows_data(s, d);
    for (long q = 0; q < count; ++q) {
        const int i = rows[q];
        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) base[full_offset(s, d, i, s.miss_col[e])] = value(e);
    }
}

// Writes value(e) into every gap e of the block, in each layout of `cov`.
template <class T, class Value>
void fill_gaps(Scratch<T>& s, CovType cov, int d, Value value) {
    if (cov == CovType::Full) return fill_gaps_full(s, d, s.miss_rows.data(), (long)s.miss_rows.size(), value);
    for (int i : s.miss_rows)
        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) set_entry(s, cov, d, i, s.miss_col[e], value(e));
}

// Copies the gap rows (zero-filled centred values) to s.xgap and looks up their patterns.
template <class T>
void prepare_gap_rows(const MissingModel& mm, Scratch<T>& s, int d, long r0) {
    const size_t R = s.miss_rows.size();
    s.xgap.resize(R * d);
    s.gap_pattern.resize(R);
    for (size_t r = 0; r < R; ++r) {
        const int i = s.miss_rows[r];
        for (int f = 0; f < d; ++f) s.xgap[r * d + f] = (double)get_entry(s, mm.cov, d, i, f);
        s.gap_pattern[r] = mm.patterns->row[r0 + i];
    }
}

// The factors of gap row r's pattern for every precision (see compute_gap_factors): from
// the table, or computed for this use past its bound (valid until the next call).
template <class T>
const double* gap_factors(const MissingModel& mm, Scratch<T>& s, size_t r) {
    const GapPatterns& gp = *mm.patterns;
    const int p = s.gap_pattern[r];
    if (p < gp.cached) return mm.table.data() + gp.offset[p];
    const int m = gp.gaps(p), nP = mm.n_prec();
    s.pattern_tmp.resize((size_t)gap_factor_size(m, nP) + (size_t)m * nP);
    mm.compute_gap_factors(gp.cols.data() + gp.start[p], m, s.pattern_tmp.data(),
                           s.pattern_tmp.data() + gap_factor_size(m, nP));
    return s.pattern_tmp.data();
}

// logp (B x k) for a block with gaps (already zero-filled), marginalising each row over its
// missing features; s.cond gets the conditional means.
template <class T>
void log_prob_missing(const LogProbModel<T>& model, const MissingModel& mm, Scratch<T>& s, long r0, long B) {
    const int k = model.k, d = model.d;
    const CovType cov = model.cov;
    s.cond.resize(s.miss_col.size() * (size_t)k);
    if (cov == CovType::Diag || cov == CovType::Spherical) {
        model.log_prob(s, B);  // right for the complete rows; the rows with gaps are redone below
        // A row with gaps, directly in double over its observed features: the kernel's
        // expanded form (-p x^2 / 2 + p mu x + bias, with the gaps' terms added back) cancels
        // terms of size p (mu - c)^2 / 2, which in float32 for a narrow component costs whole
        // nats (and made lower_bounds_ decrease).
        s.work.resize((size_t)d);
        double* observed = s.work.data();
        for (int i : s.miss_rows) {
            std::fill(observed, observed + d, 1.0);
            for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) {
                const int f = s.miss_col[e];
                observed[f] = 0.0;
                for (int j = 0; j < k; ++j) s.cond[(long)e * k + j] = mm.mu(j, f);
            }
            for (int j = 0; j < k; ++j) {
                double lp = mm.bias[j];
                for (int f = 0; f < d; ++f) {
                    if (observed[f] == 0.0) continue;
                    const double r = (double)s.xs(i, f) - mm.mu(j, f);
                    lp += mm.logn(j, f) - 0.5 * mm.prec(j, f) * r * r;
                }
                s.logp(i, j) = (T)lp;
            }
        }
        return;
    }
    const size_t R = s.miss_rows.size();
    prepare_gap_rows(mm, s, d, r0);
    if (cov == CovType::Tied) {
        s.work.resize(2 * (size_t)d);
        double* z = s.work.data();
        double* v = z + d;
        model.log_prob(s, B);  // right for the complete rows; the others are redone below
        std::vector<double>& yi = s.xgap;  // reused: the zero-filled row times U
        double* uy = v;                    // (U y)_m
        for (size_t r = 0; r < R; ++r) {
            const int i = s.miss_rows[r], e0 = s.miss_start[i], m = s.miss_start[i + 1] - e0;
            const int* cols = s.miss_col.data() + e0;
            const double* F = gap_factors(mm, s, r);
            for (int f = 0; f < d; ++f) yi[r * d + f] = (double)s.y(i, f);
            const Eigen::Map<const VecD> yv(yi.data() + r * d, d);
            // With y = x_z U (zero-filled row), d0^T U = a + w, a = y - mu_j U and
            // w = sum over the gaps of mu_f U(f, :). Expanding |a + w|^2 and b = U (a + w)
            // leaves d + O(m^2) work per component: with t = (U y)_m - (P mu_j)_m and
            // h = P_mm (mu_j)_m, b = t + h and |d0^T U|^2 = |a|^2 + 2 mu_m.t + mu_m.h.
            for (int a = 0; a < m; ++a) uy[a] = Eigen::Map<const VecD>(mm.U.data() + (long)cols[a] * d, d).dot(yv);
            for (int j = 0; j < k; ++j) {
                const double* mu = mm.mu.data() + (long)j * d;
                const double a2 = (yv - Eigen::Map<const VecD>(mm.MU.data() + (long)j * d, d)).squaredNorm();
                double q = a2;
                for (int a = 0; a < m; ++a) {
                    const double t = uy[a] - mm.PM(j, cols[a]);
                    double h = 0;
                    for (int c2 = 0; c2 < m; ++c2) h += mm.P[0](cols[a], cols[c2]) * mu[cols[c2]];
                    z[a] = t + h;
                    q += mu[cols[a]] * (2 * t + h);
                }
                s.logp(i, j) = (T)((double)model.bias[j] - 0.5 * q + marginal_correction(F, m, z));
                for (int a = 0; a < m; ++a) s.cond[(long)(e0 + a) * k + j] = mu[cols[a]] - z[a];
            }
        }
        // the tied M-step reads the zero-filled rows from xs again; xgap is free
        return;
    }
    // full: each component's mean in the gaps, then the complete-row kernel
    s.logp.resize(B, k);
    model.to_panels(s, B);
    s.gap_at.resize(s.miss_col.size());  // this runs k times: the gaps' offsets once
    for (int i : s.miss_rows)
        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) s.gap_at[e] = quad_offset(s, d, i, s.miss_col[e]);
    T* rows = quad_rows_data(s, d);
    for (int j = 0; j < k; ++j) {
        const double* mu = mm.mu.data() + (long)j * d;
        for (size_t e = 0; e < s.gap_at.size(); ++e) rows[s.gap_at[e]] = (T)mu[s.miss_col[e]];
        model.log_prob_full_component(s, B, j);
    }
    // then per row, the components side by side (the loops over j vectorise):
    // d0_j = x - mu_j with zeros at the gaps, b_j = (P_j d0_j)_m, and marginal_correction's
    // steps on the factors of the row's pattern
    const int kp = mm.kp;
    s.work.resize((size_t)d * kp + (size_t)d * k + k + kp);
    double* D0 = s.work.data();          // d x kp
    double* Z = D0 + (size_t)d * kp;     // m x k: b, then P_mm^-1 b
    double* quad = Z + (size_t)d * k;    // k
    double* qf = quad + k;               // kp: d0' P_j d0
    for (size_t r = 0; r < R; ++r) {
        const int i = s.miss_rows[r], e0 = s.miss_start[i], m = s.miss_start[i + 1] - e0;
        const int* cols = s.miss_col.data() + e0;
        const double* x = s.xgap.data() + r * d;
        for (int f = 0; f < d; ++f) {
            const double* mu = mm.muT.data() + (size_t)f * kp;
            double* o = D0 + (size_t)f * kp;
            GENMIX_SIMD for (int j = 0; j < kp; ++j) o[j] = x[f] - mu[j];
        }
        for (int a = 0; a < m; ++a) std::fill(D0 + (size_t)cols[a] * kp, D0 + (size_t)(cols[a] + 1) * kp, 0.0);
        for (int a = 0; a < m; ++a) {
            const double* Pa = mm.PT.data() + (size_t)cols[a] * d * kp;
            for (int j0 = 0; j0 < k; j0 += kLanesB) {  // a block of components in registers
                double acc[kLanesB] = {};
                for (int g = 0; g < d; ++g) {
                    const double *p = Pa + (size_t)g * kp + j0, *d0 = D0 + (size_t)g * kp + j0;
                    for (int q = 0; q < kLanesB; ++q) acc[q] += p[q] * d0[q];
                }
                for (int q = 0; q < std::min(kLanesB, k - j0); ++q) Z[(size_t)a * k + j0 + q] = acc[q];
            }
        }
        const double* F = gap_factors(mm, s, r);
        small_forward(F, m, k, Z);
        std::fill(quad, quad + k, 0.0);
        for (int a = 0; a < m; ++a)
            GENMIX_SIMD for (int j = 0; j < k; ++j) quad[j] += Z[(size_t)a * k + j] * Z[(size_t)a * k + j];
        small_backward(F, m, k, Z);
        const double* hld = F + 2L * m * m * k;
        // The complete-row part d0' P_j d0 again, in double: the kernel's value (in T) and
        // the correction cancel terms that, for a narrow component, are far larger than
        // their difference (in float32 whole nats, and lower_bounds_ decreased).
        std::fill(qf, qf + kp, 0.0);
        for (int f = 0; f < d; ++f) {
            const double* df = D0 + (size_t)f * kp;
            for (int g = 0; g < d; ++g) {
                const double *p = mm.PT.data() + ((size_t)f * d + g) * kp, *dg = D0 + (size_t)g * kp;
                GENMIX_SIMD for (int j = 0; j < kp; ++j) qf[j] += df[j] * p[j] * dg[j];
            }
        }
        for (int j = 0; j < k; ++j)
            s.logp(i, j) = (T)(mm.bias[j] - 0.5 * qf[j] + 0.5 * quad[j] - hld[j] + 0.5 * m * kLog2Pi);
        for (int a = 0; a < m; ++a) {
            const double* mu = mm.muT.data() + (size_t)cols[a] * kp;
            double* cond = s.cond.data() + (size_t)(e0 + a) * k;
            GENMIX_SIMD for (int j = 0; j < k; ++j) cond[j] = mu[j] - Z[(size_t)a * k + j];
        }
    }
}

// Adds a block with gaps to st: the rows completed by their conditional means, plus the
// conditional covariances in the second moments. g = sc.logp (weighted responsibilities).
template <class T>
void accumulate_block_missing(const MissingModel& mm, Scratch<T>& sc, const MatT<T>& anchors, Scratch<T>& s,
                              Stats& st) {
    const CovType cov = mm.cov;
    const int d = mm.d;
    const MatT<T>& g = sc.logp;
    const int k = (int)g.cols();
    const long B = g.rows();
    if (cov == CovType::Diag || cov == CovType::Spherical) {
        accumulate_block(cov, d, sc, anchors, s, st);  // the gaps are still zero
        for (int i : sc.miss_rows)
            for (int e = sc.miss_start[i]; e < sc.miss_start[i + 1]; ++e) {
                const int f = sc.miss_col[e];
                for (int j = 0; j < k; ++j) {
                    const double gij = (double)g(i, j), x = sc.cond[(long)e * k + j];
                    st.S1(j, f) += gij * x;
                    st.S2(j, f) += gij * (x * x + mm.var(j, f));
                }
            }
        return;
    }
    if (cov == CovType::Tied) {
        accumulate_block(cov, d, sc, anchors, s, st);  // zero-filled rows
        // x = x_z + e_j (e_j nonzero at the gaps only), so per row the second moment gains
        // x_z E^T + E x_z^T + sum_j g_j e_j e_j^T + (sum_j g_j) P_mm^-1 with E = sum_j g_j e_j
        sc.work.resize((size_t)d + (size_t)d * d);
        double* E = sc.work.data();
        double* G = E + d;
        for (size_t r = 0; r < sc.miss_rows.size(); ++r) {
            const int i = sc.miss_rows[r], e0 = sc.miss_start[i], m = sc.miss_start[i + 1] - e0;
            const int* cols = sc.miss_col.data() + e0;
            double R = 0;
            for (int a = 0; a < m; ++a) E[a] = 0;
            for (int a = 0; a < m * m; ++a) G[a] = 0;
            const double* cj = sc.cond.data();
            for (int j = 0; j < k; ++j) {
                const double gij = (double)g(i, j);
                if (gij == 0) continue;
                R += gij;
                for (int a = 0; a < m; ++a) {
                    const double ea = cj[(long)(e0 + a) * k + j];
                    st.S1(j, cols[a]) += gij * ea;
                    E[a] += gij * ea;
                    for (int b = 0; b < m; ++b) G[a * m + b] += gij * ea * cj[(long)(e0 + b) * k + j];
                }
            }
            if (R == 0) continue;
            const double* C = gap_factors(mm, sc, r) + (long)m * m;
            for (int a = 0; a < m; ++a) {
                for (int f = 0; f < d; ++f) {
                    const double t = (double)sc.xs(i, f) * E[a];
                    st.S2(f, cols[a]) += t;
                    st.S2(cols[a], f) += t;
                }
                for (int b = 0; b < m; ++b) st.S2(cols[a], cols[b]) += G[a * m + b] + R * C[a * m + b];
            }
        }
        return;
    }
    // full: per component, its conditional means in the gaps, then the complete-row sums;
    // with sparse responsibilities over the kept rows only (as accumulate_block), and the
    // dropped entries leave out their conditional covariance too
    const int dp = (int)anchors.rows();
    const bool sparse = d > kSmallD && collect_kept(g, s.tmp, s.kept, s.kept_rows, B * k / 4) <= B * k / 4;
    for (int j = 0; j < k; ++j) {
        if (sparse) {  // only the kept rows are read
            if (s.kept[j] == 0) continue;
            fill_gaps_full(sc, d, s.kept_rows.data() + (long)j * B, s.kept[j],
                           [&](int e) { return (T)sc.cond[(long)e * k + j]; });
            add_full_component_kept(sc, d, j, anchors, s, st);
            continue;
        }
        const T nk = g.col(j).sum();
        st.N[j] += (double)nk;
        if (nk == T(0)) continue;  // adds exactly nothing
        fill_gaps(sc, cov, d, [&](int e) { return (T)sc.cond[(long)e * k + j]; });
        if (d <= kSmallD) st.S1.row(j) += (g.col(j).transpose() * sc.xc).template cast<double>();
        else st.S1.row(j) += (g.col(j).transpose() * padded_rows(sc, B, d, dp)).template cast<double>();
        add_full_scatter_dense(sc, d, j, anchors, s, st);
    }
    // the conditional covariances g_ij C_j, into s.cond_cov with the components side by
    // side (the loops over j vectorise), lower part only (all the M-step reads)
    const int kp = mm.kp;
    if (s.cond_cov.size() != (size_t)d * d * kp) s.cond_cov.assign((size_t)d * d * kp, 0.0);
    s.work.resize(kp);
    double* gw = s.work.data();  // the row's kept g_ij, zero for the others
    for (size_t r = 0; r < sc.miss_rows.size(); ++r) {
        const int i = sc.miss_rows[r], e0 = sc.miss_start[i], m = sc.miss_start[i + 1] - e0;
        const int* cols = sc.miss_col.data() + e0;
        const T thr = sparse ? s.tmp[i] : -std::numeric_limits<T>::infinity();
        const T* gi = g.data() + i;
        GENMIX_SIMD for (int j = 0; j < k; ++j) gw[j] = gi[(long)j * B] > thr ? (double)gi[(long)j * B] : 0.0;
        const double* C = gap_factors(mm, sc, r) + (long)m * m * k;
        for (int a = 0; a < m; ++a)
            for (int b = 0; b <= a; ++b) {  // row cols[a] >= column cols[b]
                double* out = s.cond_cov.data() + ((size_t)cols[a] * d + cols[b]) * kp;
                const double* Cab = C + ((long)a * m + b) * k;
                GENMIX_SIMD for (int j = 0; j < k; ++j) out[j] += gw[j] * Cab[j];
            }
    }
}

// Full covariance: adds what accumulate_block_missing gathered in s.cond_cov to S2 (once
// per chunk: this costs what adding the chunk's statistics does) and clears it.
template <class T>
void add_conditional_covariances(const MissingModel& mm, Scratch<T>& s, Stats& st) {
    const int d = mm.d, k = mm.k, kp = mm.kp;
    if (s.cond_cov.empty()) return;
    for (int j = 0; j < k; ++j) {
        double* Sj = st.S2.data() + (long)j * d * d;  // column-major d x d block of component j
        for (int h = 0; h < d; ++h)
            for (int f = h; f < d; ++f) Sj[(long)h * d + f] += s.cond_cov[((size_t)f * d + h) * kp + j];
    }
    std::fill(s.cond_cov.begin(), s.cond_cov.end(), 0.0);
}

// One pass over the rows: responsibilities from `src`, statistics accumulated per chunk
// and reduced in chunk order.
template <class T>
Stats stats_pass(const DataView<T>& data, const VecD& c, CovType cov, int k, const RespSource<T>& src,
                 const MatD& anchors, int n_threads, const PollFn* poll) {
    const int d = data.d;
    const RowPartition part = make_partition(data.n, Stats::values(cov, k, d));
    std::vector<Stats> chunk_stats(part.n_chunks);
    const int nt = threads_for(part, n_threads);
    std::vector<Scratch<T>> scratch(nt), scratch2(nt);
    const ArrT<T> cT = c.cast<T>().array();
    MatT<T> anchors_pad = MatT<T>::Zero(padded_width(d, Simd<T>::lanes), k);
    anchors_pad.topRows(d) = anchors.cast<T>();

    parallel_for(part.n_chunks, nt, [&](long ci) {
        Stats st(cov, k, d);
        Scratch<T>& s = scratch[thread_index()];
        Scratch<T>& s2 = scratch2[thread_index()];
        const long b_end = part.chunk_first_block(ci + 1);
        for (long b = part.chunk_first_block(ci); b < b_end; ++b) {
            const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
            load_centred_rows(data, cT, r0, B, s, cov);
            const bool gaps = data.has_missing && scan_missing(data, r0, B, s, src.missing ? src.missing->patterns : nullptr);
            if (gaps) {
                if (!src.model || !src.missing) throw std::invalid_argument("rows with missing values need a model");
                fill_gaps(s, cov, d, [](int) { return T(0); });
            }
            // soft E-step on complete rows: normalised lazily, by accumulate_block, where a
            // sparse block touches only the entries it keeps
            const bool lazy = src.model && src.algorithm == Algorithm::Soft && !gaps;
            if (src.model) {
                if (gaps) log_prob_missing(*src.model, *src.missing, s, r0, B);
                else src.model->log_prob(s, B);
                if (src.row_class) {
                    const T ninf = -std::numeric_limits<T>::infinity();
                    for (long i = 0; i < B; ++i) {
                        const std::int64_t z = src.row_class[r0 + i];
                        if (z < 0) continue;
                        for (int j = 0; j < k; ++j)
                            if (src.component_class[j] != z) s.logp(i, j) = ninf;
                    }
                }
                responsibilities_from_logp(s.logp, src.algorithm, s.obj, lazy ? &s.rowsum : nullptr);
                if (lazy) s.scale = s.rowsum.inverse();
            } else {
                s.logp.setZero(B, k);
                s.obj.setZero(B);
                for (long i = 0; i < B; ++i) {
                    if (src.labels) {
                        const std::int64_t z = src.labels[r0 + i];
                        if (z >= 0) s.logp(i, (long)z) = T(1);
                    } else {  // keyed by the row's values: equal rows, equal draws
                        const std::uint64_t key = src.seed ^ row_hash(data.X + (r0 + i) * d, d);
                        double tot = 0;
                        for (int j = 0; j < k; ++j) {
                            s.logp(i, j) = (T)counter_uniform(key, (std::uint64_t)j);
                            tot += (double)s.logp(i, j);
                        }
                        for (int j = 0; j < k; ++j) s.logp(i, j) = (T)((double)s.logp(i, j) / tot);
                    }
                }
            }
            if (data.sample_weight) {
                Eigen::Map<const ArrT<T>> sw(data.sample_weight + r0, B);
                if (lazy) s.scale *= sw;
                else
                    for (int j = 0; j < k; ++j) s.logp.col(j).array() *= sw;
                st.obj += (s.obj * sw.template cast<double>()).sum();
                st.wsum += sw.template cast<double>().sum();
            } else {
                st.obj += s.obj.sum();
                st.wsum += (double)B;
            }
            if (gaps) accumulate_block_missing(*src.missing, s, anchors_pad, s2, st);
            else accumulate_block(cov, d, s, anchors_pad, s2, st, lazy);
        }
        if (src.missing && cov == CovType::Full) add_conditional_covariances(*src.missing, s2, st);
        chunk_stats[ci] = std::move(st);
    }, poll);

    Stats total = std::move(chunk_stats[0]);
    for (long ci = 1; ci < part.n_chunks; ++ci) total.add(chunk_stats[ci]);
    return total;
}

// ---------------------------------------------------------------------------------------
// M-step: parameters from statistics (double, shifted means in, original means out)

inline std::string not_pd_message(int component, double reg_covar, bool is_float32) {
    std::ostringstream os;
    os << "Fitting the mixture failed: "
       << (component < 0 ? std::string("the tied covariance") : "the covariance of component " + std::to_string(component))
       << " is not positive definite (an ill-defined empirical covariance, e.g. from collapsed or "
          "duplicated samples). Increase reg_covar (now "
       << reg_covar << "), decrease n_components, or scale the data.";
    if (is_float32) os << " Passing float64 data instead of float32 can also help.";
    return os.str();
}

struct MStepOptions {
    CovType cov;
    Algorithm algorithm;
    double reg_covar;
    double eps;  // machine epsilon of the data type; 10 eps is added to every N_k as sklearn does
    bool float32;
};

// Upper-triangular U with U U^T = inverse(cov); throws std::domain_error (-> ValueError)
// when cov is not positive definite.
inline RowMatD precision_cholesky_full(const MatD& cov, int component, double reg, bool f32) {
    Eigen::LLT<MatD> llt(cov);
    if (llt.info() != Eigen::Success || !cov.allFinite()) throw std::domain_error(not_pd_message(component, reg, f32));
    const long d = cov.rows();
    MatD Linv = llt.matrixL().solve(MatD::Identity(d, d));
    RowMatD U = Linv.transpose();
    if (!U.allFinite() || (U.diagonal().array() <= 0).any()) throw std::domain_error(not_pd_message(component, reg, f32));
    return U;
}

// The scatter of a component is computed from sums, so it is only known to within rounding:
// a few units of the data type's epsilon times the size of the sums it came from.
constexpr double kRoundingUnits = 32;

// Whether cov is positive definite with a margin any Cholesky routine resolves (every
// pivot^2 above 2 (d + 1) eps of the largest variance), both as computed and as stored in
// the data type (float32 fits store float32 covariances).
inline bool stored_positive_definite(const MatD& cov, double eps, bool f32) {
    if (!cov.allFinite()) return false;
    const double margin = 2.0 * (double)(cov.rows() + 1) * eps * cov.diagonal().maxCoeff();
    auto resolved = [margin](const MatD& m) {
        Eigen::LLT<MatD> llt(m);
        return llt.info() == Eigen::Success && (llt.matrixLLT().diagonal().array().square() > margin).all();
    };
    return resolved(cov) && (!f32 || resolved(cov.cast<float>().cast<double>()));
}

// One rule for every covariance type: a covariance is the scatter S (per unit weight) plus
// reg_covar on the diagonal. When that is not positive definite in the data type -- a
// component collapsed onto a point or a subspace, whose scatter there is rounding noise of
// either sign -- the scatter's directions at rounding level (eigenvalues up to
// kRoundingUnits * eps * `moments`, the size of the sums S came from) count as exactly
// zero, and the ridge is raised to what the data type resolves next to the largest
// variance. With reg_covar = 0 such a direction is an error, as it is for diag/spherical.
inline MatD regularised_covariance(const MatD& S, double moments, const MStepOptions& o, int component) {
    const long d = S.rows();
    const MatD Ss = 0.5 * (S + S.transpose());  // symmetric as stored (contracted FMAs may round the halves apart)
    MatD C = Ss;
    C.diagonal().array() += o.reg_covar;
    if (o.reg_covar > 0 && stored_positive_definite(C, o.eps, o.float32)) return C;  // the usual case
    if (!Ss.allFinite()) throw std::domain_error(not_pd_message(component, o.reg_covar, o.float32));
    Eigen::SelfAdjointEigenSolver<MatD> es(Ss);
    if (es.info() != Eigen::Success) throw std::domain_error(not_pd_message(component, o.reg_covar, o.float32));
    VecD lam = es.eigenvalues();
    const double noise = kRoundingUnits * o.eps * moments;
    bool degenerate = false;
    for (long i = 0; i < d; ++i)
        if (lam[i] <= noise) {
            lam[i] = 0;
            degenerate = true;
        }
    if (o.reg_covar == 0) {
        if (degenerate) throw std::domain_error(not_pd_message(component, o.reg_covar, o.float32));
        return C;  // = S, positive definite beyond rounding (precision_cholesky_full checks it)
    }
    // a ridge the stored matrix keeps: rounding it moves eigenvalues by at most d eps max|C|
    const double ridge = std::max(o.reg_covar, 4.0 * (double)(d + 1) * o.eps * lam.maxCoeff());
    lam.array() += ridge;
    C = es.eigenvectors() * lam.asDiagonal() * es.eigenvectors().transpose();
    C = (0.5 * (C + C.transpose())).eval();
    if (!stored_positive_definite(C, o.eps, o.float32)) throw std::domain_error(not_pd_message(component, o.reg_covar, o.float32));
    return C;
}


// `prev` holds the current parameters (original coordinates); in hard EM a component that
// received no rows keeps them and gets weight 0 (it is dropped for good).
inline GaussianParams m_step(const Stats& st, const VecD& c, const MatD& anchors, const GaussianParams& prev,
                             const MStepOptions& o, std::vector<int>* dropped = nullptr) {
    const int k = (int)st.N.size(), d = (int)st.S1.cols();
    GaussianParams p;
    p.cov = o.cov;
    p.k = k;
    p.d = d;
    const VecD Neff = st.N.array() + 10 * o.eps;
    std::vector<bool> keep(k, false);
    for (int j = 0; j < k; ++j) {
        keep[j] = o.algorithm == Algorithm::Hard && st.N[j] == 0.0 && prev.means.size() > 0;
        if (keep[j] && dropped) dropped->push_back(j);
    }
    p.weights = Neff;
    for (int j = 0; j < k; ++j)
        if (keep[j]) p.weights[j] = 0;
    p.weights /= p.weights.sum();

    MatD mu_s(k, d);  // shifted means
    for (int j = 0; j < k; ++j) mu_s.row(j) = st.S1.row(j) / Neff[j];
    p.means.resize(k, d);
    for (int j = 0; j < k; ++j) p.means.row(j) = keep[j] ? prev.means.row(j) : RowMatD(mu_s.row(j) + c.transpose());

    const long cs = cov_size(o.cov, k, d);
    p.covariances.resize(cs);
    p.prec_chol.resize(cs);
    const bool has_prev_cov = prev.covariances.size() == cs;
    if (o.cov == CovType::Full) {
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
            const double moments = st.S2.middleCols((long)j * d, d).diagonal().maxCoeff() / Neff[j];
            const MatD Cj = regularised_covariance(S, moments, o, j);
            C = Cj;
            Uo = precision_cholesky_full(Cj, j, o.reg_covar, o.float32);
        }
    } else if (o.cov == CovType::Tied) {
        MatD S = st.S2.triangularView<Eigen::Lower>();
        S = S.selfadjointView<Eigen::Lower>();
        // exact scatter around the means used: sum_k S2 - S1_k mu_k^T - mu_k S1_k^T + N_k mu_k mu_k^T
        S -= st.S1.transpose() * mu_s + mu_s.transpose() * st.S1 - mu_s.transpose() * st.N.asDiagonal() * mu_s;
        S /= Neff.sum();
        const MatD C = regularised_covariance(S, st.S2.diagonal().maxCoeff() / Neff.sum(), o, -1);
        Eigen::Map<RowMatD>(p.covariances.data(), d, d) = C;
        Eigen::Map<RowMatD>(p.prec_chol.data(), d, d) = precision_cholesky_full(C, -1, o.reg_covar, o.float32);
    } else {
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
    return p;
}

// Anchors for the full-covariance scatter: the current means, shifted (d x k).
inline MatD shifted_means(const GaussianParams& p, const VecD& c) {
    MatD a(p.d, p.k);
    for (int j = 0; j < p.k; ++j) a.col(j) = p.means.row(j).transpose() - c;
    return a;
}

// ---------------------------------------------------------------------------------------
// Public entry points

// Column means of the observed entries, for data with gaps (weighted as column_mean).
template <class T>
VecD observed_column_mean(const DataView<T>& data, int n_threads) {
    const int d = data.d;
    const RowPartition part(data.n, 1024, 64);
    std::vector<VecD> sums(part.n_chunks, VecD::Zero(d)), wsums(part.n_chunks, VecD::Zero(d));
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        const long end = std::min(data.n, part.block_begin(part.chunk_first_block(ci + 1)));
        for (long i = part.block_begin(part.chunk_first_block(ci)); i < end; ++i) {
            const double w = data.sample_weight ? (double)data.sample_weight[i] : 1.0;
            for (int f = 0; f < d; ++f) {
                const T x = data.X[i * d + f];
                if (std::isnan(x)) continue;
                sums[ci][f] += w * (double)x;
                wsums[ci][f] += w;
            }
        }
    });
    VecD s = VecD::Zero(d), ws = VecD::Zero(d);
    for (long ci = 0; ci < part.n_chunks; ++ci) { s += sums[ci]; ws += wsums[ci]; }
    for (int f = 0; f < d; ++f) s[f] = ws[f] > 0 ? s[f] / ws[f] : 0.0;
    return s;
}

// The shift c of the data for a fit: per column, the lower median of the values (observed,
// of rows with positive weight). Any c gives the same model, but every row loses the digits
// below the rounding unit of |x - c|: a median is a value of the data, so the bulk of the
// rows keeps its digits whatever a few far rows do (a mean is pulled far from all rows by
// one outlier at 1e20). On long data the median of kCentreRows evenly spaced rows: it only
// has to be a typical value, and it costs nothing beside a pass over X.
constexpr long kCentreRows = 4096;

template <class T>
VecD column_centre(const DataView<T>& data) {
    const int d = data.d;
    VecD c = VecD::Zero(d);
    const long m = std::min(data.n, kCentreRows);
    std::vector<T> v;  // m * d values at most: no threads needed
    for (int f = 0; f < d; ++f) {
        v.clear();
        auto gather = [&](long count) {
            for (long q = 0; q < count; ++q) {
                const long i = count == data.n ? q : q * data.n / count;
                const T x = data.X[i * d + f];
                if (std::isnan(x) || (data.sample_weight && !(data.sample_weight[i] > 0))) continue;
                v.push_back(x);
            }
        };
        gather(m);
        if (v.empty() && m < data.n) gather(data.n);  // a sparse column: every row
        if (!v.empty()) {
            auto mid = v.begin() + (long)(v.size() - 1) / 2;
            std::nth_element(v.begin(), mid, v.end());
            c[f] = (double)*mid;
        }
    }
    return c;
}

// The shift c of the data as the kernels use it: they centre the rows in T (x - (T)c) and
// the parameters in double (mu - c), so c must be a value of T, or every float32 distance
// is off by c - (T)c (half an ulp of c: a whole nat near a component of standard deviation
// 1e-3 at 40).
template <class T>
VecD representable_shift(const VecD& c) {
    return c.template cast<T>().template cast<double>();
}

template <class T>
VecD column_mean(const DataView<T>& data, int n_threads) {
    if (data.has_missing) return observed_column_mean(data, n_threads);
    // weighted by sample_weight when given (so weights and repeated rows shift alike)
    const RowPartition part(data.n, 1024, 64);
    std::vector<VecD> sums(part.n_chunks, VecD::Zero(data.d));
    std::vector<double> wsums(part.n_chunks, 0.0);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
            const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
            if (data.sample_weight) {
                const VecD w = Eigen::Map<const ArrT<T>>(data.sample_weight + r0, B).template cast<double>().matrix();
                sums[ci] += data.rows(r0, B).template cast<double>().transpose() * w;
                wsums[ci] += w.sum();
            } else {
                sums[ci] += data.rows(r0, B).template cast<double>().colwise().sum().transpose();
                wsums[ci] += (double)B;
            }
        }
    });
    VecD s = VecD::Zero(data.d);
    double wsum = 0;
    for (long ci = 0; ci < part.n_chunks; ++ci) { s += sums[ci]; wsum += wsums[ci]; }
    return wsum > 0 ? VecD(s / wsum) : VecD::Zero(data.d);
}

template <class T>
bool all_finite(const T* x, long size, int n_threads) {
    const RowPartition part(size, 1 << 16, 256);
    std::vector<char> ok(part.n_chunks, 1);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        const long a = part.block_begin(part.chunk_first_block(ci));
        const long b = std::min(size, part.block_begin(part.chunk_first_block(ci + 1)));
        ok[ci] = Eigen::Map<const ArrT<T>>(x + a, b - a).allFinite();
    });
    for (char v : ok)
        if (!v) return false;
    return true;
}

struct EMOptions {
    CovType cov = CovType::Full;
    Algorithm algorithm = Algorithm::Soft;
    double tol = 1e-3;
    double reg_covar = 1e-6;
    int max_iter = 100;
    int n_threads = 0;
    double initial_lower_bound = -std::numeric_limits<double>::infinity();
    // the shift of the data (shifted coordinates, see LogProbModel); empty: column_mean.
    // The caller may pass the column_mean it computed already (one pass over X less).
    VecD center;
    // semi-supervised clamping (see RespSource); null: unsupervised
    const std::int64_t* row_class = nullptr;
    const std::int64_t* component_class = nullptr;
};

struct EMResult {
    GaussianParams params;
    std::vector<double> lower_bounds;
    bool converged = false;
    int n_iter = 0;
    std::vector<int> dropped;  // hard EM: components that became empty
};

// Called after every iteration with (iteration, change of the objective); may throw.
using IterCallback = std::function<void(int, double)>;

template <class T>
EMResult em_fit(const DataView<T>& data, const GaussianParams& init, const EMOptions& o, const PollFn* poll,
                const IterCallback& on_iter) {
    const VecD c = representable_shift<T>(o.center.size() == data.d ? o.center : column_centre(data));
    const MStepOptions mo{o.cov, o.algorithm, o.reg_covar, (double)std::numeric_limits<T>::epsilon(),
                          std::is_same<T, float>::value};
    EMResult r;
    r.params = init;
    const GapPatterns patterns = gap_patterns_for(data, o.cov, init.k);
    double lower_bound = o.initial_lower_bound;
    std::unique_ptr<MissingModel> missing;
    for (int it = 1; it <= o.max_iter; ++it) {
        const LogProbModel<T> model(r.params, c);
        if (data.has_missing)  // (the previous iteration's table memory is reused)
            missing.reset(new MissingModel(r.params, c, &patterns, o.n_threads,
                                           missing ? std::move(missing->table) : std::vector<double>()));
        RespSource<T> src;
        src.model = &model;
        src.missing = missing.get();
        src.algorithm = o.algorithm;
        src.row_class = o.row_class;
        src.component_class = o.component_class;
        const MatD anchors = shifted_means(r.params, c);
        const Stats st = stats_pass(data, c, o.cov, r.params.k, src, anchors, o.n_threads, poll);
        const double prev = lower_bound;
        lower_bound = st.obj / st.wsum;
        r.params = m_step(st, c, anchors, r.params, mo, &r.dropped);
        r.lower_bounds.push_back(lower_bound);
        r.n_iter = it;
        const double change = lower_bound - prev;
        if (on_iter) on_iter(it, change);
        if (std::abs(change) < o.tol) {
            r.converged = true;
            break;
        }
    }
    return r;
}

// Initial parameters from fixed responsibilities: labels (-1 = no contribution) or random.
// Two passes: means first, then the scatter around them.
template <class T>
GaussianParams params_from_responsibilities(const DataView<T>& data, int k, CovType cov, double reg_covar,
                                            const std::int64_t* labels, std::uint64_t seed, int n_threads,
                                            const PollFn* poll) {
    const int d = data.d;
    const VecD c = column_centre(data);  // values of the data: representable in T
    RespSource<T> src;
    src.labels = labels;
    src.random = labels == nullptr;
    src.seed = seed;
    const MStepOptions mo{cov, Algorithm::Soft, reg_covar, (double)std::numeric_limits<T>::epsilon(),
                          std::is_same<T, float>::value};
    GaussianParams none;
    MatD anchors = MatD::Zero(d, k);
    GaussianParams p;
    if (cov == CovType::Full) {  // first pass for the means only
        const Stats st0 = stats_pass(data, c, CovType::Diag, k, src, anchors, n_threads, poll);
        for (int j = 0; j < k; ++j) anchors.col(j) = st0.S1.row(j).transpose() / (st0.N[j] + 10 * mo.eps);
    }
    const Stats st = stats_pass(data, c, cov, k, src, anchors, n_threads, poll);
    p = m_step(st, c, anchors, none, mo);
    // sklearn divides the initial N_k by n rather than by their sum; we normalise to sum 1.
    return p;
}

// Per-row outputs under fixed parameters: log p(x) (n), responsibilities (n x k, C order)
// and/or labels (n); any output pointer may be null.
template <class T>
void evaluate(const DataView<T>& data, const GaussianParams& p, Algorithm alg, double* log_prob, T* resp,
              std::int64_t* labels, int n_threads, const PollFn* poll, T* imputed = nullptr) {
    const int k = p.k, d = p.d;
    // A shift that depends on the model only, so a row's result never depends on the batch:
    // per feature the lower median of the means (see column_centre), so that components far
    // from the others do not take the others' digits.
    VecD c(d);
    for (int f = 0; f < d; ++f) {
        std::vector<double> m(k);
        for (int j = 0; j < k; ++j) m[j] = p.means(j, f);
        std::nth_element(m.begin(), m.begin() + (k - 1) / 2, m.end());
        c[f] = m[(k - 1) / 2];
    }
    c = representable_shift<T>(c);
    const LogProbModel<T> model(p, c);
    std::unique_ptr<MissingModel> missing;
    const GapPatterns patterns = gap_patterns_for(data, p.cov, k);
    if (data.has_missing) missing.reset(new MissingModel(p, c, &patterns, n_threads));
    const RowPartition part = make_partition(data.n, 1);
    const int nt = threads_for(part, n_threads);
    std::vector<Scratch<T>> scratch(nt);
    const ArrT<T> cT = c.cast<T>().array();
    parallel_for(part.n_chunks, nt, [&](long ci) {
        Scratch<T>& s = scratch[thread_index()];
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
            const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
            load_centred_rows(data, cT, r0, B, s, p.cov);
            const bool gaps = data.has_missing && scan_missing(data, r0, B, s, &patterns);
            if (gaps) {
                fill_gaps(s, p.cov, d, [](int) { return T(0); });
                log_prob_missing(model, *missing, s, r0, B);
            } else {
                model.log_prob(s, B);
            }
            if (labels) {
                for (long i = 0; i < B; ++i) {
                    Eigen::Index best;
                    s.logp.row(i).maxCoeff(&best);
                    labels[r0 + i] = (std::int64_t)best;
                }
            }
            if (log_prob || resp || imputed) {
                responsibilities_from_logp(s.logp, alg, s.obj);
                if (log_prob)
                    for (long i = 0; i < B; ++i) log_prob[r0 + i] = s.obj[i];
                if (resp) Eigen::Map<RowMatT<T>>(resp + r0 * k, B, k) = s.logp;
            }
            if (imputed) {  // E[x_m | x_o] = sum_j r_j E[x_m | x_o, j]
                Eigen::Map<RowMatT<T>>(imputed + r0 * d, B, d) = data.rows(r0, B);
                if (gaps)
                    for (int i : s.miss_rows)
                        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) {
                            double v = 0;
                            for (int j = 0; j < k; ++j) v += (double)s.logp(i, j) * s.cond[(long)e * k + j];
                            imputed[(r0 + i) * d + s.miss_col[e]] = (T)(v + c[s.miss_col[e]]);
                        }
            }
        }
    }, poll);
}

// ---------------------------------------------------------------------------------------
// k-means: greedy k-means++ seeding and Lloyd iterations, for initialisation

// row_hash of every row, into out (n values).
template <class T>
void row_hashes(const DataView<T>& data, std::uint64_t* out, int n_threads, const PollFn* poll) {
    const int d = data.d;
    const RowPartition part(data.n, 1024, 64);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b)
            for (long i = part.block_begin(b); i < part.block_end(b); ++i) out[i] = row_hash(data.X + i * d, d);
    }, poll);
}

// Rows a and b in value order, given their hashes: by hash, then (a collision) by bits.
template <class T>
bool value_less(const DataView<T>& data, long a, long b, std::uint64_t ha, std::uint64_t hb) {
    if (ha != hb) return ha < hb;
    const T *xa = data.X + a * data.d, *xb = data.X + b * data.d;
    for (int f = 0; f < data.d; ++f)
        if (value_bits(xa[f]) != value_bits(xb[f])) return value_bits(xa[f]) < value_bits(xb[f]);
    return false;
}

// The row indices in an order set by the rows' values alone, so equal rows are adjacent
// and the order does not depend on where the rows are.
template <class T>
std::vector<long> value_order(const DataView<T>& data, int n_threads, const PollFn* poll) {
    const long n = data.n;
    std::vector<std::uint64_t> h(n);
    row_hashes(data, h.data(), n_threads, poll);
    std::vector<long> order(n);
    for (long i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](long a, long b) { return value_less(data, a, b, h[a], h[b]); });
    return order;
}

// Greedy k-means++ seeds (row indices). Rows are drawn by cumulative mass in value order:
// the first with probability proportional to w, the others to w * D^2 (w = 1 without
// sample weights). Equal rows are adjacent in that order, so a row of integer weight w is
// drawn exactly when one of w copies of it would be, in any row order, and the random
// stream is consumed the same way (up to rounding of the cumulative sums).
template <class T>
std::vector<long> kmeans_plusplus(const DataView<T>& data, int k, std::uint64_t seed, int n_threads,
                                  const PollFn* poll) {
    const long n = data.n;
    Xoshiro256 rng(seed);
    const int trials = 2 + (int)std::log((double)k);
    const RowPartition part(n, 1024, 64);
    const std::vector<long> order = value_order(data, n_threads, poll);
    std::vector<double> d2(n), cum(n);
    auto dist_to = [&](long r0, long B, long centre) {
        auto rows = data.rows(r0, B);
        auto ctr = data.rows(centre, 1);
        return ((rows.rowwise() - ctr.row(0)).template cast<double>().rowwise().squaredNorm()).eval();
    };
    const T* sw = data.sample_weight;
    auto wt = [&](long i) { return sw ? (double)sw[i] : 1.0; };
    long last = 0;  // position in `order` of the last row of positive mass
    auto fill_cum = [&](auto mass) {
        double total = 0;
        for (long r = 0; r < n; ++r) {
            const double m = mass(order[r]);
            if (m > 0) last = r;
            cum[r] = total += m;
        }
        return total;
    };
    auto draw = [&](double total) {  // a row with probability mass / total
        const double u = rng.uniform() * total;
        const long r = (long)(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        return order[std::min(r, last)];
    };
    std::vector<long> centres{draw(fill_cum(wt))};
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
            const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
            Eigen::Map<VecD>(d2.data() + r0, B) = dist_to(r0, B, centres[0]);
        }
    }, poll);
    std::vector<long> cand(trials);
    MatD pot(part.n_chunks, trials);
    while ((int)centres.size() < k) {
        double total = fill_cum([&](long i) { return wt(i) * d2[i]; });
        if (!(total > 0)) total = fill_cum(wt);  // every row is a centre already: by weight
        for (int t = 0; t < trials; ++t) cand[t] = draw(total);
        parallel_for(part.n_chunks, n_threads, [&](long ci) {
            for (int t = 0; t < trials; ++t) pot(ci, t) = 0;
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                for (int t = 0; t < trials; ++t) {
                    const ArrD m = dist_to(r0, B, cand[t]).array().min(Eigen::Map<ArrD>(d2.data() + r0, B));
                    if (sw) pot(ci, t) += (m * Eigen::Map<const ArrT<T>>(sw + r0, B).template cast<double>()).sum();
                    else pot(ci, t) += m.sum();
                }
            }
        }, poll);
        int best = 0;
        double best_pot = std::numeric_limits<double>::infinity();
        for (int t = 0; t < trials; ++t) {
            double s = 0;
            for (long ci = 0; ci < part.n_chunks; ++ci) s += pot(ci, t);
            if (s < best_pot) { best_pot = s; best = t; }
        }
        const long chosen = cand[best];
        centres.push_back(chosen);
        parallel_for(part.n_chunks, n_threads, [&](long ci) {
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                Eigen::Map<ArrD> dd(d2.data() + r0, B);
                dd = dd.min(dist_to(r0, B, chosen).array());
            }
        }, poll);
    }
    return centres;
}

// Up to e rows of positive weight farthest from their cluster's centre, farthest first,
// equal rows counted once and ties going first in value order: a choice that depends on
// the rows' values and weights only. One serial pass, run only when a cluster is empty.
template <class T>
std::vector<long> farthest_rows(const DataView<T>& data, const std::vector<std::int64_t>& labels,
                                const RowMatD& centres, int e) {
    struct Cand { double dist; long row; std::uint64_t hash; };
    std::vector<Cand> top;  // sorted, farthest first
    auto before = [&](const Cand& a, const Cand& b) {
        return a.dist != b.dist ? a.dist > b.dist : value_less(data, a.row, b.row, a.hash, b.hash);
    };
    for (long i = 0; i < data.n; ++i) {
        if (data.sample_weight && !(data.sample_weight[i] > 0)) continue;
        const Cand c{(data.rows(i, 1).template cast<double>().row(0) - centres.row(labels[i])).squaredNorm(), i,
                     row_hash(data.X + i * data.d, data.d)};
        if ((int)top.size() == e && !before(c, top.back())) continue;
        const bool seen = std::any_of(top.begin(), top.end(), [&](const Cand& t) {
            return t.hash == c.hash && !value_less(data, t.row, c.row, t.hash, c.hash) &&
                   !value_less(data, c.row, t.row, c.hash, t.hash);
        });
        if (seen) continue;
        top.insert(std::upper_bound(top.begin(), top.end(), c, before), c);
        if ((int)top.size() > e) top.pop_back();
    }
    std::vector<long> rows;
    for (const Cand& t : top) rows.push_back(t.row);
    return rows;
}

struct KMeansResult {
    RowMatD centres;
    std::vector<std::int64_t> labels;
    int n_iter = 0;
};

// Lloyd's algorithm from the given centres; stops when the squared centre shift is at
// most tol * (mean feature variance), or labels stop changing, or after max_iter. Empty
// clusters move to the rows farthest from their centres (farthest_rows). Final labels
// match the centres.
template <class T>
KMeansResult kmeans_lloyd(const DataView<T>& data, RowMatD centres, int max_iter, double tol, int n_threads,
                          const PollFn* poll) {
    const long n = data.n;
    const int d = data.d, k = (int)centres.rows();
    const VecD c = column_mean(data, n_threads);
    const RowPartition part(n, kBlockRows, 64);
    const int nt = resolve_threads(n_threads);
    std::vector<Scratch<T>> scratch(nt);
    const ArrT<T> cT = c.cast<T>().array();
    KMeansResult r;
    r.labels.assign(n, -1);
    // tolerance relative to the data's mean variance, as scikit-learn's KMeans
    // (weighted by sample_weight when given: counts and sums use w)
    const T* sw = data.sample_weight;
    double var = 0, wtot = 0;
    {
        std::vector<double> v(part.n_chunks, 0.0), wv(part.n_chunks, 0.0);
        parallel_for(part.n_chunks, nt, [&](long ci) {
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                const ArrD sq = (data.rows(r0, B).template cast<double>().rowwise() - c.transpose()).rowwise().squaredNorm().array();
                if (sw) {
                    const ArrD w = Eigen::Map<const ArrT<T>>(sw + r0, B).template cast<double>();
                    v[ci] += (sq * w).sum();
                    wv[ci] += w.sum();
                } else {
                    v[ci] += sq.sum();
                    wv[ci] += (double)B;
                }
            }
        }, poll);
        for (long ci = 0; ci < part.n_chunks; ++ci) { var += v[ci]; wtot += wv[ci]; }
        var /= std::max(wtot, 1e-300) * d;
    }
    const double tol_abs = tol * var;
    struct Chunk {
        MatD sums;
        VecD counts;
        long changed = 0;
    };
    std::vector<Chunk> chunks(part.n_chunks);
    auto assign = [&](const MatT<T>& cs, const ArrT<T>& cnorm, bool update_stats) {
        parallel_for(part.n_chunks, nt, [&](long ci) {
            Chunk& ch = chunks[ci];
            ch.sums.setZero(k, d);
            ch.counts.setZero(k);
            ch.changed = 0;
            Scratch<T>& s = scratch[thread_index()];
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                load_centred_rows(data, cT, r0, B, s, CovType::Tied);  // plain centred rows
                s.logp.resize(B, k);
                s.logp.noalias() = s.xs * cs.transpose();  // B x k
                for (long i = 0; i < B; ++i) {
                    int best = 0;
                    T bv = cnorm[0] - 2 * s.logp(i, 0);
                    for (int j = 1; j < k; ++j) {
                        const T v = cnorm[j] - 2 * s.logp(i, j);
                        if (v < bv) { bv = v; best = j; }
                    }
                    if (r.labels[r0 + i] != best) { ++ch.changed; r.labels[r0 + i] = best; }
                    const double wi = sw ? (double)sw[r0 + i] : 1.0;
                    if (update_stats && wi > 0) {
                        ch.counts[best] += wi;
                        ch.sums.row(best) += wi * s.xs.row(i).template cast<double>();
                    }
                }
            }
        }, poll);
    };
    RowMatD cs_shift = centres.rowwise() - c.transpose();
    for (int it = 1; it <= max_iter; ++it) {
        const MatT<T> cs = cs_shift.cast<T>();
        const ArrT<T> cnorm = cs.rowwise().squaredNorm().array();
        assign(cs, cnorm, true);
        MatD sums = MatD::Zero(k, d);
        VecD counts = VecD::Zero(k);
        long changed = 0;
        for (auto& ch : chunks) { sums += ch.sums; counts += ch.counts; changed += ch.changed; }
        RowMatD next = cs_shift;
        const int n_empty = (int)(counts.array() <= 0).count();
        const std::vector<long> far_rows =
            n_empty ? farthest_rows(data, r.labels, RowMatD(cs_shift.rowwise() + c.transpose()), n_empty)
                    : std::vector<long>();
        size_t next_far = 0;
        for (int j = 0; j < k; ++j) {
            if (counts[j] > 0) next.row(j) = sums.row(j) / counts[j];
            else if (next_far < far_rows.size())
                next.row(j) = data.rows(far_rows[next_far++], 1).template cast<double>().row(0) - c.transpose();
        }
        const double shift = (next - cs_shift).squaredNorm();
        cs_shift = next;
        r.n_iter = it;
        if (changed == 0 || shift <= tol_abs) break;
    }
    const MatT<T> cs = cs_shift.cast<T>();
    assign(cs, cs.rowwise().squaredNorm().array(), false);
    r.centres = cs_shift.rowwise() + c.transpose();
    return r;
}

}  // namespace genmix
