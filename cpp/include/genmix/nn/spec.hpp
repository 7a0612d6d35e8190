// An MLP's architecture (layer sizes, activations) and where its parameters live.
//
// Layouts (the same bits NumPy sees, read column-major by Eigen):
//   * Inputs and outputs are C-contiguous (n, d) arrays of rows. Read column-major they
//     are (d x n) matrices whose columns are samples, so a block of consecutive rows is a
//     contiguous (d x B) panel, used in place.
//   * Parameters live in ONE contiguous buffer, layer after layer: W_l as a C-contiguous
//     (n_in, n_out) array (NumPy: forward is X @ W + b), then b_l (n_out). Read
//     column-major, W_l is the (n_out x n_in) matrix Wt with Z = Wt * A + b, so every
//     product of the passes is a plain GEMM on panels of B samples:
//        forward        Z  = Wt * A             (n_out x B) = (n_out x n_in)(n_in x B)
//        weight grad    dWt += dZ * A^T          (n_out x n_in)
//        input grad     dA = Wt^T * dZ          (n_in x B)
//   * Gradients come back in a buffer with the same layout as the parameters.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "genmix/names.hpp"

namespace genmix {
namespace nn {

enum class Act { Identity, Relu, LeakyRelu, Tanh, Sigmoid };

inline Act parse_activation(const std::string& s) {
    static const std::pair<const char*, Act> names[] = {{"identity", Act::Identity},
                                                        {"relu", Act::Relu},
                                                        {"leaky_relu", Act::LeakyRelu},
                                                        {"tanh", Act::Tanh},
                                                        {"sigmoid", Act::Sigmoid}};
    return parse_name(s, names, "activation");
}

// phi'' is zero everywhere it is defined.
inline bool piecewise_linear(Act a) { return a == Act::Identity || a == Act::Relu || a == Act::LeakyRelu; }

// The activations A = phi(Z) are written over Z: identity, and relu, whose phi' needs only
// the sign, the same in A as in Z (half the tape, half the memory traffic).
inline bool in_place(Act a) { return a == Act::Identity || a == Act::Relu; }

// The architecture: layer sizes, activations, and where each layer sits in the flat buffer.
struct Spec {
    std::vector<long> sizes;  // d_in, hidden..., d_out
    Act hidden = Act::Relu, output = Act::Identity;
    double slope = 0.2;  // leaky_relu: phi(z) = z for z > 0, slope * z otherwise
    std::vector<long> w_off, b_off;
    long n_params = 0;

    Spec() = default;
    Spec(std::vector<long> layer_sizes, Act hidden_act, Act output_act, double leaky_slope)
        : sizes(std::move(layer_sizes)), hidden(hidden_act), output(output_act), slope(leaky_slope) {
        if (sizes.size() < 2) throw std::invalid_argument("an MLP needs at least 2 layer sizes (input and output)");
        for (long s : sizes)
            if (s < 1) throw std::invalid_argument("layer sizes must be positive");
        if (!std::isfinite(slope)) throw std::invalid_argument("the leaky_relu slope must be finite");
        for (int l = 0; l < n_layers(); ++l) {
            w_off.push_back(n_params);
            n_params += sizes[l] * sizes[l + 1];
            b_off.push_back(n_params);
            n_params += sizes[l + 1];
        }
    }
    int n_layers() const { return (int)sizes.size() - 1; }
    long n_in(int l) const { return sizes[l]; }
    long n_out(int l) const { return sizes[l + 1]; }
    long d_in() const { return sizes.front(); }
    long d_out() const { return sizes.back(); }
    long max_width() const { return *std::max_element(sizes.begin(), sizes.end()); }
    Act act(int l) const { return l == n_layers() - 1 ? output : hidden; }
};

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using MapM = Eigen::Map<Mat<T>>;
template <class T>
using MapV = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;
template <class T>
using MapCV = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

}  // namespace nn
}  // namespace genmix
