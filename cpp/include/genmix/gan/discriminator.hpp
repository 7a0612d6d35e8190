// The discriminator's passes of a step: its loss on real, fake or interpolated rows, and
// its gradient penalty (nn::Net::penalty, the double backpropagation).
#pragma once

#include <algorithm>

#include "genmix/gan/config.hpp"
#include "genmix/gan/losses.hpp"
#include "genmix/nn/batch.hpp"
#include "genmix/nn/net.hpp"
#include "genmix/nn/tape.hpp"

namespace genmix {
namespace gan {

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
        double l = 0, dl = 0;
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

}  // namespace gan
}  // namespace genmix
