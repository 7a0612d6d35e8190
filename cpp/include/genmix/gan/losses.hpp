// The losses of a GAN, per row of a batch.
//
// Losses, with f the discriminator's output (logit / critic value), r = f(x), q = f(G(z)),
// means over the batch, softplus(t) = log(1 + e^t):
//   minimax         L_D = E softplus(-r) + E softplus(q)   (= -E log D(x) - E log(1 - D(G(z))))
//                   L_G = -E softplus(q)                   (=  E log(1 - D(G(z))), minimised)
//   non-saturating  L_D as minimax,  L_G = E softplus(-q)  (= -E log D(G(z)))
//   wasserstein     L_D = E q - E r,  L_G = -E q
//   hinge           L_D = E relu(1 - r) + E relu(1 + q),  L_G = -E q
// Penalties (added to L_D), gamma = penalty_weight, R = E (||grad_x f|| - c)^2:
//   r1: (gamma/2) R on real rows (c = 0); r2: on fake rows (c = 0);
//   gp: (gamma/2) R on interpolates eps x + (1 - eps) G(z), eps ~ U(0,1) per row, c = 1
//       (WGAN-GP's lambda is gamma/2).
#pragma once

#include <algorithm>
#include <cmath>

#include "genmix/gan/config.hpp"

namespace genmix {
namespace gan {

// Per-row losses: value l(f), derivative dl/df, and the "D" statistic (sigmoid(f) for
// minimax / non-saturating, f itself for wasserstein / hinge).

enum class Role { DReal, DFake, GFake, None };

inline void row_loss(Loss loss, Role role, double f, double& l, double& dl, double& stat) {
    const bool logistic = loss == Loss::Minimax || loss == Loss::NonSaturating;
    // softplus(+-f) = max(+-f, 0) + log1p(e) and sigmoid(f), all from one e = exp(-|f|)
    const double e = logistic ? std::exp(-std::fabs(f)) : 0.0;
    const double sig = f >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    const double log1p_e = logistic ? std::log1p(e) : 0.0;
    const double sp_pos = std::max(f, 0.0) + log1p_e, sp_neg = std::max(-f, 0.0) + log1p_e;
    switch (role) {
        case Role::DReal:
            if (logistic) { l = sp_neg; dl = sig - 1.0; }
            else if (loss == Loss::Wasserstein) { l = -f; dl = -1.0; }
            else { l = std::max(0.0, 1.0 - f); dl = f < 1.0 ? -1.0 : 0.0; }
            break;
        case Role::DFake:
            if (logistic) { l = sp_pos; dl = sig; }
            else if (loss == Loss::Wasserstein) { l = f; dl = 1.0; }
            else { l = std::max(0.0, 1.0 + f); dl = f > -1.0 ? 1.0 : 0.0; }
            break;
        case Role::GFake:
            if (loss == Loss::Minimax) { l = -sp_pos; dl = -sig; }
            else if (loss == Loss::NonSaturating) { l = sp_neg; dl = sig - 1.0; }
            else { l = -f; dl = -1.0; }
            break;
        case Role::None: l = 0; dl = 0; break;
    }
    stat = logistic ? sig : f;
}

}  // namespace gan
}  // namespace genmix
