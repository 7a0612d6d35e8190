// Activations, elementwise.
#pragma once

#include "genmix/nn/spec.hpp"
#include "genmix/simd.hpp"

namespace genmix {
namespace nn {

// Activations, elementwise on (rows x B) panels. phi' and phi'' are taken from Z or from
// A = phi(Z), whichever is exact and cheap.

template <class T>
void act_forward(Act a, T slope, const MapM<T>& Z, MapM<T>& A) {
    switch (a) {
        case Act::Identity: if (A.data() != Z.data()) A = Z; break;
        case Act::Relu: A.array() = Z.array().max(T(0)); break;
        case Act::LeakyRelu: A = Z.unaryExpr([slope](T z) { return z > T(0) ? z : slope * z; }); break;
        case Act::Tanh: A.array() = Z.array().tanh(); break;
        case Act::Sigmoid: A.array() = Z.array().logistic(); break;
    }
}

// ---------------------------------------------------------------------------------------
// Elementwise pieces, on rows i0..i1 of columns j0..j1 of (rows x B) panels with leading
// dimension ld. Each element is computed by the same scalar expression wherever it falls.

// Z += b (per row); then A = phi(Z) for a piecewise-linear phi (identity: A untouched
// unless it is Z itself; relu: written over Z, see in_place).
template <class T>
void add_bias_and_activate(Act a, T slope, const T* b, T* Z, T* A, long ld, long i0, long i1, long j0, long j1) {
    for (long j = j0; j < j1; ++j) {
        T* z = Z + j * ld;
        T* y = A + j * ld;
        switch (a) {  // outside the inner loop, which then vectorises
            case Act::Relu:  // in place (A == Z): y not used
                for (long i = i0; i < i1; ++i) {
                    const T v = z[i] + b[i];
                    z[i] = v > T(0) ? v : T(0);
                }
                break;
            case Act::LeakyRelu:
                for (long i = i0; i < i1; ++i) {
                    const T v = z[i] + b[i];
                    z[i] = v;
                    y[i] = v > T(0) ? v : slope * v;
                }
                break;
            default:
                for (long i = i0; i < i1; ++i) z[i] += b[i];
                break;
        }
    }
}

// G := G * phi'(Z) (A = phi(Z))
template <class T>
void mask_grad(Act a, T slope, const T* Z, const T* A, T* G, long ld, long i0, long i1, long j0, long j1) {
    for (long j = j0; j < j1; ++j) {
        const T* z = Z + j * ld;
        const T* y = A + j * ld;
        T* g = G + j * ld;
        switch (a) {
            case Act::Identity: break;
            case Act::Relu:
                for (long i = i0; i < i1; ++i) g[i] = z[i] > T(0) ? g[i] : T(0);
                break;
            case Act::LeakyRelu:
                for (long i = i0; i < i1; ++i) g[i] = z[i] > T(0) ? g[i] : slope * g[i];
                break;
            case Act::Tanh:
                for (long i = i0; i < i1; ++i) g[i] *= madd(-y[i], y[i], T(1));
                break;
            case Act::Sigmoid:
                for (long i = i0; i < i1; ++i) g[i] *= y[i] * (T(1) - y[i]);
                break;
        }
    }
}

}  // namespace nn
}  // namespace genmix
