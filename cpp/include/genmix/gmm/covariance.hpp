// The covariance rules of the M-step shared by every covariance family: the messages, the
// options, the precision factor of a full matrix and the regularisation of a scatter.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/stats.hpp"

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

}  // namespace genmix
