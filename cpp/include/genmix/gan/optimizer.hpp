// The optimizers (Adam, SGD with momentum) of a training step.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

#include "genmix/gan/config.hpp"
#include "genmix/nn/par.hpp"
#include "genmix/nn/spec.hpp"
#include "genmix/parallel.hpp"

namespace genmix {
namespace gan {

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

}  // namespace gan
}  // namespace genmix
