// Sufficient statistics and their accumulation over a block of rows (complete rows).
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/log_prob.hpp"

namespace genmix {

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

}  // namespace genmix
