// Soft or hard EM, shared by the Gaussian and the categorical mixtures, and its name as
// Python passes it.
#pragma once

#include <stdexcept>
#include <string>

namespace genmix {

// Soft: responsibilities are posteriors, the objective the log-likelihood. Hard: each row
// goes wholly to its most probable component (classification EM).
enum class Algorithm { Soft, Hard };

inline Algorithm parse_algorithm(const std::string& s) {
    if (s == "soft") return Algorithm::Soft;
    if (s == "hard") return Algorithm::Hard;
    throw std::invalid_argument("unknown algorithm '" + s + "'");
}

}  // namespace genmix
