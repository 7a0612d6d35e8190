// Multilayer perceptrons: forward, backward, and the exact parameter gradient of the
// input-gradient penalty (double backpropagation), on raw buffers, with no Python.
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
//
// Determinism: rows are split into a fixed partition (blocks of kBlockRows rows grouped
// into chunks, both independent of the thread count); each chunk accumulates its own
// gradient buffer, and the buffers are added in chunk order. So any thread count gives
// the same bits. Eigen must be built with EIGEN_DONT_PARALLELIZE (our threads, not its).
//
// Double backpropagation. For one sample, with layers l = 0..L-1, A_in(0) = x,
// A_in(l) = A(l-1), Z(l) = W(l) A_in(l) + b(l), A(l) = phi_l(Z(l)), scalar f = A(L-1):
//   backward to the input (seed S(L-1) = 1):
//     T(l) = phi_l'(Z(l)) * S(l),  S_in(l) = W(l)^T T(l),  S(l-1) = S_in(l),  v = S_in(0) = grad_x f
//   penalty r = (||v|| - c)^2, adjoint vbar = w * 2 (||v|| - c) / ||v|| * v  (w = 1/n for the mean)
//   the backward pass of that backward pass runs upwards, l = 0..L-1 (Sbar_in(0) = vbar):
//     Tbar(l) = W(l) Sbar_in(l);         dW(l) += T(l) Sbar_in(l)^T
//     Sbar(l) = phi_l'(Z(l)) * Tbar(l);  Sbar_in(l+1) = Sbar(l)
//     Q(l)    = phi_l''(Z(l)) * S(l) * Tbar(l)    (what the backward pass owes to Z(l))
//   and Q is then sent down through the forward pass like any gradient of Z:
//     U(l) = Q(l) + phi_l'(Z(l)) * W(l+1)^T U(l+1);  dW(l) += U(l) A_in(l)^T;  db(l) += U(l)
// For piecewise-linear activations phi'' = 0, Q vanishes and the downward pass is skipped.
// The penalty is on the network's output f = A(L-1) as returned by forward, i.e. AFTER the
// output activation; a GAN discriminator uses output activation identity, so f is its
// logit / critic value, as R1, R2 and WGAN-GP require.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "genmix/parallel.hpp"
#include "genmix/rng.hpp"

namespace genmix {
namespace nn {

enum class Act { Identity, Relu, LeakyRelu, Tanh, Sigmoid };

inline Act parse_activation(const std::string& s) {
    if (s == "identity") return Act::Identity;
    if (s == "relu") return Act::Relu;
    if (s == "leaky_relu") return Act::LeakyRelu;
    if (s == "tanh") return Act::Tanh;
    if (s == "sigmoid") return Act::Sigmoid;
    throw std::invalid_argument("unknown activation '" + s +
                                "'; expected one of identity, relu, leaky_relu, tanh, sigmoid");
}

// phi'' is zero everywhere it is defined.
inline bool piecewise_linear(Act a) { return a == Act::Identity || a == Act::Relu || a == Act::LeakyRelu; }

// Rows per block: the panel width of every GEMM, and the unit of the fixed partition.
constexpr long kBlockRows = 64;

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
using MapCM = Eigen::Map<const Mat<T>>;
template <class T>
using MapV = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;
template <class T>
using MapCV = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;

// ---------------------------------------------------------------------------------------
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

// G := G * phi'(Z)   (G is the gradient of A on entry and of Z on exit)
template <class T>
void act_backward_inplace(Act a, T slope, const MapM<T>& Z, const MapM<T>& A, MapM<T>& G) {
    switch (a) {
        case Act::Identity: break;
        case Act::Relu: G.array() = (Z.array() > T(0)).select(G.array(), T(0)); break;
        case Act::LeakyRelu: G = G.binaryExpr(Z, [slope](T g, T z) { return z > T(0) ? g : slope * g; }); break;
        case Act::Tanh: G.array() *= T(1) - A.array().square(); break;
        case Act::Sigmoid: G.array() *= A.array() * (T(1) - A.array()); break;
    }
}

// D1 := phi'(Z), and D2 := phi''(Z) for curved activations (D2 may be null otherwise)
template <class T>
void act_derivatives(Act a, T slope, const MapM<T>& Z, const MapM<T>& A, MapM<T>& D1, MapM<T>* D2) {
    switch (a) {
        case Act::Identity: D1.setOnes(); break;
        case Act::Relu: D1.array() = (Z.array() > T(0)).template cast<T>(); break;
        case Act::LeakyRelu: D1 = Z.unaryExpr([slope](T z) { return z > T(0) ? T(1) : slope; }); break;
        case Act::Tanh:
            D1.array() = T(1) - A.array().square();
            D2->array() = T(-2) * A.array() * D1.array();
            break;
        case Act::Sigmoid:
            D1.array() = A.array() * (T(1) - A.array());
            D2->array() = D1.array() * (T(1) - T(2) * A.array());
            break;
    }
}

// ---------------------------------------------------------------------------------------
// Initialisation: biases 0; a layer followed by relu / leaky_relu gets He (Kaiming)
// normal weights, std = sqrt(2 / ((1 + slope^2) fan_in)); any other layer Glorot (Xavier)
// uniform weights in +-sqrt(6 / (fan_in + fan_out)). One xoshiro256** stream from `seed`
// fills the buffer in order, so the same seed gives the same network for T = float or double
// (up to the final rounding to T).

enum class Init { Auto, He, Glorot };

inline Init parse_init(const std::string& s) {
    if (s == "auto") return Init::Auto;
    if (s == "he") return Init::He;
    if (s == "glorot") return Init::Glorot;
    throw std::invalid_argument("unknown init '" + s + "'; expected one of auto, he, glorot");
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

// ---------------------------------------------------------------------------------------
// Per-thread scratch for one block of at most kBlockRows samples.

template <class T>
struct Tape {
    long cap = 0;                                // columns allocated
    bool has_penalty = false;                    // D1, D2, Tl, S, v allocated
    std::vector<long> shape;                     // layer sizes and activations it was sized for
    std::vector<Mat<T>> Z, A, D1, D2, Tl, S;     // per layer, n_out(l) x cap
    Mat<T> g0, g1, v;                            // max_width x cap work panels; d_in x cap
    Eigen::Matrix<T, Eigen::Dynamic, 1> bsum;    // max_width

    // Sizes the buffers for blocks of up to B samples of network s (and for its penalty).
    // Cheap when nothing changes; a tape may be reused for another network.
    void reserve(const Spec& s, long B, bool penalty) {
        std::vector<long> sh = s.sizes;
        sh.push_back((long)s.hidden);
        sh.push_back((long)s.output);
        if (sh == shape && cap >= B && (has_penalty || !penalty)) return;
        if (sh != shape) has_penalty = false;
        shape = sh;
        cap = std::max(cap, B);
        has_penalty = has_penalty || penalty;
        const int L = s.n_layers();
        Z.assign(L, Mat<T>());
        A.assign(L, Mat<T>());
        for (int l = 0; l < L; ++l) {
            Z[l].resize(s.n_out(l), cap);
            if (s.act(l) != Act::Identity) A[l].resize(s.n_out(l), cap);
        }
        g0.resize(s.max_width(), cap);
        g1.resize(s.max_width(), cap);
        bsum.resize(s.max_width());
        if (has_penalty) {
            D1.assign(L, Mat<T>());
            D2.assign(L, Mat<T>());
            Tl.assign(L, Mat<T>());
            S.assign(L, Mat<T>());
            for (int l = 0; l < L; ++l) {
                D1[l].resize(s.n_out(l), cap);
                if (!piecewise_linear(s.act(l))) D2[l].resize(s.n_out(l), cap);
                Tl[l].resize(s.n_out(l), cap);
                S[l].resize(s.n_out(l), cap);
            }
            v.resize(s.d_in(), cap);
        }
    }
    MapM<T> z(const Spec& s, int l, long B) { return MapM<T>(Z[l].data(), s.n_out(l), B); }
    MapM<T> a(const Spec& s, int l, long B) {
        return MapM<T>(s.act(l) == Act::Identity ? Z[l].data() : A[l].data(), s.n_out(l), B);
    }
};

// A view of a network: its spec and its parameter buffer. All member functions work on
// one block of B <= kBlockRows samples (columns) and are single-threaded; the batch
// drivers below spread blocks over threads. `X` points at B consecutive rows of a
// C-contiguous (n, d_in) array.
template <class T>
struct Net {
    const Spec& s;
    const T* p;

    MapCM<T> W(int l) const { return MapCM<T>(p + s.w_off[l], s.n_out(l), s.n_in(l)); }
    MapCV<T> b(int l) const { return MapCV<T>(p + s.b_off[l], s.n_out(l)); }
    MapCM<T> a_in(Tape<T>& tp, const T* X, int l, long B) const {
        return l == 0 ? MapCM<T>(X, s.d_in(), B) : MapCM<T>(tp.a(s, l - 1, B).data(), s.n_in(l), B);
    }

    // grad_b(l) += sum over the block of D's columns. The sum is formed in the tape (whose
    // alignment never changes) and then added elementwise, so the bits do not depend on
    // where `grad` happens to sit in memory (Eigen's vectorised reductions peel by the
    // destination's alignment).
    static void add_bias_grad(const Spec& s, int l, const MapM<T>& D, Tape<T>& tp, T* grad) {
        auto bs = tp.bsum.head(s.n_out(l));
        bs.noalias() = D.rowwise().sum();
        MapV<T>(grad + s.b_off[l], s.n_out(l)) += bs;
    }

    // Fills tp.Z, tp.A; returns the output panel (d_out x B).
    MapM<T> forward(const T* X, long B, Tape<T>& tp) const {
        const T slope = (T)s.slope;
        for (int l = 0; l < s.n_layers(); ++l) {
            MapM<T> Z = tp.z(s, l, B);
            Z.noalias() = W(l) * a_in(tp, X, l, B);
            Z.colwise() += b(l);
            MapM<T> A = tp.a(s, l, B);
            act_forward(s.act(l), slope, Z, A);
        }
        return tp.a(s, s.n_layers() - 1, B);
    }

    // After forward: adds the gradient of sum_i <G_i, f(x_i)> into `grad` (parameter
    // layout; nullptr: only the input gradient, e.g. a discriminator in a generator step)
    // and, when dX is given, writes the gradient wrt the inputs (B rows of a C-contiguous
    // (n, d_in) array). G: B rows of a C-contiguous (n, d_out) array.
    void backward(const T* X, const T* G, long B, Tape<T>& tp, T* grad, T* dX) const {
        const T slope = (T)s.slope;
        const int L = s.n_layers();
        MapM<T> dZ(tp.g0.data(), s.d_out(), B);
        dZ = MapCM<T>(G, s.d_out(), B);
        Mat<T>* cur = &tp.g0;
        Mat<T>* nxt = &tp.g1;
        for (int l = L - 1; l >= 0; --l) {
            MapM<T> D(cur->data(), s.n_out(l), B);
            act_backward_inplace(s.act(l), slope, tp.z(s, l, B), tp.a(s, l, B), D);
            if (grad) {
                MapM<T>(grad + s.w_off[l], s.n_out(l), s.n_in(l)).noalias() += D * a_in(tp, X, l, B).transpose();
                add_bias_grad(s, l, D, tp, grad);
            }
            if (l > 0) {
                MapM<T>(nxt->data(), s.n_in(l), B).noalias() = W(l).transpose() * D;
                std::swap(cur, nxt);
            } else if (dX) {
                MapM<T>(dX, s.d_in(), B).noalias() = W(0).transpose() * D;
            }
        }
    }

    // After forward, for a scalar output (d_out == 1): adds to `grad` the parameter
    // gradient of   weight * sum_i (||grad_x f(x_i)|| - center)^2   plus, when G is given,
    // of sum_i G_i f(x_i) (so a loss and its penalty share the downward pass). Returns
    // sum_i (||grad_x f(x_i)|| - center)^2 over the block. With center > 0 and a zero input
    // gradient, the (undefined) direction is taken as 0.
    double penalty(const T* X, const T* G, long B, T center, T weight, Tape<T>& tp, T* grad) const {
        const T slope = (T)s.slope;
        const int L = s.n_layers();
        // derivatives of the activations
        for (int l = 0; l < L; ++l) {
            MapM<T> D1(tp.D1[l].data(), s.n_out(l), B);
            if (piecewise_linear(s.act(l))) {
                act_derivatives<T>(s.act(l), slope, tp.z(s, l, B), tp.a(s, l, B), D1, nullptr);
            } else {
                MapM<T> D2(tp.D2[l].data(), s.n_out(l), B);
                act_derivatives<T>(s.act(l), slope, tp.z(s, l, B), tp.a(s, l, B), D1, &D2);
            }
        }
        // backward to the input from S(L-1) = 1
        MapM<T>(tp.S[L - 1].data(), 1, B).setOnes();
        MapM<T> V(tp.v.data(), s.d_in(), B);
        for (int l = L - 1; l >= 0; --l) {
            MapM<T> Tl(tp.Tl[l].data(), s.n_out(l), B);
            Tl = MapM<T>(tp.D1[l].data(), s.n_out(l), B).cwiseProduct(MapM<T>(tp.S[l].data(), s.n_out(l), B));
            if (l > 0) MapM<T>(tp.S[l - 1].data(), s.n_in(l), B).noalias() = W(l).transpose() * Tl;
            else V.noalias() = W(0).transpose() * Tl;
        }
        // penalty and the adjoint of v, in place: V := vbar
        double total = 0;
        for (long i = 0; i < B; ++i) {
            const T norm = V.col(i).norm();
            const T dev = norm - center;
            total += (double)dev * (double)dev;
            T coef;
            if (center == T(0)) coef = T(2) * weight;
            else coef = norm > T(0) ? T(2) * weight * dev / norm : T(0);
            V.col(i) *= coef;
        }
        // upward: the backward pass of the backward pass
        int top_curved = -1;  // highest layer whose Q is nonzero
        Mat<T>* sbar = &tp.v;
        Mat<T>* tbar = &tp.g0;
        Mat<T>* spare = &tp.g1;
        for (int l = 0; l < L; ++l) {
            MapM<T> Sb(sbar->data(), s.n_in(l), B);
            MapM<T> Tb(tbar->data(), s.n_out(l), B);
            Tb.noalias() = W(l) * Sb;
            MapM<T>(grad + s.w_off[l], s.n_out(l), s.n_in(l)).noalias() +=
                MapM<T>(tp.Tl[l].data(), s.n_out(l), B) * Sb.transpose();
            if (!piecewise_linear(s.act(l))) {  // Q(l), stored over D2(l)
                MapM<T> Q(tp.D2[l].data(), s.n_out(l), B);
                Q.array() *= MapM<T>(tp.S[l].data(), s.n_out(l), B).array() * Tb.array();
                top_curved = l;
            }
            if (l + 1 < L) {  // Sbar(l) = D1 * Tbar, written over Tbar
                Tb.array() *= MapM<T>(tp.D1[l].data(), s.n_out(l), B).array();
                Mat<T>* old = sbar == &tp.v ? spare : sbar;
                sbar = tbar;
                tbar = old;
            }
        }
        // downward: Q (and G) through the forward pass
        const int top = G ? L - 1 : top_curved;
        if (top < 0) return total;
        Mat<T>* cur = &tp.g0;
        Mat<T>* nxt = &tp.g1;
        for (int l = top; l >= 0; --l) {
            MapM<T> U(cur->data(), s.n_out(l), B);
            const bool has_in = l < top || G;  // U currently holds W(l+1)^T U(l+1), or G
            if (l == top && G) U = MapCM<T>(G, s.d_out(), B);
            if (has_in) U.array() *= MapM<T>(tp.D1[l].data(), s.n_out(l), B).array();
            if (!piecewise_linear(s.act(l))) {
                if (has_in) U += MapM<T>(tp.D2[l].data(), s.n_out(l), B);
                else U = MapM<T>(tp.D2[l].data(), s.n_out(l), B);
            }
            MapM<T>(grad + s.w_off[l], s.n_out(l), s.n_in(l)).noalias() += U * a_in(tp, X, l, B).transpose();
            add_bias_grad(s, l, U, tp, grad);
            if (l > 0) {
                MapM<T>(nxt->data(), s.n_in(l), B).noalias() = W(l).transpose() * U;
                std::swap(cur, nxt);
            }
        }
        return total;
    }
};

// ---------------------------------------------------------------------------------------
// Batch drivers over the fixed partition.

inline int omp_thread() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Blocks of kBlockRows rows; as many chunks as blocks, unless the per-chunk gradient
// buffers would pass ~32 MB. Depends on n and the network only, never on threads.
inline RowPartition partition(long n, long n_params, std::size_t value_size) {
    const long budget = (32L << 20) / (long)(value_size * (std::size_t)std::max<long>(1, n_params));
    return RowPartition(n, kBlockRows, std::max<long>(1, std::min<long>(256, budget)));
}

template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// Scratch that outlives one call (a training loop keeps one): per-thread scratch of any
// default-constructible type S (Tape<T>, or a struct of tapes for several networks), and
// per-chunk gradient buffers.
template <class T, class S = Tape<T>>
struct Workspace {
    std::vector<S> scratch;
    std::vector<Vec<T>> bufs;
    std::vector<double> stats;
};

// The deterministic map-reduce every batch computation goes through. Splits n rows by
// partition(n, n_params); runs body(r0, B, scratch, chunk_grad, chunk_stats) for every
// block, blocks of a chunk in order on one thread, chunks spread over threads. chunk_grad
// (n_params values, zeroed; nullptr when n_params == 0; chunk 0's is `grad` itself) and
// chunk_stats (n_stats doubles, zeroed) belong to the chunk. Afterwards grad (overwritten) and stats (n_stats values,
// overwritten) receive the chunk sums added in chunk order: the same bits for any
// n_threads.
template <class T, class S, class Body>
void chunked_sum(long n, long n_params, T* grad, int n_stats, double* stats, Workspace<T, S>& ws,
                 int n_threads, const PollFn* poll, Body&& body) {
    const RowPartition part = partition(n, n_params, sizeof(T));
    const int nt = std::max(1, (int)std::min<long>(resolve_threads(n_threads), part.n_chunks));
    if ((int)ws.scratch.size() < nt) ws.scratch.resize(nt);
    if (n_params > 0) {
        ws.bufs.resize(std::max<long>((long)ws.bufs.size(), part.n_chunks - 1));
    }
    ws.stats.assign((std::size_t)part.n_chunks * n_stats, 0.0);
    parallel_for(part.n_chunks, nt, [&](long ci) {
        S& sc = ws.scratch[omp_thread()];
        T* g = nullptr;
        if (n_params > 0) {
            if (ci == 0) {  // chunk 0 accumulates straight into the result
                MapV<T>(grad, n_params).setZero();
                g = grad;
            } else {
                ws.bufs[ci - 1].setZero(n_params);
                g = ws.bufs[ci - 1].data();
            }
        }
        double* st = ws.stats.data() + ci * n_stats;
        const long b_end = part.chunk_first_block(ci + 1);
        for (long bk = part.chunk_first_block(ci); bk < b_end; ++bk) {
            const long r0 = part.block_begin(bk);
            body(r0, part.block_end(bk) - r0, sc, g, st);
        }
    }, poll);
    for (int k = 0; k < n_stats; ++k) {
        double total = 0;
        for (long ci = 0; ci < part.n_chunks; ++ci) total += ws.stats[ci * n_stats + k];
        stats[k] = total;
    }
    if (n_params == 0 || part.n_chunks == 1) return;
    // grad = ((c0 + c1) + c2) + ...; sliced over threads when large
    const long slice = 16384;
    const long n_slices = (n_params + slice - 1) / slice;
    auto reduce_slice = [&](long si) {
        const long lo = si * slice, len = std::min(n_params, lo + slice) - lo;
        MapV<T> out(grad + lo, len);
        for (long ci = 1; ci < part.n_chunks; ++ci) out += ws.bufs[ci - 1].segment(lo, len);
    };
    if ((long)n_params * part.n_chunks < (1L << 20)) {
        for (long si = 0; si < n_slices; ++si) reduce_slice(si);
    } else {
        parallel_for(n_slices, nt, reduce_slice);
    }
}

// out: C-contiguous (n, d_out).
template <class T>
void forward(const Spec& s, const T* params, const T* X, long n, T* out, int n_threads,
             const PollFn* poll = nullptr, Workspace<T>* ws = nullptr) {
    Workspace<T> local;
    const Net<T> net{s, params};
    chunked_sum<T>(n, 0, (T*)nullptr, 0, nullptr, ws ? *ws : local, n_threads, poll,
                   [&](long r0, long B, Tape<T>& tp, T*, double*) {
                       tp.reserve(s, kBlockRows, false);
                       MapM<T>(out + r0 * s.d_out(), s.d_out(), B) = net.forward(X + r0 * s.d_in(), B, tp);
                   });
}

// grad (n_params, overwritten) = sum_i J_theta(x_i)^T G_i; dX (optional, (n, d_in)) =
// J_x(x_i)^T G_i per row.
template <class T>
void backward(const Spec& s, const T* params, const T* X, const T* G, long n, T* grad, T* dX, int n_threads,
              const PollFn* poll = nullptr, Workspace<T>* ws = nullptr) {
    Workspace<T> local;
    const Net<T> net{s, params};
    chunked_sum<T>(n, s.n_params, grad, 0, nullptr, ws ? *ws : local, n_threads, poll,
                   [&](long r0, long B, Tape<T>& tp, T* g, double*) {
                       tp.reserve(s, kBlockRows, false);
                       net.forward(X + r0 * s.d_in(), B, tp);
                       net.backward(X + r0 * s.d_in(), G + r0 * s.d_out(), B, tp, g,
                                    dX ? dX + r0 * s.d_in() : nullptr);
                   });
}

// Returns R = mean_i (||grad_x f(x_i)|| - center)^2 and writes into grad the gradient of
// scale * R + sum_i G_i f(x_i) (the second term only when G, (n, 1), is given: a loss on
// the same rows, e.g. a discriminator's loss on real data with its R1 penalty, shares the
// forward pass and the downward pass).
template <class T>
double input_gradient_penalty(const Spec& s, const T* params, const T* X, long n, T center, T* grad,
                              int n_threads, const PollFn* poll = nullptr, Workspace<T>* ws = nullptr,
                              const T* G = nullptr, T scale = T(1)) {
    if (s.d_out() != 1) throw std::invalid_argument("the input-gradient penalty needs a network with one output");
    Workspace<T> local;
    const Net<T> net{s, params};
    const T weight = scale / (T)n;
    double total = 0;
    chunked_sum<T>(n, s.n_params, grad, 1, &total, ws ? *ws : local, n_threads, poll,
                   [&](long r0, long B, Tape<T>& tp, T* g, double* st) {
                       tp.reserve(s, kBlockRows, true);
                       net.forward(X + r0 * s.d_in(), B, tp);
                       st[0] += net.penalty(X + r0 * s.d_in(), G ? G + r0 : nullptr, B, center, weight, tp, g);
                   });
    return total / (double)n;
}

}  // namespace nn
}  // namespace genmix
