// The buffers of a training loop and the steps of its passes (Trainer); one training
// step is Trainer::step.
//
// State. Every piece of state is a flat buffer owned by the caller and updated in place:
// the generator's and discriminator's parameters (nn/spec.hpp layout), the optimizer moments
// (Adam: m, v; SGD: the momentum buffer in m), the EMA copy of the generator, and three
// counters: completed steps, Adam step counts of G and D. The random numbers of step s
// (sub-step k of the d_steps discriminator updates) come from a xoshiro256** stream seeded
// from (seed, s, k) alone, so the RNG "state" is just (seed, step): a run can be saved and
// resumed bit-identically.
//
// Determinism. Every batch sum goes through nn/batch.hpp's passes (the same bits for any thread
// count); optimizer updates are elementwise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "genmix/gan/config.hpp"
#include "genmix/gan/discriminator.hpp"
#include "genmix/gan/draws.hpp"
#include "genmix/gan/losses.hpp"
#include "genmix/gan/optimizer.hpp"
#include "genmix/nn/batch.hpp"
#include "genmix/nn/tape.hpp"
#include "genmix/parallel.hpp"

namespace genmix {
namespace gan {

// A run's state in the trainer's own buffers (train() says why): parameters, optimizer
// moments (gv, dv empty for SGD), the EMA of G (empty: none), and the counters
// [completed steps, Adam t of G, Adam t of D].
template <class T>
struct RunState {
    nn::Vec<T> g, d, gm, dm, gv, dv, ge;
    std::int64_t counters[3] = {0, 0, 0};

    bool all_finite() const {  // (an empty buffer is finite)
        return g.allFinite() && d.allFinite() && gm.allFinite() && dm.allFinite() && gv.allFinite() &&
               dv.allFinite() && ge.allFinite();
    }
};

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
    nn::Vec<T> d_next, dm_next, dv_next;  // step(): D's update when G's step needs the old D

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

    // One training step of w, the step w.counters[0] of the run `seed`: the d_steps - 1
    // discriminator-only updates, then D's and G's updates (simultaneous: both at the same
    // point; alternating: G's through the updated D), then G's EMA; the step's statistics
    // into st. Returns false as soon as a loss or gradient is not finite, leaving w partly
    // updated (train() restores a snapshot); true with w the state after the step.
    bool step(const T* X, long n_rows, RunState<T>& w, std::uint64_t seed, double* st) {
        const std::int64_t step = w.counters[0];
        const long ng = c.G.n_params, nd = c.D.n_params;
        const double lr_mult = lr_factor(c, step), lr_d = c.lr_d * lr_mult, lr_g = c.lr_g * lr_mult;
        // (gv, dv: null for SGD, whose update ignores them)
        for (int sub = 0; sub < c.d_steps - 1; ++sub) {
            draw_step(seed, step, sub + 1, n_rows);
            gather(X, n_rows);
            generate(w.g.data());
            d_grad(w.d.data(), st);
            if (!std::isfinite(st[kDLoss]) || !std::isfinite(st[kDGradNorm])) return false;
            optimizer_step<T>(c, lr_d, nd, w.d.data(), gd.data(), w.dm.data(), w.dv.data(), w.counters[2]);
        }
        draw_step(seed, step, 0, n_rows);
        gather(X, n_rows);
        generate(w.g.data());
        d_grad(w.d.data(), st);
        if (c.update == Update::Simultaneous) {
            g_grad(w.g.data(), w.d.data(), st);
            if (!finite_stats(st)) return false;
            optimizer_step<T>(c, lr_d, nd, w.d.data(), gd.data(), w.dm.data(), w.dv.data(), w.counters[2]);
            optimizer_step<T>(c, lr_g, ng, w.g.data(), gg.data(), w.gm.data(), w.gv.data(), w.counters[1]);
        } else {
            if (!std::isfinite(st[kDLoss]) || !std::isfinite(st[kDGradNorm])) return false;
            if (c.d_steps == 1) {  // D's update into the spare buffers, which then swap in: no copy
                const bool adam = c.optim == Optim::Adam;
                if (d_next.size() != nd) {
                    d_next.resize(nd);
                    dm_next.resize(nd);
                    if (adam) dv_next.resize(nd);
                }
                std::int64_t td = w.counters[2];
                optimizer_step<T>(c, lr_d, nd, w.d.data(), gd.data(), w.dm.data(), w.dv.data(), d_next.data(),
                                  dm_next.data(), adam ? dv_next.data() : nullptr, td);
                g_grad(w.g.data(), d_next.data(), st);
                if (!finite_stats(st)) return false;
                w.d.swap(d_next);
                w.dm.swap(dm_next);
                if (adam) w.dv.swap(dv_next);
                w.counters[2] = td;
            } else {
                optimizer_step<T>(c, lr_d, nd, w.d.data(), gd.data(), w.dm.data(), w.dv.data(), w.counters[2]);
                g_grad(w.g.data(), w.d.data(), st);
                if (!finite_stats(st)) return false;
            }
            optimizer_step<T>(c, lr_g, ng, w.g.data(), gg.data(), w.gm.data(), w.gv.data(), w.counters[1]);
        }
        if (w.ge.size()) {
            nn::MapV<T> E(w.ge.data(), ng);
            // warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): the decay
            // is min(ema, (1 + t) / (10 + t)) after t = step + 1 updates, so the average is not
            // dominated by the initial weights in short runs
            const double t = (double)(step + 1);
            const T a = (T)std::min(c.ema, (1.0 + t) / (10.0 + t));
            E = a * E + (T(1) - a) * nn::MapCV<T>(w.g.data(), ng);
        }
        w.counters[0] = step + 1;
        return true;
    }
};

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
