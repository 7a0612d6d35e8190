// A GAN training run's settings (Config), statistics and state buffers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "genmix/names.hpp"
#include "genmix/nn/spec.hpp"

namespace genmix {
namespace gan {

enum class Loss { Minimax, NonSaturating, Wasserstein, Hinge };
enum class Penalty { None, R1, R2, GP };
enum class Update { Simultaneous, Alternating };
enum class Optim { Adam, SGD };
enum class Latent { Normal, Uniform };
enum class Schedule { Constant, Linear, Cosine };

inline Loss parse_loss(const std::string& s) {
    static const std::pair<const char*, Loss> names[] = {{"minimax", Loss::Minimax},
                                                         {"non-saturating", Loss::NonSaturating},
                                                         {"wasserstein", Loss::Wasserstein},
                                                         {"hinge", Loss::Hinge}};
    return parse_name(s, names, "loss");
}
inline Penalty parse_penalty(const std::string& s) {
    static const std::pair<const char*, Penalty> names[] = {
        {"none", Penalty::None}, {"r1", Penalty::R1}, {"r2", Penalty::R2}, {"gp", Penalty::GP}};
    return parse_name(s, names, "penalty");
}
inline Update parse_update(const std::string& s) {
    static const std::pair<const char*, Update> names[] = {{"simultaneous", Update::Simultaneous},
                                                           {"alternating", Update::Alternating}};
    return parse_name(s, names, "update");
}
inline Optim parse_optim(const std::string& s) {
    static const std::pair<const char*, Optim> names[] = {{"adam", Optim::Adam}, {"sgd", Optim::SGD}};
    return parse_name(s, names, "optimizer");
}
inline Schedule parse_schedule(const std::string& s) {
    static const std::pair<const char*, Schedule> names[] = {
        {"constant", Schedule::Constant}, {"linear", Schedule::Linear}, {"cosine", Schedule::Cosine}};
    return parse_name(s, names, "learning-rate schedule");
}
inline Latent parse_latent(const std::string& s) {
    static const std::pair<const char*, Latent> names[] = {{"normal", Latent::Normal}, {"uniform", Latent::Uniform}};
    return parse_name(s, names, "latent distribution");
}

struct Config {
    nn::Spec G, D;  // G: latent_dim -> ... -> d, D: d -> ... -> 1 (output identity)
    Loss loss = Loss::NonSaturating;
    Penalty penalty = Penalty::None;
    double penalty_weight = 0;
    Update update = Update::Alternating;
    int d_steps = 1;
    Optim optim = Optim::Adam;
    double lr_g = 1e-4, lr_d = 1e-4, beta1 = 0.5, beta2 = 0.999, adam_eps = 1e-8;
    // both learning rates are multiplied by lr_factor(step): from 1 at step 0 down to
    // lr_end_factor at step lr_decay_steps, constant after
    Schedule schedule = Schedule::Constant;
    std::int64_t lr_decay_steps = 1;
    double lr_end_factor = 1;
    long batch = 64;
    double ema = -1;  // < 0: no EMA
    Latent latent = Latent::Normal;
    int n_threads = 0;
    long latent_dim() const { return G.d_in(); }
    long dim() const { return G.d_out(); }
};

// The learning-rate multiplier of (0-based, global) step `step`: a function of the step count
// alone, so a resumed run follows the same schedule as a straight one.
inline double lr_factor(const Config& c, std::int64_t step) {
    if (c.schedule == Schedule::Constant) return 1.0;
    const double x = std::min(1.0, (double)step / (double)std::max<std::int64_t>(c.lr_decay_steps, 1));
    const double w = c.schedule == Schedule::Linear ? 1.0 - x : 0.5 * (1.0 + std::cos(3.14159265358979323846 * x));
    return c.lr_end_factor + (1.0 - c.lr_end_factor) * w;
}

// Statistics of one step, in this order (what Python's history_ records).
enum Stat { kDLoss, kGLoss, kPenalty, kDReal, kDFake, kDGradNorm, kGGradNorm, kNStats };

inline bool finite_stats(const double* st) {
    for (int k = 0; k < kNStats; ++k)
        if (!std::isfinite(st[k])) return false;
    return true;
}

// The caller's state buffers (all flat, updated in place).
template <class T>
struct State {
    T *g, *d, *g_ema;        // g_ema may be null (no EMA)
    T *g_m, *g_v, *d_m, *d_v;  // g_v / d_v unused (may be null) for SGD
    std::int64_t* counters;  // [completed steps, Adam t of G, Adam t of D]
    std::uint64_t seed;
};

}  // namespace gan
}  // namespace genmix
