// The GAN trainer: a whole training step (minibatch and latent draws, generator forward,
// discriminator forward/backward on real and fake data with its gradient penalty, both
// optimizer updates, the EMA of the generator) runs here, on raw buffers, with no Python.
//
// State. Every piece of state is a flat buffer owned by the caller and updated in place:
// the generator's and discriminator's parameters (nn.hpp layout), the optimizer moments
// (Adam: m, v; SGD: the momentum buffer in m), the EMA copy of the generator, and three
// counters: completed steps, Adam step counts of G and D. The random numbers of step s
// (sub-step k of the d_steps discriminator updates) come from a xoshiro256** stream seeded
// from (seed, s, k) alone, so the RNG "state" is just (seed, step): a run can be saved and
// resumed bit-identically.
//
// Determinism. Every batch sum goes through nn.hpp's passes (the same bits for any thread
// count); optimizer updates are elementwise.
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

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "genmix/nn.hpp"
#include "genmix/parallel.hpp"
#include "genmix/rng.hpp"

namespace genmix {
namespace gan {

enum class Loss { Minimax, NonSaturating, Wasserstein, Hinge };
enum class Penalty { None, R1, R2, GP };
enum class Update { Simultaneous, Alternating };
enum class Optim { Adam, SGD };
enum class Latent { Normal, Uniform };
enum class Schedule { Constant, Linear, Cosine };

inline Loss parse_loss(const std::string& s) {
    if (s == "minimax") return Loss::Minimax;
    if (s == "non-saturating") return Loss::NonSaturating;
    if (s == "wasserstein") return Loss::Wasserstein;
    if (s == "hinge") return Loss::Hinge;
    throw std::invalid_argument("unknown loss '" + s + "'");
}
inline Penalty parse_penalty(const std::string& s) {
    if (s == "none") return Penalty::None;
    if (s == "r1") return Penalty::R1;
    if (s == "r2") return Penalty::R2;
    if (s == "gp") return Penalty::GP;
    throw std::invalid_argument("unknown penalty '" + s + "'");
}
inline Update parse_update(const std::string& s) {
    if (s == "simultaneous") return Update::Simultaneous;
    if (s == "alternating") return Update::Alternating;
    throw std::invalid_argument("unknown update '" + s + "'");
}
inline Optim parse_optim(const std::string& s) {
    if (s == "adam") return Optim::Adam;
    if (s == "sgd") return Optim::SGD;
    throw std::invalid_argument("unknown optimizer '" + s + "'");
}
inline Schedule parse_schedule(const std::string& s) {
    if (s == "constant") return Schedule::Constant;
    if (s == "linear") return Schedule::Linear;
    if (s == "cosine") return Schedule::Cosine;
    throw std::invalid_argument("unknown learning-rate schedule '" + s + "'");
}
inline Latent parse_latent(const std::string& s) {
    if (s == "normal") return Latent::Normal;
    if (s == "uniform") return Latent::Uniform;
    throw std::invalid_argument("unknown latent distribution '" + s + "'");
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

// The caller's state buffers (all flat, updated in place).
template <class T>
struct State {
    T *g, *d, *g_ema;        // g_ema may be null (no EMA)
    T *g_m, *g_v, *d_m, *d_v;  // g_v / d_v unused (may be null) for SGD
    std::int64_t* counters;  // [completed steps, Adam t of G, Adam t of D]
    std::uint64_t seed;
};

// ---------------------------------------------------------------------------------------
// Random draws of one (step, sub-step): row indices (uniform, with replacement), latent
// noise (standard normal by Box-Muller, or uniform on [-1, 1)), interpolation weights.

inline std::uint64_t stream_seed(std::uint64_t seed, std::int64_t step, int sub) {
    return splitmix64(splitmix64(seed ^ 0x6a09e667f3bcc909ULL) + (std::uint64_t)step * 0x9e3779b97f4a7c15ULL +
                      (std::uint64_t)sub);
}

// The stream's part: row indices, latent draws, interpolation weights, in that order. Normal
// latents are left as their uniforms u (pairs (u1, u2), nz values rounded up to even) for
// box_muller, which a training step runs per half of the batch; uniform latents go to z.
template <class T>
void draw_uniforms(std::uint64_t seed, std::int64_t step, int sub, long n_rows, long batch, long latent_dim,
                   Latent latent, long* idx, double* u, T* z, T* eps) {
    Xoshiro256 rng(stream_seed(seed, step, sub));
    for (long i = 0; i < batch; ++i) idx[i] = (long)rng.below((std::uint64_t)n_rows);
    const long nz = batch * latent_dim;
    if (latent == Latent::Normal) {
        for (long i = 0; i < nz; i += 2) {
            u[i] = 1.0 - rng.uniform();
            u[i + 1] = rng.uniform();
        }
    } else {
        for (long i = 0; i < nz; ++i) z[i] = (T)(2.0 * rng.uniform() - 1.0);
    }
    for (long i = 0; i < batch; ++i) eps[i] = (T)rng.uniform();
}

// Standard normals z[lo..hi) (lo even; hi may end in half a pair) from draw_uniforms' u.
template <class T>
void box_muller(const double* u, long lo, long hi, T* z) {
    for (long i = lo; i < hi; i += 2) {
        const double r = std::sqrt(-2.0 * std::log(u[i])), t = 6.283185307179586476925286766559 * u[i + 1];
        z[i] = (T)(r * std::cos(t));
        if (i + 1 < hi) z[i + 1] = (T)(r * std::sin(t));
    }
}

template <class T>
void draw(std::uint64_t seed, std::int64_t step, int sub, long n_rows, long batch, long latent_dim, Latent latent,
          long* idx, T* z, T* eps) {
    std::vector<double> u(latent == Latent::Normal ? (std::size_t)((batch * latent_dim + 1) / 2 * 2) : 0);
    draw_uniforms<T>(seed, step, sub, n_rows, batch, latent_dim, latent, idx, u.data(), z, eps);
    if (latent == Latent::Normal) box_muller<T>(u.data(), 0, batch * latent_dim, z);
}

// ---------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------

// The discriminator on B rows X (a super-block, or one half of one): forward, the loss of
// `role` per row (loss_rows, stat_rows get each row's loss and D statistic, gout its dl/df / n
// for a batch of n), then the backward pass into grad (overwritten, or added to when
// accumulate; null: none) and dX (optional: the input gradient of the loss, not with a
// penalty), or with `pen` the penalty's pass for (pen_scale / n) * sum (||grad_x f|| - center)^2
// plus the loss. Returns the sum of (||grad_x f|| - center)^2 over the rows (0 without pen).
template <class T>
double discriminate_rows(const Config& c, const nn::Net<T>& net, const T* X, long B, long n, Role role, bool pen,
                         T center, T pen_scale, T* grad, bool accumulate, T* dX, double* loss_rows, double* stat_rows,
                         T* gout, nn::Tape<T>& tp, const nn::Par<T>& par) {
    const T inv_n = T(1) / (T)n;
    const T* f = net.forward(X, B, tp, par);
    for (long i = 0; i < B; ++i) {
        const double fi = (double)f[i];
        double l, dl;
        row_loss(c.loss, role, fi, l, dl, stat_rows[i]);
        loss_rows[i] = l;
        gout[i] = (T)dl * inv_n;
    }
    if (pen)
        return net.penalty(X, role == Role::None ? nullptr : gout, B, center, pen_scale * inv_n, tp, grad, accumulate,
                           par);
    if (grad || dX) net.backward(X, gout, B, tp, grad, accumulate, dX, par);
    return 0.0;
}

// discriminate_rows over a batch of n rows, in super-blocks on all threads; returns the
// penalty's sum.
template <class T>
double d_pass(const Config& c, const T* d, const T* X, long n, Role role, bool pen, T center, T pen_scale, T* grad,
              bool accumulate, T* dX, double* loss_rows, double* stat_rows, nn::Workspace<T>& ws) {
    const nn::Net<T> net{c.D, d};
    const nn::Par<T> par = ws.par(c.n_threads);
    const long dim = c.dim();
    if (ws.gout.size() < n) ws.gout.resize(n);
    ws.tp.reserve(c.D, std::min(n, nn::kSuperRows), pen);
    double pen_sum = 0;
    nn::for_superblocks(n, nullptr, [&](long r0, long B) {
        pen_sum += discriminate_rows<T>(c, net, X + r0 * dim, B, n, role, pen, center, pen_scale, grad,
                                        accumulate || r0 > 0, dX ? dX + r0 * dim : nullptr, loss_rows + r0,
                                        stat_rows + r0, ws.gout.data() + r0, ws.tp, par);
    });
    return pen_sum;
}

// All buffers of a training loop.
template <class T>
struct Trainer {
    const Config& c;
    // small networks at a batch of one super-block: each step's passes run as the batch's
    // two halves, a whole half per thread (nn::for_halves)
    const bool halves;
    std::vector<long> idx;
    std::vector<double> u;  // the latent draws' uniforms, until generate() turns them into z
    bool z_pending = false;
    nn::Vec<T> real, z, eps, fake, interp, dX, gd, gg;
    std::vector<double> slice_sums, loss_rows, stat_rows;  // per row: real, fake, interpolates
    nn::Workspace<T> dws, gws;

    explicit Trainer(const Config& cfg)
        : c(cfg), halves(c.batch <= nn::kSuperRows && nn::by_halves(c.D, c.batch) && nn::by_halves(c.G, c.batch)) {
        const long B = c.batch, d = c.dim();
        idx.resize(B);
        u.resize((std::size_t)((B * c.latent_dim() + 1) / 2 * 2));
        real.resize(B * d);
        z.resize(B * c.latent_dim());
        eps.resize(B);
        fake.resize(B * d);
        interp.resize(B * d);
        dX.resize(B * d);
        gd.resize(c.D.n_params);
        gg.resize(c.G.n_params);
        loss_rows.resize(3 * B);  // real, fake, interpolates
        stat_rows.resize(3 * B);
        dws.gout.resize(B);
        if (halves) {
            gws.half_grad[0].resize(c.G.n_params);
            gws.half_grad[1].resize(c.G.n_params);
        }
    }

    // ||x||, in double: fixed slices (whose sums do not depend on the thread count) over threads.
    double norm(const nn::Vec<T>& x) {
        const long n = x.size(), n_slices = (n + nn::kElementwiseSlice - 1) / nn::kElementwiseSlice;
        slice_sums.assign((std::size_t)n_slices, 0.0);
        parallel_for(n_slices, c.n_threads, [&](long si) {
            const long lo = si * nn::kElementwiseSlice, len = std::min(n, lo + nn::kElementwiseSlice) - lo;
            double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // eight chains, combined in a fixed order
            const T* v = x.data() + lo;
            long i = 0;
            for (; i + 8 <= len; i += 8)
                for (int r = 0; r < 8; ++r) acc[r] += (double)v[i + r] * (double)v[i + r];
            for (; i < len; ++i) acc[0] += (double)v[i] * (double)v[i];
            slice_sums[si] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        });
        double total = 0;
        for (double v : slice_sums) total += v;
        return std::sqrt(total);
    }

    void gather(const T* X, long n_rows) {
        const long d = c.dim();
        for (long i = 0; i < c.batch; ++i)
            std::copy(X + idx[i] * d, X + idx[i] * d + d, real.data() + i * d);
        (void)n_rows;
    }

    // The random draws of (step, sub-step) from `seed`; z is completed by generate().
    void draw_step(std::uint64_t seed, std::int64_t step, int sub, long n_rows) {
        draw_uniforms<T>(seed, step, sub, n_rows, c.batch, c.latent_dim(), c.latent, idx.data(), u.data(), z.data(),
                         eps.data());
        z_pending = c.latent == Latent::Normal;
    }

    // fake = G(z), after finishing z's draws (per half of the batch with the halves' passes)
    void generate(const T* g) {
        const long B = c.batch, zd = c.latent_dim(), d = c.dim();
        if (halves) {
            const nn::Net<T> net{c.G, g};
            nn::for_halves(gws, c.G, B, false, false, c.n_threads,
                           [&](int, long c0, long c1, nn::Tape<T>& tp, const nn::Par<T>& one) {
                               if (z_pending) box_muller<T>(u.data(), c0 * zd, c1 * zd, z.data());
                               const T* f = net.forward(z.data() + c0 * zd, c1 - c0, tp, one);
                               std::copy(f, f + (c1 - c0) * d, fake.data() + c0 * d);
                           });
        } else {
            if (z_pending) box_muller<T>(u.data(), 0, B * zd, z.data());
            nn::forward<T>(c.G, g, z.data(), B, fake.data(), c.n_threads, nullptr, &gws);
        }
        z_pending = false;
    }

    // The sum, in row order, of the batch's rows of pass `which` (0 real, 1 fake) in v.
    double batch_sum(const std::vector<double>& v, int which) const {
        return std::accumulate(v.begin() + which * c.batch, v.begin() + (which + 1) * c.batch, 0.0);
    }

    void interpolate(long r0, long r1) {
        const long dim = c.dim();
        for (long i = r0; i < r1; ++i) {
            const T e = eps[i];
            for (long j = 0; j < dim; ++j) interp[i * dim + j] = e * real[i * dim + j] + (T(1) - e) * fake[i * dim + j];
        }
    }

    // D's gradient (into gd) at (g, d) for the current real / fake / eps buffers;
    // `fake` must hold G(z). Fills stats kDLoss, kPenalty, kDReal, kDFake, kDGradNorm.
    // The fake (and interpolate) passes add to the real pass's gradient.
    void d_grad(const T* d, double* stats) {
        const long B = c.batch, dim = c.dim();
        const T half_gamma = (T)(0.5 * c.penalty_weight);
        const bool r1 = c.penalty == Penalty::R1, r2 = c.penalty == Penalty::R2, gp = c.penalty == Penalty::GP;
        double* lr = loss_rows.data();
        double* dr = stat_rows.data();
        double pen = 0;
        if (halves) {
            const nn::Net<T> net{c.D, d};
            double half_pen[2];
            nn::for_halves(
                dws, c.D, B, c.penalty != Penalty::None, true, c.n_threads,
                [&](int h, long c0, long c1, nn::Tape<T>& tp, const nn::Par<T>& one) {
                    // rows c0..c1 of the real, fake (and interpolate) passes, into this half's gradient
                    auto pass = [&](const nn::Vec<T>& X, long rows_at, Role role, bool with_pen, T center,
                                    bool accumulate) {
                        return discriminate_rows<T>(c, net, X.data() + c0 * dim, c1 - c0, B, role, with_pen, center,
                                                    half_gamma, dws.half_grad[h].data(), accumulate, nullptr,
                                                    lr + rows_at + c0, dr + rows_at + c0, dws.gout.data() + c0, tp,
                                                    one);
                    };
                    double p = pass(real, 0, Role::DReal, r1, T(0), false);
                    p += pass(fake, B, Role::DFake, r2, T(0), true);
                    if (gp) {
                        interpolate(c0, c1);
                        p += pass(interp, 2 * B, Role::None, true, T(1), true);
                    }
                    half_pen[h] = p;
                });
            nn::add_halves(dws, c.D.n_params, gd.data(), false, c.n_threads);
            pen = half_pen[0] + half_pen[1];
        } else {
            pen += d_pass<T>(c, d, real.data(), B, Role::DReal, r1, T(0), half_gamma, gd.data(), false, nullptr, lr,
                             dr, dws);
            pen += d_pass<T>(c, d, fake.data(), B, Role::DFake, r2, T(0), half_gamma, gd.data(), true, nullptr,
                             lr + B, dr + B, dws);
            if (gp) {
                interpolate(0, B);
                pen += d_pass<T>(c, d, interp.data(), B, Role::None, true, T(1), half_gamma, gd.data(), true, nullptr,
                                 lr + 2 * B, dr + 2 * B, dws);
            }
        }
        pen /= (double)B;
        const double l_real = batch_sum(loss_rows, 0), l_fake = batch_sum(loss_rows, 1);
        const double pen_term = c.penalty == Penalty::None ? 0.0 : 0.5 * c.penalty_weight * pen;
        stats[kDLoss] = (l_real + l_fake) / (double)B + pen_term;
        stats[kPenalty] = pen;
        stats[kDReal] = batch_sum(stat_rows, 0) / (double)B;
        stats[kDFake] = batch_sum(stat_rows, 1) / (double)B;
        stats[kDGradNorm] = norm(gd);
    }

    // G's gradient (into gg) through D at (g, d) for the current z; `fake` must hold G(z),
    // computed by generate(g) with nothing else run on gws since.
    void g_grad(const T* g, const T* d, double* stats) {
        const long B = c.batch, dim = c.dim(), zd = c.latent_dim();
        double* lr = loss_rows.data();
        double* dr = stat_rows.data();
        if (halves) {  // gws's half tapes still hold generate()'s forward pass of this g and z
            const nn::Net<T> dnet{c.D, d}, gnet{c.G, g};
            nn::for_halves(dws, c.D, B, false, false, c.n_threads,
                           [&](int h, long c0, long c1, nn::Tape<T>& tp, const nn::Par<T>& one) {
                               const long m = c1 - c0;
                               T* dx = dX.data() + c0 * dim;
                               discriminate_rows<T>(c, dnet, fake.data() + c0 * dim, m, B, Role::GFake, false, T(0),
                                                    T(0), nullptr, false, dx, lr + c0, dr + c0, dws.gout.data() + c0,
                                                    tp, one);
                               gnet.backward(z.data() + c0 * zd, dx, m, gws.half_tp[h], gws.half_grad[h].data(), false,
                                             nullptr, one);
                           });
            nn::add_halves(gws, c.G.n_params, gg.data(), false, c.n_threads);
        } else {
            d_pass<T>(c, d, fake.data(), B, Role::GFake, false, T(0), T(0), nullptr, false, dX.data(), lr, dr, dws);
            if (B <= nn::kSuperRows)  // gws's tape still holds generate()'s forward pass of this g and z
                nn::backward_after_forward<T>(c.G, g, z.data(), dX.data(), B, gg.data(), nullptr, c.n_threads, gws);
            else
                nn::backward<T>(c.G, g, z.data(), dX.data(), B, gg.data(), nullptr, c.n_threads, nullptr, &gws);
        }
        stats[kGLoss] = batch_sum(loss_rows, 0) / (double)B;
        stats[kGGradNorm] = norm(gg);
    }
};

// One optimizer update of n parameters: reads (p, m, v), writes (p_out, m_out, v_out),
// which may be the same buffers. Elementwise, in fixed slices spread over threads (each
// slice starts at a multiple of nn::kElementwiseSlice, so Eigen vectorises every element the same way
// whatever the thread count).
template <class T>
void optimizer_step(const Config& c, double lr, long n, const T* p, const T* grad, const T* m, const T* v, T* p_out,
                    T* m_out, T* v_out, std::int64_t& t) {
    t += 1;
    const bool adam = c.optim == Optim::Adam;
    const T b1 = (T)c.beta1, b2 = (T)c.beta2;
    const double bc1 = 1.0 - std::pow(c.beta1, (double)t), bc2 = 1.0 - std::pow(c.beta2, (double)t);
    const T step = (T)(lr / bc1), inv_sqrt_bc2 = (T)(1.0 / std::sqrt(bc2)), e = (T)c.adam_eps;
    parallel_for((n + nn::kElementwiseSlice - 1) / nn::kElementwiseSlice, c.n_threads, [&](long si) {
        const long lo = si * nn::kElementwiseSlice, len = std::min(n, lo + nn::kElementwiseSlice) - lo;
        nn::MapCV<T> P(p + lo, len), M(m + lo, len), Gr(grad + lo, len);
        nn::MapV<T> Po(p_out + lo, len), Mo(m_out + lo, len);
        if (adam) {
            nn::MapCV<T> V(v + lo, len);
            nn::MapV<T> Vo(v_out + lo, len);
            Mo = b1 * M + (T(1) - b1) * Gr;
            Vo.array() = b2 * V.array() + (T(1) - b2) * Gr.array().square();
            Po.array() = P.array() - step * Mo.array() / (Vo.array().sqrt() * inv_sqrt_bc2 + e);
        } else {  // SGD with (heavy-ball) momentum beta1: buf = beta1 * buf + g; p -= lr * buf
            Mo = b1 * M + Gr;
            Po = P - (T)lr * Mo;
        }
    });
}

template <class T>
void optimizer_step(const Config& c, double lr, long n, T* p, const T* grad, T* m, T* v, std::int64_t& t) {
    optimizer_step<T>(c, lr, n, p, grad, m, v, p, m, v, t);
}

enum class Status { Done = 0, Stopped = 1, Diverged = 2 };

// Hook called between steps (never inside one): log(step, stats) every log_every completed
// steps and after the last; returns true to stop. poll() asks whether to stop (Ctrl-C);
// it is called between steps about every 50 ms and may throw.
using LogFn = std::function<bool(std::int64_t, const double*)>;

inline bool finite_stats(const double* st) {
    for (int k = 0; k < kNStats; ++k)
        if (!std::isfinite(st[k])) return false;
    return true;
}

// The state is worked on in the trainer's own (Eigen-aligned) copies and written back to
// the caller's buffers before every log call and when the loop ends (also by Ctrl-C):
// vectorised elementwise updates peel a different number of leading elements depending on
// a buffer's alignment, and the peeled (scalar, possibly FMA-contracted) elements can round
// differently, so working in place on NumPy's buffers would make the bits depend on where
// NumPy happened to allocate them.
template <class T>
Status train(const Config& c, const T* X, long n_rows, State<T>& user, std::int64_t n_steps, std::int64_t log_every,
             const LogFn& log, const PollFn* poll, double* last_stats) {
    Trainer<T> tr(c);
    const long ng = c.G.n_params, nd = c.D.n_params;
    const bool adam = c.optim == Optim::Adam;
    nn::Vec<T> g = nn::MapV<T>(user.g, ng), d = nn::MapV<T>(user.d, nd);
    nn::Vec<T> gm = nn::MapV<T>(user.g_m, ng), dm = nn::MapV<T>(user.d_m, nd);
    nn::Vec<T> gv = adam ? nn::Vec<T>(nn::MapV<T>(user.g_v, ng)) : nn::Vec<T>();
    nn::Vec<T> dv = adam ? nn::Vec<T>(nn::MapV<T>(user.d_v, nd)) : nn::Vec<T>();
    nn::Vec<T> ge = user.g_ema ? nn::Vec<T>(nn::MapV<T>(user.g_ema, ng)) : nn::Vec<T>();
    State<T> S{g.data(), d.data(), user.g_ema ? ge.data() : nullptr, gm.data(), adam ? gv.data() : nullptr,
               dm.data(), adam ? dv.data() : nullptr, user.counters, user.seed};
    auto sync = [&] {
        nn::MapV<T>(user.g, ng) = g;
        nn::MapV<T>(user.d, nd) = d;
        nn::MapV<T>(user.g_m, ng) = gm;
        nn::MapV<T>(user.d_m, nd) = dm;
        if (adam) {
            nn::MapV<T>(user.g_v, ng) = gv;
            nn::MapV<T>(user.d_v, nd) = dv;
        }
        if (user.g_ema) nn::MapV<T>(user.g_ema, ng) = ge;
    };
    // counters are updated in place; keep them in step with the buffers written back
    std::int64_t work[3] = {user.counters[0], user.counters[1], user.counters[2]};
    S.counters = work;
    auto commit = [&] {
        sync();
        std::copy(work, work + 3, user.counters);
    };
    using clock = std::chrono::steady_clock;
    auto last_poll = clock::now();
    double st[kNStats];
    std::fill(st, st + kNStats, 0.0);
    Status status = Status::Done;
    // On divergence the state kept is a finite one whose losses were seen to be finite: a
    // step with a finite loss can still step to weights that overflow (a huge learning
    // rate), or to finite weights whose outputs overflow, and either shows as a non-finite
    // loss or gradient in the next step. Copies of the whole state (weights, moments, EMA)
    // are taken every kSnapshotSteps steps, the last two kept (copying every step doubled
    // the time of a step of a large network). A non-finite loss or gradient restores the
    // newest snapshot taken before this step (its losses were finite); buffers found
    // non-finite at a snapshot, after the last step or at a stop restore the newest one
    // (snapshots are only taken of finite states). The steps after the restored state are
    // undone; the caller drops their history.
    constexpr std::int64_t kSnapshotSteps = 16;
    const bool spare = c.update == Update::Alternating && c.d_steps == 1;
    nn::Vec<T> d0, dm0, dv0;
    if (spare) {
        d0.resize(nd);
        dm0.resize(nd);
        if (adam) dv0.resize(nd);
    }
    struct Snapshot {
        nn::Vec<T> g, d, gm, dm, gv, dv, ge;
        std::int64_t counters[3];
        std::int64_t step = -1;  // the step it was taken before (-1: none)
    } cur, prev;
    auto save = [&](Snapshot& s) {
        s.g = g;
        s.d = d;
        s.gm = gm;
        s.dm = dm;
        if (adam) {
            s.gv = gv;
            s.dv = dv;
        }
        if (user.g_ema) s.ge = ge;
        std::copy(work, work + 3, s.counters);
        s.step = work[0];
    };
    auto restore = [&](const Snapshot& s) {  // assignments of equal size: the buffers (and S's pointers) stay put
        g = s.g;
        d = s.d;
        gm = s.gm;
        dm = s.dm;
        if (adam) {
            gv = s.gv;
            dv = s.dv;
        }
        if (user.g_ema) ge = s.ge;
        std::copy(s.counters, s.counters + 3, work);
    };
    auto all_finite = [&] {
        bool ok = g.allFinite() && d.allFinite() && gm.allFinite() && dm.allFinite();
        if (adam) ok = ok && gv.allFinite() && dv.allFinite();
        if (user.g_ema) ok = ok && ge.allFinite();
        return ok;
    };
    const std::int64_t first_step = S.counters[0];
    for (std::int64_t k = 0; k < n_steps; ++k) {
        const std::int64_t step = S.counters[0];
        const double lr_mult = lr_factor(c, step), lr_d = c.lr_d * lr_mult, lr_g = c.lr_g * lr_mult;
        if (k % kSnapshotSteps == 0) {
            if (!all_finite()) {  // e.g. a moment or the EMA overflowed while the losses stayed finite
                if (cur.step >= 0) restore(cur);
                status = Status::Diverged;
                break;
            }
            std::swap(prev, cur);  // O(1): swaps the vectors' buffers
            save(cur);
        }
        bool diverged = false;
        // d_steps - 1 discriminator-only updates
        for (int sub = 0; sub < c.d_steps - 1 && !diverged; ++sub) {
            tr.draw_step(S.seed, step, sub + 1, n_rows);
            tr.gather(X, n_rows);
            tr.generate(S.g);
            tr.d_grad(S.d, st);
            if (!std::isfinite(st[kDLoss]) || !std::isfinite(st[kDGradNorm])) { diverged = true; break; }
            optimizer_step<T>(c, lr_d, nd, S.d, tr.gd.data(), S.d_m, S.d_v, S.counters[2]);
        }
        if (!diverged) {
            tr.draw_step(S.seed, step, 0, n_rows);
            tr.gather(X, n_rows);
            tr.generate(S.g);
            tr.d_grad(S.d, st);
            if (c.update == Update::Simultaneous) {
                tr.g_grad(S.g, S.d, st);
                diverged = !finite_stats(st);
                if (!diverged) {
                    optimizer_step<T>(c, lr_d, nd, S.d, tr.gd.data(), S.d_m, S.d_v, S.counters[2]);
                    optimizer_step<T>(c, lr_g, ng, S.g, tr.gg.data(), S.g_m, S.g_v, S.counters[1]);
                }
            } else {
                diverged = !std::isfinite(st[kDLoss]) || !std::isfinite(st[kDGradNorm]);
                if (!diverged && spare) {
                    std::int64_t td = S.counters[2];
                    optimizer_step<T>(c, lr_d, nd, S.d, tr.gd.data(), S.d_m, S.d_v, d0.data(), dm0.data(),
                                      adam ? dv0.data() : nullptr, td);
                    tr.g_grad(S.g, d0.data(), st);
                    diverged = !finite_stats(st);
                    if (!diverged) {
                        d.swap(d0);
                        dm.swap(dm0);
                        if (adam) dv.swap(dv0);
                        S.d = d.data();
                        S.d_m = dm.data();
                        S.d_v = adam ? dv.data() : nullptr;
                        S.counters[2] = td;
                        optimizer_step<T>(c, lr_g, ng, S.g, tr.gg.data(), S.g_m, S.g_v, S.counters[1]);
                    }
                } else if (!diverged) {
                    optimizer_step<T>(c, lr_d, nd, S.d, tr.gd.data(), S.d_m, S.d_v, S.counters[2]);
                    tr.g_grad(S.g, S.d, st);
                    diverged = !finite_stats(st);
                    if (!diverged) optimizer_step<T>(c, lr_g, ng, S.g, tr.gg.data(), S.g_m, S.g_v, S.counters[1]);
                }
            }
        }
        if (!diverged && S.g_ema) {
            nn::MapV<T> E(S.g_ema, ng);
            // warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): the decay
            // is min(ema, (1 + t) / (10 + t)) after t = step + 1 updates, so the average is not
            // dominated by the initial weights in short runs
            const double t = (double)(step + 1);
            const T a = (T)std::min(c.ema, (1.0 + t) / (10.0 + t));
            E = a * E + (T(1) - a) * nn::MapCV<T>(S.g, ng);
        }
        if (diverged) {  // the newest snapshot from before this step
            restore(cur.step == step && prev.step >= 0 ? prev : cur);
            status = Status::Diverged;
            break;
        }
        S.counters[0] = step + 1;
        std::copy(st, st + kNStats, last_stats);
        const bool last = k + 1 == n_steps;
        if (log && ((step + 1) % log_every == 0 || last)) {
            commit();
            if (log(step + 1, st)) {
                status = last ? Status::Done : Status::Stopped;
                break;
            }
        }
        if (poll && *poll && !last) {
            const auto now = clock::now();
            if (std::chrono::duration<double>(now - last_poll).count() >= 0.05) {
                last_poll = now;
                if ((*poll)()) {
                    if (!all_finite()) restore(cur);
                    commit();
                    throw Interrupted();
                }
            }
        }
    }
    // The last step's (or a stop's) buffers; and, as no next step will look at them, the
    // outputs of the final generators on the last latent batch (finite weights can still
    // map to outputs beyond T's range).
    auto outputs_finite = [&] {
        if (S.counters[0] == first_step) return true;  // no step ran: no latent batch drawn
        tr.generate(S.g);
        bool ok = nn::MapCV<T>(tr.fake.data(), (long)tr.fake.size()).allFinite();
        if (ok && user.g_ema) {
            tr.generate(S.g_ema);
            ok = nn::MapCV<T>(tr.fake.data(), (long)tr.fake.size()).allFinite();
        }
        return ok;
    };
    if (status != Status::Diverged && !(all_finite() && outputs_finite())) {
        restore(cur);
        status = Status::Diverged;
    }
    if (status == Status::Diverged) std::copy(st, st + kNStats, last_stats);
    commit();
    return status;
}

// Discriminator-only training against a fixed generator g (the one that samples) or, when
// pool is not null, against n_pool fixed generated rows (drawn with replacement), from d and
// fresh optimizer moments, n_steps minibatches of its own random stream; the learning rate
// follows lr_factor. For the logistic losses D's logit then estimates log(p_data / p_g), the
// density ratio that rejection sampling needs (the training discriminator is no such
// estimate: it chases a moving generator). d is written back when the loop ends; a
// non-finite loss or gradient stops it at the last finite d (status Diverged).
template <class T>
Status calibrate(const Config& c, const T* X, long n_rows, const T* g, const T* pool, long n_pool, T* d_user,
                 std::int64_t n_steps, std::uint64_t seed, const PollFn* poll) {
    Trainer<T> tr(c);
    const long nd = c.D.n_params;
    nn::Vec<T> d = nn::MapV<T>(d_user, nd), m = nn::Vec<T>::Zero(nd), v = nn::Vec<T>::Zero(nd);
    // on divergence, the newest D whose loss was seen finite: a copy every kSnapshotSteps
    // steps, as in train (a copy per step costs as much as a small network's step)
    constexpr std::int64_t kSnapshotSteps = 16;
    nn::Vec<T> d_snap;
    std::int64_t t = 0;
    double st[kNStats];
    const std::uint64_t cal_seed = splitmix64(seed ^ 0xbb67ae8584caa73bULL);  // not the training stream
    using clock = std::chrono::steady_clock;
    auto last_poll = clock::now();
    Status status = Status::Done;
    for (std::int64_t k = 0; k < n_steps; ++k) {
        tr.draw_step(cal_seed, k, 0, n_rows);
        tr.gather(X, n_rows);
        if (pool) {  // fake rows drawn from the pool (uniformly, with replacement) instead of G
            tr.draw_step(cal_seed, k, 1, n_pool);
            for (long i = 0; i < c.batch; ++i)
                std::copy(pool + tr.idx[i] * c.dim(), pool + (tr.idx[i] + 1) * c.dim(), tr.fake.data() + i * c.dim());
        } else {
            tr.generate(g);
        }
        tr.d_grad(d.data(), st);
        if (!std::isfinite(st[kDLoss]) || !std::isfinite(st[kDGradNorm])) {
            if (d_snap.size()) d = d_snap;
            status = Status::Diverged;
            break;
        }
        if (k % kSnapshotSteps == 0) d_snap = d;  // its loss was just seen finite
        optimizer_step<T>(c, c.lr_d * lr_factor(c, k), nd, d.data(), tr.gd.data(), m.data(), v.data(), t);
        if (poll && *poll && k + 1 < n_steps) {
            const auto now = clock::now();
            if (std::chrono::duration<double>(now - last_poll).count() >= 0.05) {
                last_poll = now;
                if ((*poll)()) throw Interrupted();
            }
        }
    }
    if (status != Status::Diverged && !d.allFinite()) {  // finite loss, then a step that overflowed
        d = d_snap;
        status = Status::Diverged;
    }
    nn::MapV<T>(d_user, nd) = d;
    return status;
}

// The gradients of one step at the given state, for given draws (a test hook): gd and gg
// of the losses as documented above, D's and G's at the same point (simultaneous).
template <class T>
void gradients(const Config& c, const T* g, const T* d, const T* real, const T* z, const T* eps, T* gd, T* gg,
               double* stats) {
    Trainer<T> tr(c);
    const long B = c.batch;
    std::copy(real, real + B * c.dim(), tr.real.data());
    std::copy(z, z + B * c.latent_dim(), tr.z.data());
    std::copy(eps, eps + B, tr.eps.data());
    tr.generate(g);
    tr.d_grad(d, stats);
    tr.g_grad(g, d, stats);
    std::copy(tr.gd.data(), tr.gd.data() + c.D.n_params, gd);
    std::copy(tr.gg.data(), tr.gg.data() + c.G.n_params, gg);
}

}  // namespace gan
}  // namespace genmix
