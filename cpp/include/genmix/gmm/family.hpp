// Dispatch on the covariance type: the one switch that picks a covariance family
// (full.hpp, tied.hpp, diag.hpp), once per call, and the E-step model of any family.
//
// A family is a struct with only static members, passed by value as a tag:
//   cov                                   its CovType
//   Model<T>                              the E-step model: Model(params, c), log_prob(s, B)
//   load_rows(data, c, r0, B, s)          centred rows into the family's row layout
//   accumulate_block(d, sc, anchors, s, st, lazy)   one block's sufficient statistics
//   m_step(st, mu_s, Neff, anchors, keep, has_prev_cov, prev, o, p)   covariances and factors
// A caller templated on the family (e.g. stats_pass) runs its block loop without a branch
// on the covariance type and without a virtual call.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include <variant>

#include "genmix/gmm/diag.hpp"

namespace genmix {

// f(Family{}) for the family of `cov`; returns what f returns.
template <class F>
auto with_family(CovType cov, F&& f) {
    switch (cov) {
        case CovType::Full: return f(FullFamily{});
        case CovType::Tied: return f(TiedFamily{});
        case CovType::Diag: return f(DiagFamily{});
        case CovType::Spherical: return f(SphericalFamily{});
    }
    throw std::invalid_argument("unknown covariance type");
}

// The per-iteration E-step model of whichever family the parameters have (in T and
// shifted coordinates). Code templated on the family reads its model with get<Family>().
template <class T>
struct LogProbModel {
    using Models = std::variant<FullFamily::Model<T>, TiedFamily::Model<T>, DiagModel<T>>;
    CovType cov;
    int k, d;
    Models model;

    LogProbModel(const GaussianParams& p, const VecD& c)
        : cov(p.cov), k(p.k), d(p.d), model(with_family(p.cov, [&](auto fam) -> Models {
              return typename decltype(fam)::template Model<T>(p, c);
          })) {}

    template <class Family>
    const typename Family::template Model<T>& get() const {
        return std::get<typename Family::template Model<T>>(model);
    }
};

}  // namespace genmix
