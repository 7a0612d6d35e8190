// Whole batches through a network: super-blocks in order, small networks by halves.

#pragma once

#include <algorithm>
#include <utility>
#include <chrono>
#include <stdexcept>

#include "genmix/nn/net.hpp"
#include "genmix/nn/par.hpp"
#include "genmix/nn/spec.hpp"
#include "genmix/nn/tape.hpp"
#include "genmix/parallel.hpp"

namespace genmix {
namespace nn {

// Small networks. When every layer's weight gradient is summed per half of the samples
// anyway (sum_per_half), a super-block goes through as its two halves, each with its own
// tape and gradient buffer, and the halves' gradients are then added in a fixed order
// (add_halves). With two threads each half is a whole pass on one thread: no
// synchronisation between layers, and a half's activations stay in one core's cache. With
// one thread, or more than two, the halves go in turn, each with every thread on its
// products (whose bits do not depend on the split). Either way the same bits.

inline bool by_halves(const Spec& s, long B) {
    for (int l = 0; l < s.n_layers(); ++l)
        if (!sum_per_half(s.n_out(l), s.n_in(l), B)) return false;
    return true;
}

// body(half, c0, c1, tape, par) for the halves (samples c0..c1) of a super-block of B samples
// of network s; half_grad[h] is sized when `grads`.
template <class T, class Body>
void for_halves(Workspace<T>& ws, const Spec& s, long B, bool penalty, bool grads, int n_threads, Body&& body) {
    const long h = half_cut(B);
    ws.half_tp[0].reserve(s, h, penalty);
    ws.half_tp[1].reserve(s, B - h, penalty);
    if (grads)
        for (Vec<T>& g : ws.half_grad)
            if (g.size() < s.n_params) g.resize(s.n_params);
    const Par<T> all = ws.par(n_threads);
    if (all.nt == 2) {
        parallel_for(2, 2, [&](long t) {
            const Par<T> one{1, all.packs + t, true};
            body((int)t, t == 0 ? 0L : h, t == 0 ? h : B, ws.half_tp[t], one);
        });
        return;
    }
    const Par<T> every{all.nt, all.packs, true};
    body(0, 0L, h, ws.half_tp[0], every);
    body(1, h, B, ws.half_tp[1], every);
}

// grad (+)= half_grad[0] + half_grad[1], each element added in that order.
template <class T>
void add_halves(const Workspace<T>& ws, long n, T* grad, bool accumulate, int n_threads) {
    parallel_for(ceil_div(n, kElementwiseSlice), n_threads, [&](long si) {
        const long lo = si * kElementwiseSlice;
        add_in_order(ws.half_grad[0].data(), ws.half_grad[1].data(), lo, std::min(n, lo + kElementwiseSlice), grad,
                     accumulate);
    });
}

// ---------------------------------------------------------------------------------------
// Batch drivers: super-blocks in order, the caller's poll asked between them (at most
// every 50 ms; a true answer throws Interrupted).

template <class Body>
void for_superblocks(long n, const PollFn* poll, Body&& body) {
    using clock = std::chrono::steady_clock;
    auto last_poll = clock::now();
    for (long r0 = 0; r0 < n; r0 += kSuperRows) {
        if (r0 > 0 && poll && *poll) {
            const auto now = clock::now();
            if (std::chrono::duration<double>(now - last_poll).count() >= 0.05) {
                last_poll = now;
                if ((*poll)()) throw Interrupted();
            }
        }
        body(r0, std::min(kSuperRows, n - r0));
    }
}

// out: C-contiguous (n, d_out).
template <class T>
void forward(const Spec& s, const T* params, const T* X, long n, T* out, int n_threads,
             const PollFn* poll = nullptr, Workspace<T>* ws = nullptr) {
    Workspace<T> local;
    Workspace<T>& w = ws ? *ws : local;
    const Par<T> par = w.par(n_threads);
    const Net<T> net{s, params};
    const long din = s.d_in(), dout = s.d_out();
    for_superblocks(n, poll, [&](long r0, long B) {
        if (by_halves(s, B)) {
            for_halves(w, s, B, false, false, n_threads, [&](int, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                const T* f = net.forward(X + (r0 + c0) * din, c1 - c0, tp, one);
                std::copy(f, f + (c1 - c0) * dout, out + (r0 + c0) * dout);
            });
            return;
        }
        w.tp.reserve(s, std::min(n, kSuperRows), false);
        const T* f = net.forward(X + r0 * din, B, w.tp, par);
        std::copy(f, f + B * dout, out + r0 * dout);
    });
}

// grad (n_params, overwritten) = sum_i J_theta(x_i)^T G_i; dX (optional, (n, d_in)) =
// J_x(x_i)^T G_i per row.
template <class T>
void backward(const Spec& s, const T* params, const T* X, const T* G, long n, T* grad, T* dX, int n_threads,
              const PollFn* poll = nullptr, Workspace<T>* ws = nullptr) {
    Workspace<T> local;
    Workspace<T>& w = ws ? *ws : local;
    const Par<T> par = w.par(n_threads);
    const Net<T> net{s, params};
    const long din = s.d_in(), dout = s.d_out();
    if (grad && n == 0) std::fill(grad, grad + s.n_params, T(0));
    for_superblocks(n, poll, [&](long r0, long B) {
        if (by_halves(s, B)) {
            for_halves(w, s, B, false, grad != nullptr, n_threads,
                       [&](int h, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                           const T* Xh = X + (r0 + c0) * din;
                           net.forward(Xh, c1 - c0, tp, one);
                           net.backward(Xh, G + (r0 + c0) * dout, c1 - c0, tp, grad ? w.half_grad[h].data() : nullptr,
                                        false, dX ? dX + (r0 + c0) * din : nullptr, one);
                       });
            if (grad) add_halves(w, s.n_params, grad, r0 > 0, n_threads);
            return;
        }
        w.tp.reserve(s, std::min(n, kSuperRows), false);
        net.forward(X + r0 * din, B, w.tp, par);
        net.backward(X + r0 * din, G + r0 * dout, B, w.tp, grad, r0 > 0, dX ? dX + r0 * din : nullptr, par);
    });
}

// As backward, for a batch that fits one super-block (n <= kSuperRows) whose forward pass
// forward(s, params, X, n, ..., ws) has just filled ws's tape (or its halves' tapes): the
// forward pass is not redone.
template <class T>
void backward_after_forward(const Spec& s, const T* params, const T* X, const T* G, long n, T* grad, T* dX,
                            int n_threads, Workspace<T>& ws) {
    if (n > kSuperRows) throw std::logic_error("backward_after_forward: the batch spans several super-blocks");
    const Net<T> net{s, params};
    if (by_halves(s, n)) {
        const long din = s.d_in(), dout = s.d_out();
        for_halves(ws, s, n, false, grad != nullptr, n_threads,
                   [&](int h, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                       net.backward(X + c0 * din, G + c0 * dout, c1 - c0, tp, grad ? ws.half_grad[h].data() : nullptr,
                                    false, dX ? dX + c0 * din : nullptr, one);
                   });
        if (grad) add_halves(ws, s.n_params, grad, false, n_threads);
        return;
    }
    net.backward(X, G, n, ws.tp, grad, false, dX, ws.par(n_threads));
}

// Returns R = mean_i (||grad_x f(x_i)|| - center)^2 and writes into grad the gradient of
// scale * R + sum_i G_i f(x_i) (the second term only when G, (n, 1), is given: a loss on
// the same rows, e.g. a discriminator's loss on real data with its R1 penalty, shares the
// forward pass and the downward pass).
template <class T>
double input_gradient_penalty(const Spec& s, const T* params, const T* X, long n, T center, T* grad,
                              int n_threads, const PollFn* poll = nullptr, Workspace<T>* ws = nullptr,
                              const T* G = nullptr, T scale = T(1)) {
    if (s.d_out() != 1) throw std::invalid_argument("the input-gradient penalty needs a network with one output");
    Workspace<T> local;
    Workspace<T>& w = ws ? *ws : local;
    const Par<T> par = w.par(n_threads);
    const Net<T> net{s, params};
    const T weight = scale / (T)n;
    const long din = s.d_in();
    double total = 0;
    if (n == 0) std::fill(grad, grad + s.n_params, T(0));
    for_superblocks(n, poll, [&](long r0, long B) {
        if (by_halves(s, B)) {
            double half_total[2];
            for_halves(w, s, B, true, true, n_threads, [&](int h, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                const T* Xh = X + (r0 + c0) * din;
                net.forward(Xh, c1 - c0, tp, one);
                half_total[h] = net.penalty(Xh, G ? G + r0 + c0 : nullptr, c1 - c0, center, weight, tp,
                                            w.half_grad[h].data(), false, one);
            });
            add_halves(w, s.n_params, grad, r0 > 0, n_threads);
            total += half_total[0];
            total += half_total[1];
            return;
        }
        w.tp.reserve(s, std::min(n, kSuperRows), true);
        net.forward(X + r0 * din, B, w.tp, par);
        total += net.penalty(X + r0 * din, G ? G + r0 : nullptr, B, center, weight, w.tp, grad, r0 > 0, par);
    });
    return total / (double)n;
}

}  // namespace nn
}  // namespace genmix
