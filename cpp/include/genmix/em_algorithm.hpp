// Soft or hard EM, shared by the Gaussian and the categorical mixtures, and its name as
// Python passes it.
#pragma once

#include <string>
#include <utility>

#include "genmix/names.hpp"

namespace genmix {

// Soft: responsibilities are posteriors, the objective the log-likelihood. Hard: each row
// goes wholly to its most probable component (classification EM).
enum class Algorithm { Soft, Hard };

inline Algorithm parse_algorithm(const std::string& s) {
    static const std::pair<const char*, Algorithm> names[] = {{"soft", Algorithm::Soft}, {"hard", Algorithm::Hard}};
    return parse_name(s, names, "algorithm");
}

}  // namespace genmix
