// Missing features in a pass: log-densities, imputed entries and statistics of rows with gaps.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/missing_model.hpp"

namespace genmix {

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

// Entries of the centred rows in each family's row layout (see load_rows).
template <class T>
T get_entry(FullFamily, const Scratch<T>& s, int d, long i, int f) {
    if (d <= kSmallD) return s.xc(i, f);
    return s.xp[i * padded_width(d, Simd<T>::lanes) + f];
}
template <class T>
T get_entry(TiedFamily, const Scratch<T>& s, int /*d*/, long i, int f) {
    return s.xs(i, f);
}

// Full covariance: the centred rows, and where entry (i, f) is in them.
template <class T>
T* full_rows_data(Scratch<T>& s, int d) { return d <= kSmallD ? s.xc.data() : s.xp.data(); }
template <class T>
long full_offset(const Scratch<T>& s, int d, long i, int f) {
    return d <= kSmallD ? (long)f * s.xc.rows() + i : i * padded_width(d, Simd<T>::lanes) + f;
}
// The same for the rows the E-step kernel reads (after FullFamily::Model::to_panels).
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

// Writes value(e) into every gap e of the block, in the family's row layout: full has one
// (fill_gaps_full), tied the centred rows, diag and spherical those and their panels.
template <class T, class Value>
void fill_gaps(FullFamily, Scratch<T>& s, int d, Value value) {
    fill_gaps_full(s, d, s.miss_rows.data(), (long)s.miss_rows.size(), value);
}
template <class T, class Value>
void fill_gaps(TiedFamily, Scratch<T>& s, int /*d*/, Value value) {
    for (int i : s.miss_rows)
        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) s.xs(i, s.miss_col[e]) = value(e);
}
template <CovType C, class T, class Value>
void fill_gaps(DiagFamilyT<C>, Scratch<T>& s, int d, Value value) {
    for (int i : s.miss_rows)
        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) {
            const int f = s.miss_col[e];
            const T v = value(e);
            s.xs(i, f) = v;
            constexpr int P = panel_rows<T>();
            T* xp = s.xpan.data() + i / P * (2L * d + 1) * P + i % P;
            xp[(long)f * P] = v * v;
            xp[(long)(d + f) * P] = v;
        }
}

// Copies the gap rows (zero-filled centred values) to s.xgap and looks up their patterns.
template <class Family, class T>
void prepare_gap_rows(Family fam, const MissingModel& mm, Scratch<T>& s, int d, long r0) {
    const size_t R = s.miss_rows.size();
    s.xgap.resize(R * d);
    s.gap_pattern.resize(R);
    for (size_t r = 0; r < R; ++r) {
        const int i = s.miss_rows[r];
        for (int f = 0; f < d; ++f) s.xgap[r * d + f] = (double)get_entry(fam, s, d, i, f);
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
// Diag and spherical (one model):
template <CovType C, class T>
void log_prob_missing(DiagFamilyT<C>, const LogProbModel<T>& model, const MissingModel& mm, Scratch<T>& s,
                      long /*r0*/, long B) {
    const int k = model.k, d = model.d;
    s.cond.resize(s.miss_col.size() * (size_t)k);
    model.template get<DiagFamilyT<C>>().log_prob(s, B);  // right for the complete rows; the rows with gaps are redone below
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
}

// Tied:
template <class T>
void log_prob_missing(TiedFamily, const LogProbModel<T>& model, const MissingModel& mm, Scratch<T>& s, long r0,
                      long B) {
    const int k = model.k, d = model.d;
    s.cond.resize(s.miss_col.size() * (size_t)k);
    const size_t R = s.miss_rows.size();
    prepare_gap_rows(TiedFamily(), mm, s, d, r0);
    s.work.resize(2 * (size_t)d);
    double* z = s.work.data();
    double* v = z + d;
    const auto& tied = model.template get<TiedFamily>();
    tied.log_prob(s, B);  // right for the complete rows; the others are redone below
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
            s.logp(i, j) = (T)((double)tied.bias[j] - 0.5 * q + marginal_correction(F, m, z));
            for (int a = 0; a < m; ++a) s.cond[(long)(e0 + a) * k + j] = mu[cols[a]] - z[a];
        }
    }
    // the tied M-step reads the zero-filled rows from xs again; xgap is free
}

// Full:
template <class T>
void log_prob_missing(FullFamily, const LogProbModel<T>& model, const MissingModel& mm, Scratch<T>& s, long r0,
                      long B) {
    const int k = model.k, d = model.d;
    s.cond.resize(s.miss_col.size() * (size_t)k);
    const size_t R = s.miss_rows.size();
    prepare_gap_rows(FullFamily(), mm, s, d, r0);
    // full: each component's mean in the gaps, then the complete-row kernel
    s.logp.resize(B, k);
    const auto& full = model.template get<FullFamily>();
    full.to_panels(s, B);
    s.gap_at.resize(s.miss_col.size());  // this runs k times: the gaps' offsets once
    for (int i : s.miss_rows)
        for (int e = s.miss_start[i]; e < s.miss_start[i + 1]; ++e) s.gap_at[e] = quad_offset(s, d, i, s.miss_col[e]);
    T* rows = quad_rows_data(s, d);
    for (int j = 0; j < k; ++j) {
        const double* mu = mm.mu.data() + (long)j * d;
        for (size_t e = 0; e < s.gap_at.size(); ++e) rows[s.gap_at[e]] = (T)mu[s.miss_col[e]];
        full.log_prob_component(s, B, j);
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
// Diag and spherical:
template <CovType C, class T>
void accumulate_block_missing(DiagFamilyT<C>, const MissingModel& mm, Scratch<T>& sc, const MatT<T>& anchors,
                              Scratch<T>& s, Stats& st) {
    const int d = mm.d;
    const MatT<T>& g = sc.logp;
    const int k = (int)g.cols();
    DiagFamilyT<C>::accumulate_block(d, sc, anchors, s, st);  // the gaps are still zero
    for (int i : sc.miss_rows)
        for (int e = sc.miss_start[i]; e < sc.miss_start[i + 1]; ++e) {
            const int f = sc.miss_col[e];
            for (int j = 0; j < k; ++j) {
                const double gij = (double)g(i, j), x = sc.cond[(long)e * k + j];
                st.S1(j, f) += gij * x;
                st.S2(j, f) += gij * (x * x + mm.var(j, f));
            }
        }
}

// Tied:
template <class T>
void accumulate_block_missing(TiedFamily, const MissingModel& mm, Scratch<T>& sc, const MatT<T>& anchors,
                              Scratch<T>& s, Stats& st) {
    const int d = mm.d;
    const MatT<T>& g = sc.logp;
    const int k = (int)g.cols();
    TiedFamily::accumulate_block(d, sc, anchors, s, st);  // zero-filled rows
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
}

// Full:
template <class T>
void accumulate_block_missing(FullFamily, const MissingModel& mm, Scratch<T>& sc, const MatT<T>& anchors,
                              Scratch<T>& s, Stats& st) {
    const int d = mm.d;
    const MatT<T>& g = sc.logp;
    const int k = (int)g.cols();
    const long B = g.rows();
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
            FullFamily::add_component_kept(sc, d, j, anchors, s, st);
            continue;
        }
        const T nk = g.col(j).sum();
        st.N[j] += (double)nk;
        if (nk == T(0)) continue;  // adds exactly nothing
        fill_gaps(FullFamily(), sc, d, [&](int e) { return (T)sc.cond[(long)e * k + j]; });
        if (d <= kSmallD) st.S1.row(j) += (g.col(j).transpose() * sc.xc).template cast<double>();
        else st.S1.row(j) += (g.col(j).transpose() * padded_rows(sc, B, d, dp)).template cast<double>();
        FullFamily::add_scatter_dense(sc, d, j, anchors, s, st);
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

}  // namespace genmix
