// Missing features: gap patterns, small side-by-side factorisations, the per-pattern model.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/family.hpp"

namespace genmix {

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

}  // namespace genmix
