// Small, explicit random number generators: every stream is created from a seed the
// caller passes in, so results never depend on hidden global state or thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace genmix {

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Uniform double in [0, 1) from the top 53 bits.
inline double to_unit(std::uint64_t x) { return (double)(x >> 11) * 0x1.0p-53; }

// Counter-based uniform: the same (seed, counter) always gives the same number, so a
// value for row i can be drawn by whichever thread handles row i.
inline double counter_uniform(std::uint64_t seed, std::uint64_t counter) {
    return to_unit(splitmix64(splitmix64(seed) ^ (counter * 0xd1b54a32d192ed03ULL)));
}

// The bit pattern of a value, -0 read as +0: equal values give equal bits.
template <class T>
std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t> value_bits(T v) {
    std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t> u = 0;
    if (v != T(0)) std::memcpy(&u, &v, sizeof v);
    return u;
}

// A hash of a row's d values: equal rows get equal hashes wherever they are, so draws
// keyed by it rather than by the row's index do not depend on the order of the rows.
template <class T>
std::uint64_t row_hash(const T* x, int d) {
    std::uint64_t h = 0;
    for (int f = 0; f < d; ++f) h = splitmix64(h ^ value_bits(x[f]));
    return h;
}

// xoshiro256** (Blackman & Vigna): a sequential stream for serial draws.
class Xoshiro256 {
public:
    explicit Xoshiro256(std::uint64_t seed) {
        std::uint64_t z = seed;
        for (auto& w : s_) w = z = splitmix64(z);
    }
    std::uint64_t next() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    double uniform() { return to_unit(next()); }
    // Uniform integer in [0, n) (n > 0), by rejection to avoid modulo bias.
    std::uint64_t below(std::uint64_t n) {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        std::uint64_t x;
        do x = next(); while (x >= limit);
        return x % n;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace genmix
