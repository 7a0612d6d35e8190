// The M-step: parameters from statistics, and the covariance rule shared by every type.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/pass.hpp"

namespace genmix {

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
            // the sums came from rows x' - a: their rounding scales with x'^2 ~ mu'^2 too
            const double moments = std::max(st.S2.middleCols((long)j * d, d).diagonal().maxCoeff() / Neff[j],
                                            std::max(mu_s.row(j).squaredNorm(), anchors.col(j).squaredNorm()));
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

}  // namespace genmix
