// The random numbers of a training step, from (seed, step, sub-step) alone.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "genmix/gan/config.hpp"
#include "genmix/rng.hpp"

namespace genmix {
namespace gan {

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

}  // namespace gan
}  // namespace genmix
