// Discriminator-only training against a fixed generator: the density-ratio estimate.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>

#include "genmix/gan/config.hpp"
#include "genmix/gan/optimizer.hpp"
#include "genmix/gan/train.hpp"
#include "genmix/gan/trainer.hpp"
#include "genmix/parallel.hpp"
#include "genmix/rng.hpp"

namespace genmix {
namespace gan {

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

}  // namespace gan
}  // namespace genmix
