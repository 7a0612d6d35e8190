// The training loop: steps, logging, Ctrl-C, and recovery from divergence.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>

#include "genmix/gan/config.hpp"
#include "genmix/gan/trainer.hpp"
#include "genmix/parallel.hpp"

namespace genmix {
namespace gan {

enum class Status { Done = 0, Stopped = 1, Diverged = 2 };

// Hook called between steps (never inside one): log(step, stats) every log_every completed
// steps and after the last; returns true to stop. poll() asks whether to stop (Ctrl-C);
// it is called between steps about every 50 ms and may throw.
using LogFn = std::function<bool(std::int64_t, const double*)>;

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
    RunState<T> w;
    w.g = nn::MapV<T>(user.g, ng);
    w.d = nn::MapV<T>(user.d, nd);
    w.gm = nn::MapV<T>(user.g_m, ng);
    w.dm = nn::MapV<T>(user.d_m, nd);
    if (adam) {
        w.gv = nn::MapV<T>(user.g_v, ng);
        w.dv = nn::MapV<T>(user.d_v, nd);
    }
    if (user.g_ema) w.ge = nn::MapV<T>(user.g_ema, ng);
    // counters are updated in w; the caller's are kept in step with the buffers written back
    std::copy(user.counters, user.counters + 3, w.counters);
    auto commit = [&] {
        nn::MapV<T>(user.g, ng) = w.g;
        nn::MapV<T>(user.d, nd) = w.d;
        nn::MapV<T>(user.g_m, ng) = w.gm;
        nn::MapV<T>(user.d_m, nd) = w.dm;
        if (adam) {
            nn::MapV<T>(user.g_v, ng) = w.gv;
            nn::MapV<T>(user.d_v, nd) = w.dv;
        }
        if (user.g_ema) nn::MapV<T>(user.g_ema, ng) = w.ge;
        std::copy(w.counters, w.counters + 3, user.counters);
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
    struct Snapshot {
        RunState<T> w;
        std::int64_t step = -1;  // the step it was taken before (-1: none)
    } cur, prev;
    auto save = [&](Snapshot& s) {
        s.w = w;
        s.step = w.counters[0];
    };
    // assignments of equal size: w's buffers stay put
    auto restore = [&](const Snapshot& s) { w = s.w; };
    const std::int64_t first_step = w.counters[0];
    for (std::int64_t k = 0; k < n_steps; ++k) {
        const std::int64_t step = w.counters[0];
        if (k % kSnapshotSteps == 0) {
            if (!w.all_finite()) {  // e.g. a moment or the EMA overflowed while the losses stayed finite
                if (cur.step >= 0) restore(cur);
                status = Status::Diverged;
                break;
            }
            std::swap(prev, cur);  // O(1): swaps the vectors' buffers
            save(cur);
        }
        if (!tr.step(X, n_rows, w, user.seed, st)) {  // the newest snapshot from before this step
            restore(cur.step == step && prev.step >= 0 ? prev : cur);
            status = Status::Diverged;
            break;
        }
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
                    if (!w.all_finite()) restore(cur);
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
        if (w.counters[0] == first_step) return true;  // no step ran: no latent batch drawn
        tr.generate(w.g.data());
        bool ok = nn::MapCV<T>(tr.fake.data(), (long)tr.fake.size()).allFinite();
        if (ok && user.g_ema) {
            tr.generate(w.ge.data());
            ok = nn::MapCV<T>(tr.fake.data(), (long)tr.fake.size()).allFinite();
        }
        return ok;
    };
    if (status != Status::Diverged && !(w.all_finite() && outputs_finite())) {
        restore(cur);
        status = Status::Diverged;
    }
    if (status == Status::Diverged) std::copy(st, st + kNStats, last_stats);
    commit();
    return status;
}

}  // namespace gan
}  // namespace genmix
