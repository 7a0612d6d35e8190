// The initial weights of an MLP.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "genmix/names.hpp"
#include "genmix/nn/spec.hpp"
#include "genmix/rng.hpp"

namespace genmix {
namespace nn {

// Initialisation: biases 0; a layer followed by relu / leaky_relu gets He (Kaiming)
// normal weights, std = sqrt(2 / ((1 + slope^2) fan_in)); any other layer Glorot (Xavier)
// uniform weights in +-sqrt(6 / (fan_in + fan_out)). One xoshiro256** stream from `seed`
// fills the buffer in order, so the same seed gives the same network for T = float or double
// (up to the final rounding to T).

enum class Init { Auto, He, Glorot };

inline Init parse_init(const std::string& s) {
    static const std::pair<const char*, Init> names[] = {
        {"auto", Init::Auto}, {"he", Init::He}, {"glorot", Init::Glorot}};
    return parse_name(s, names, "init");
}

template <class T>
void init_params(const Spec& s, Init init, std::uint64_t seed, T* params) {
    Xoshiro256 rng(seed);
    for (int l = 0; l < s.n_layers(); ++l) {
        const long fan_in = s.n_in(l), fan_out = s.n_out(l), nw = fan_in * fan_out;
        T* W = params + s.w_off[l];
        const Act a = s.act(l);
        const bool he = init == Init::He || (init == Init::Auto && (a == Act::Relu || a == Act::LeakyRelu));
        if (he) {
            const double slope = a == Act::LeakyRelu ? s.slope : 0.0;
            const double sd = std::sqrt(2.0 / ((1.0 + slope * slope) * (double)fan_in));
            for (long i = 0; i < nw; i += 2) {  // Box-Muller, two normals per pair of uniforms
                const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
                const double r = std::sqrt(-2.0 * std::log(u1)), t = 6.283185307179586476925286766559 * u2;
                W[i] = (T)(sd * r * std::cos(t));
                if (i + 1 < nw) W[i + 1] = (T)(sd * r * std::sin(t));
            }
        } else {
            const double lim = std::sqrt(6.0 / (double)(fan_in + fan_out));
            for (long i = 0; i < nw; ++i) W[i] = (T)(lim * (2.0 * rng.uniform() - 1.0));
        }
        std::fill(params + s.b_off[l], params + s.b_off[l] + fan_out, T(0));
    }
}

}  // namespace nn
}  // namespace genmix
