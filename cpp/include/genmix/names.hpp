// Settings named by strings (activations, losses, optimizers...): one lookup for all of them.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace genmix {

// The value whose name is s; what: the setting's name, for the error message.
template <class E, std::size_t N>
E parse_name(const std::string& s, const std::pair<const char*, E> (&names)[N], const char* what) {
    std::string known;
    for (const auto& entry : names) {
        if (s == entry.first) return entry.second;
        known += (known.empty() ? "" : ", ") + std::string(entry.first);
    }
    throw std::invalid_argument("unknown " + std::string(what) + " '" + s + "'; expected one of " + known);
}

}  // namespace genmix
