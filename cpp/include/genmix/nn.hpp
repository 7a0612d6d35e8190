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
// Determinism: a batch goes through in super-blocks of kSuperRows samples, in order. The
// products of a super-block are split over threads by rows or columns of their results,
// and gemm.hpp sums every element in one fixed order whatever the split; a gradient keeps
// adding into the same buffer from one super-block to the next, so each of its elements is
// one sum in sample order. Elementwise work computes each element by the same expression
// wherever it falls. Small networks instead take a super-block as two fixed halves, one
// whole pass per thread, and add the halves' gradients in order (for_halves); whether a
// network does is decided by its shape and the super-block's size alone. So any thread
// count gives the same bits.
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
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "genmix/gemm.hpp"
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
// Threads. A batch is processed in super-blocks of up to kSuperRows samples, one after the
// other; inside a super-block every product of a layer is split over threads by rows or
// columns of its result (gemm.hpp sums each element in one fixed order, so the split never
// changes a bit), and elementwise work is split by columns. Small networks instead run each
// half of a super-block on one thread (for_halves).

// Samples per super-block: the width of every product, and of the tape.
constexpr long kSuperRows = 512;
// Products smaller than this (multiply-adds) run on the calling thread alone.
constexpr double kMinParallelWork = 1 << 16;
// Elementwise passes over fewer values than this run on the calling thread alone (waking
// the other threads costs about as much as they would save).
constexpr double kMinParallelCols = 1 << 18;
// Products whose op(A) has at most this many values are split by columns when they can be.
constexpr double kSmallOperand = 1 << 18;
// Weight gradients of at most this many values, over samples a column-first split left on
// two threads, are summed per half of the samples (see Net::weight_grad).
constexpr double kSmallOutput = 1 << 16;

// Elementwise work over a parameter vector (adding gradients, optimizer updates, norms) goes
// in fixed slices of this many values, spread over threads; the slices, not the threads,
// fix the bits.
constexpr long kElementwiseSlice = 1L << 13;

// The threads of one call and their pack buffers (one per part of a split product).
template <class T>
struct Par {
    int nt;
    gemm::PackBuffers<T>* packs;  // max(nt, 2) of them (nt when in_part)
    bool in_part;                 // the call covers one of a super-block's two halves (for_halves)
};

inline long ceil_div(long a, long b) { return (a + b - 1) / b; }

// Small layers over many samples: the weight gradient is summed per half of the samples
// (see Net::weight_grad), cut after half_cut(B) samples.
inline bool sum_per_half(long no, long ni, long B) {
    return (double)no * (double)B <= kSmallOperand && (double)no * (double)ni <= kSmallOutput &&
           B >= 4 * gemm::kNr;
}
inline long half_cut(long B) { return ceil_div(ceil_div(B, 2), gemm::kNr) * gemm::kNr; }

// dst[e] = ((accumulate ? dst[e] : 0) + P0[e]) + P1[e] for e in lo..hi: two halves' sums
// added in a fixed order.
template <class T>
void add_in_order(const T* P0, const T* P1, long lo, long hi, T* dst, bool accumulate) {
    for (long e = lo; e < hi; ++e) dst[e] = ((accumulate ? dst[e] : T(0)) + P0[e]) + P1[e];
}

// C (m x n, ldc) (+)= op(A) op(B) as gemm::product, split over par's threads; then
// epi(i0, i1, j0, j1) on each part (rows i0..i1, columns j0..j1) by the thread that computed
// it. Row splits fall on multiples of the register tile's height.
template <class T, class Epi>
void par_product(const Par<T>& par, long m, long n, long k, const T* A, long a_rs, long a_cs, const T* B, long b_rs,
                 long b_cs, T* C, long ldc, bool accumulate, Epi&& epi) {
    constexpr long mr = gemm::kMr<T>, nr = gemm::kNr;
    long parts = 1, step = 0;
    bool by_rows = true;
    if (par.nt > 1 && (double)m * (double)n * (double)std::max<long>(k, 1) >= kMinParallelWork) {
        // columns first when op(A) is small (every part packs all of it): a batch's columns then
        // stay with one thread from one layer's product to the next
        const bool cols_first = (double)m * (double)k <= kSmallOperand && n >= 2 * nr * par.nt;
        if (!cols_first && m >= 2 * mr * par.nt) {
            step = ceil_div(ceil_div(m, par.nt), mr) * mr;
            parts = ceil_div(m, step);
        } else if (n >= 2 * nr * par.nt) {
            by_rows = false;
            step = ceil_div(ceil_div(n, par.nt), nr) * nr;
            parts = ceil_div(n, step);
        }
    }
    const bool tiny = m <= gemm::kTinyRows;  // decided on the whole product, never on a part
    if (parts <= 1) {
        gemm::product<T>(m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, par.packs[0], tiny);
        epi(0L, m, 0L, n);
        return;
    }
    parallel_for(parts, par.nt, [&](long t) {
        gemm::PackBuffers<T>& pb = par.packs[t];
        if (by_rows) {
            const long i0 = t * step, i1 = std::min(m, i0 + step);
            gemm::product<T>(i1 - i0, n, k, A + i0 * a_rs, a_rs, a_cs, B, b_rs, b_cs, C + i0, ldc, accumulate, pb,
                             tiny);
            epi(i0, i1, 0L, n);
        } else {
            const long j0 = t * step, j1 = std::min(n, j0 + step);
            gemm::product<T>(m, j1 - j0, k, A, a_rs, a_cs, B + j0 * b_cs, b_rs, b_cs, C + j0 * ldc, ldc, accumulate,
                             pb, tiny);
            epi(0L, m, j0, j1);
        }
    });
}

template <class T>
void par_product(const Par<T>& par, long m, long n, long k, const T* A, long a_rs, long a_cs, const T* B, long b_rs,
                 long b_cs, T* C, long ldc, bool accumulate) {
    par_product(par, m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, [](long, long, long, long) {});
}

// fn(j0, j1) over columns 0..n of a panel with `rows` rows, split over threads when large.
template <class T, class F>
void par_cols(const Par<T>& par, long n, long rows, F&& fn) {
    const long parts = par.nt > 1 && (double)n * (double)rows >= kMinParallelCols ? std::min<long>(par.nt, n) : 1;
    if (parts <= 1) {
        fn(0L, n);
        return;
    }
    parallel_for(parts, par.nt, [&](long t) { fn(t * n / parts, (t + 1) * n / parts); });
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

// ---------------------------------------------------------------------------------------
// Scratch for one super-block of at most `cap` samples.

template <class T>
struct Tape {
    long cap = 0;                                // columns allocated
    bool has_penalty = false;                    // D1, D2, Tl, S, v allocated
    std::vector<long> shape;                     // layer sizes and activations it was sized for
    std::vector<Mat<T>> Z, A, D1, D2, Tl, S;     // per layer, n_out(l) x cap (A unless in_place)
    Mat<T> g0, g1, v;                            // max_width x cap work panels; d_in x cap
    Vec<T> wpart;                                // two halves' weight gradients (Net::weight_grad)

    // Sizes the buffers for super-blocks of up to B samples of network s (and for its
    // penalty). Cheap when nothing changes; a tape may be reused for another network.
    void reserve(const Spec& s, long B, bool penalty) {
        const bool same = shape.size() == s.sizes.size() + 2 &&
                          std::equal(s.sizes.begin(), s.sizes.end(), shape.begin()) &&
                          shape[s.sizes.size()] == (long)s.hidden && shape.back() == (long)s.output;
        if (same && cap >= B && (has_penalty || !penalty)) return;
        std::vector<long> sh = s.sizes;
        sh.push_back((long)s.hidden);
        sh.push_back((long)s.output);
        if (!same) {
            has_penalty = false;
            cap = 0;
        }
        shape = sh;
        cap = std::max(cap, B);
        has_penalty = has_penalty || penalty;
        const int L = s.n_layers();
        Z.assign(L, Mat<T>());
        A.assign(L, Mat<T>());
        for (int l = 0; l < L; ++l) {
            Z[l].resize(s.n_out(l), cap);
            if (!in_place(s.act(l))) A[l].resize(s.n_out(l), cap);
        }
        g0.resize(s.max_width(), cap);
        g1.resize(s.max_width(), cap);
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
    T* z(int l) { return Z[l].data(); }
    T* a(const Spec& s, int l) { return in_place(s.act(l)) ? Z[l].data() : A[l].data(); }
};

// Scratch that outlives one call (a training loop keeps one per network); holds no state.
template <class T>
struct Workspace {
    Tape<T> tp;
    Tape<T> half_tp[2];    // for_halves: each half's tape
    Vec<T> half_grad[2];   // and its parameter gradient
    std::vector<gemm::PackBuffers<T>> packs;
    Vec<T> gout;

    Par<T> par(int n_threads) {
        const int nt = std::max(1, resolve_threads(n_threads));
        if ((int)packs.size() < std::max(nt, 2)) packs.resize(std::max(nt, 2));  // the halves need two
        return Par<T>{nt, packs.data(), false};
    }
};

// A view of a network: its spec and its parameter buffer. Member functions work on one
// super-block of B <= tape capacity samples (columns), with the products split over par's
// threads. `X` points at B consecutive rows of a C-contiguous (n, d_in) array.
//
// Gradients: `grad` has the parameter layout; with accumulate == false the first product
// into each of its parts overwrites it, otherwise it adds, continuing every element's sum
// in sample order (so super-blocks processed one after the other give the same bits as one).
template <class T>
struct Net {
    const Spec& s;
    const T* p;

    const T* a_in(Tape<T>& tp, const T* X, int l) const { return l == 0 ? X : tp.a(s, l - 1); }

    // grad_W(l) (+)= D A_in^T and grad_b(l) (+)= row sums of D, D = (n_out x B) panel.
    void weight_grad(int l, const T* D, const T* Ain, long B, T* grad, bool accumulate, Tape<T>& tp,
                     const Par<T>& par) const {
        const long no = s.n_out(l), ni = s.n_in(l);
        T* gb = grad + s.b_off[l];
        if (!par.in_part && sum_per_half(no, ni, B)) {  // (a half of for_halves is not split again)
            // two fixed halves of the samples (where a column-first split leaves them on two
            // threads), summed separately and then added in order: any thread count, same bits
            const long h = half_cut(B), size = no * (ni + 1);
            if (tp.wpart.size() < 2 * size) tp.wpart.resize(2 * size);
            parallel_for(2, par.nt, [&](long t) {
                const long c0 = t == 0 ? 0 : h, c1 = t == 0 ? h : B;
                T* P = tp.wpart.data() + t * size;  // no x ni, then the bias part (no)
                gemm::product<T>(no, ni, c1 - c0, D + c0 * no, 1, no, Ain + c0 * ni, ni, 1, P, no, false,
                                 par.packs[t], no <= gemm::kTinyRows);
                T* pb = P + no * ni;
                std::fill(pb, pb + no, T(0));
                for (long j = c0; j < c1; ++j)
                    for (long i = 0; i < no; ++i) pb[i] += D[i + j * no];
            });
            // the layer's weights and biases are contiguous in grad, as in each half's part
            add_in_order(tp.wpart.data(), tp.wpart.data() + size, 0, size, grad + s.w_off[l], accumulate);
            return;
        }
        par_product<T>(par, no, ni, B, D, 1, no, Ain, ni, 1, grad + s.w_off[l], no, accumulate,
                       [&](long i0, long i1, long j0, long) {
                           if (j0 != 0) return;  // the part holding column 0 owns the bias rows
                           for (long i = i0; i < i1; ++i) gb[i] = accumulate ? gb[i] : T(0);
                           for (long j = 0; j < B; ++j)
                               for (long i = i0; i < i1; ++i) gb[i] += D[i + j * no];
                       });
    }

    // Fills the tape; returns the output panel (d_out x B).
    const T* forward(const T* X, long B, Tape<T>& tp, const Par<T>& par) const {
        const T slope = (T)s.slope;
        for (int l = 0; l < s.n_layers(); ++l) {
            const long no = s.n_out(l), ni = s.n_in(l);
            const Act act = s.act(l);
            T* Z = tp.z(l);
            T* A = tp.a(s, l);
            const T* b = p + s.b_off[l];
            const bool linear = piecewise_linear(act);
            par_product<T>(par, no, B, ni, p + s.w_off[l], 1, no, a_in(tp, X, l), 1, ni, Z, no, false,
                           [&](long i0, long i1, long j0, long j1) {
                               add_bias_and_activate(linear ? act : Act::Identity, slope, b, Z, A, no, i0, i1, j0,
                                                     j1);
                           });
            if (!linear)  // whole columns, so Eigen's vectorisation of each is always the same
                par_cols(par, B, no, [&](long j0, long j1) {
                    for (long j = j0; j < j1; ++j) {
                        MapM<T> zc(Z + j * no, no, 1), ac(A + j * no, no, 1);
                        act_forward(act, slope, zc, ac);
                    }
                });
        }
        return tp.a(s, s.n_layers() - 1);
    }

    // After forward: grad (+)= the gradient of sum_i <G_i, f(x_i)> (nullptr: only the input
    // gradient, e.g. a discriminator in a generator step) and, when dX is given, the gradient
    // wrt the inputs (B rows of a C-contiguous (n, d_in) array). G: B rows of (n, d_out).
    void backward(const T* X, const T* G, long B, Tape<T>& tp, T* grad, bool accumulate, T* dX,
                  const Par<T>& par) const {
        const T slope = (T)s.slope;
        const int L = s.n_layers();
        T* cur = tp.g0.data();
        T* nxt = tp.g1.data();
        {
            const long no = s.d_out();
            std::copy(G, G + no * B, cur);
            par_cols(par, B, no, [&](long j0, long j1) {
                mask_grad(s.act(L - 1), slope, tp.z(L - 1), tp.a(s, L - 1), cur, no, 0L, no, j0, j1);
            });
        }
        for (int l = L - 1; l >= 0; --l) {
            const long no = s.n_out(l), ni = s.n_in(l);
            if (grad) weight_grad(l, cur, a_in(tp, X, l), B, grad, accumulate, tp, par);
            if (l > 0) {
                const Act below = s.act(l - 1);
                T* Zb = tp.z(l - 1);
                T* Ab = tp.a(s, l - 1);
                par_product<T>(par, ni, B, no, p + s.w_off[l], no, 1, cur, 1, no, nxt, ni, false,
                               [&](long i0, long i1, long j0, long j1) {
                                   mask_grad(below, slope, Zb, Ab, nxt, ni, i0, i1, j0, j1);
                               });
                std::swap(cur, nxt);
            } else if (dX) {
                par_product<T>(par, ni, B, no, p + s.w_off[0], no, 1, cur, 1, no, dX, ni, false);
            }
        }
    }

    // After forward, for a scalar output (d_out == 1): grad (+)= the parameter gradient of
    // weight * sum_i (||grad_x f(x_i)|| - center)^2   plus, when G is given, of
    // sum_i G_i f(x_i) (so a loss and its penalty share the passes). Returns
    // sum_i (||grad_x f(x_i)|| - center)^2 over the block. With center > 0 and a zero input
    // gradient, the (undefined) direction is taken as 0.
    double penalty(const T* X, const T* G, long B, T center, T weight, Tape<T>& tp, T* grad, bool accumulate,
                   const Par<T>& par) const {
        const T slope = (T)s.slope;
        const int L = s.n_layers();
        // The upward pass writes (or adds to) every weight gradient; the biases get only the
        // loss's and the downward pass's terms, so they start from 0 here when overwriting.
        if (!accumulate)
            for (int l = 0; l < L; ++l) std::fill(grad + s.b_off[l], grad + s.b_off[l] + s.n_out(l), T(0));
        // derivatives of the activations, whole columns
        for (int l = 0; l < L; ++l) {
            const long no = s.n_out(l);
            const Act act = s.act(l);
            par_cols(par, B, no, [&](long j0, long j1) {
                for (long j = j0; j < j1; ++j) {
                    const T* z = tp.z(l) + j * no;
                    const T* y = tp.a(s, l) + j * no;
                    T* d1 = tp.D1[l].data() + j * no;
                    T* d2 = piecewise_linear(act) ? nullptr : tp.D2[l].data() + j * no;
                    for (long i = 0; i < no; ++i) {
                        switch (act) {
                            case Act::Identity: d1[i] = T(1); break;
                            case Act::Relu: d1[i] = z[i] > T(0) ? T(1) : T(0); break;
                            case Act::LeakyRelu: d1[i] = z[i] > T(0) ? T(1) : slope; break;
                            case Act::Tanh:
                                d1[i] = madd(-y[i], y[i], T(1));
                                d2[i] = T(-2) * y[i] * d1[i];
                                break;
                            case Act::Sigmoid:
                                d1[i] = y[i] * (T(1) - y[i]);
                                d2[i] = d1[i] * madd(T(-2), y[i], T(1));
                                break;
                        }
                    }
                }
            });
        }
        // backward to the input from S(L-1) = 1:  T(l) = D1(l) * S(l),  S(l-1) = W(l)^T T(l)
        std::fill(tp.S[L - 1].data(), tp.S[L - 1].data() + B, T(1));
        T* V = tp.v.data();
        const long din = s.d_in();
        for (int l = L - 1; l >= 0; --l) {
            const long no = s.n_out(l), ni = s.n_in(l);
            T* Tl = tp.Tl[l].data();
            const T* D1 = tp.D1[l].data();
            const T* Sl = tp.S[l].data();
            par_cols(par, B, no, [&](long j0, long j1) {
                for (long e = j0 * no; e < j1 * no; ++e) Tl[e] = D1[e] * Sl[e];
            });
            par_product<T>(par, ni, B, no, p + s.w_off[l], no, 1, Tl, 1, no, l > 0 ? tp.S[l - 1].data() : V, ni,
                           false);
        }
        // penalty and the adjoint of v, in place: V := vbar
        double total = 0;
        for (long i = 0; i < B; ++i) {
            MapM<T> vi(V + i * din, din, 1);
            const T norm = vi.norm();
            const T dev = norm - center;
            total += (double)dev * (double)dev;
            T coef;
            if (center == T(0)) coef = T(2) * weight;
            else coef = norm > T(0) ? T(2) * weight * dev / norm : T(0);
            for (long r = 0; r < din; ++r) V[i * din + r] *= coef;
        }
        // upward: the backward pass of the backward pass
        //   Tbar(l) = W(l) Sbar_in(l);  dW(l) += T(l) Sbar_in(l)^T;  Q(l) = D2 * S * Tbar;  Sbar(l) = D1 * Tbar
        // With piecewise-linear activations only, the loss term's downward pass is the input
        // backward pass scaled per sample (U(l) = G * T(l), column by column), so its weight
        // gradient joins the upward one: dW(l) += T(l) (Sbar_in(l) + A_in(l) diag(G))^T,
        // db(l) += T(l) G, and no downward pass is run.
        bool all_linear = true;
        for (int l = 0; l < L; ++l) all_linear = all_linear && piecewise_linear(s.act(l));
        const bool fused = G && all_linear;
        int top_curved = -1;  // highest layer whose Q is nonzero
        T* sbar = V;
        T* tbar = tp.g0.data();
        T* spare = tp.g1.data();
        for (int l = 0; l < L; ++l) {
            const long no = s.n_out(l), ni = s.n_in(l);
            const bool curved = !piecewise_linear(s.act(l));
            if (curved) top_curved = l;
            const bool next = l + 1 < L;
            if (next || curved) par_product<T>(par, no, B, ni, p + s.w_off[l], 1, no, sbar, 1, ni, tbar, no, false);
            const T* Tl = tp.Tl[l].data();
            T* gb = grad + s.b_off[l];
            if (fused) {
                const T* Ain = a_in(tp, X, l);
                T* sb = sbar;
                par_cols(par, B, ni, [&](long j0, long j1) {
                    for (long j = j0; j < j1; ++j)
                        for (long r = 0; r < ni; ++r) sb[j * ni + r] = madd(Ain[j * ni + r], G[j], sb[j * ni + r]);
                });
            }
            par_product<T>(par, no, ni, B, Tl, 1, no, sbar, ni, 1, grad + s.w_off[l], no, accumulate,
                           [&](long i0, long i1, long j0, long) {
                               if (!fused || j0 != 0) return;  // the part holding column 0 owns the bias rows
                               for (long j = 0; j < B; ++j)
                                   for (long i = i0; i < i1; ++i) gb[i] = madd(Tl[i + j * no], G[j], gb[i]);
                           });
            T* Q = curved ? tp.D2[l].data() : nullptr;
            const T* Sl = tp.S[l].data();
            const T* D1 = tp.D1[l].data();
            T* Tb = tbar;
            if (curved || next) par_cols(par, B, no, [&](long j0, long j1) {
                for (long e = j0 * no; e < j1 * no; ++e) {
                    if (curved) Q[e] *= Sl[e] * Tb[e];  // Q(l), stored over D2(l)
                    if (next) Tb[e] *= D1[e];           // Sbar(l), written over Tbar
                }
            });
            if (next) {
                T* old = sbar == V ? spare : sbar;
                sbar = tbar;
                tbar = old;
            }
        }
        const int top = G && !fused ? L - 1 : top_curved;
        if (top < 0) return total;
        // downward: Q (and G) through the forward pass:  U(l) = Q(l) + D1(l) * W(l+1)^T U(l+1)
        T* cur = tp.g0.data();
        T* nxt = tp.g1.data();
        for (int l = top; l >= 0; --l) {
            const long no = s.n_out(l), ni = s.n_in(l);
            const bool has_in = l < top || G;  // cur holds W(l+1)^T U(l+1), or G
            if (l == top && G) std::copy(G, G + B, cur);  // d_out == 1
            const bool curved = !piecewise_linear(s.act(l));
            const T* D1 = tp.D1[l].data();
            const T* Q = curved ? tp.D2[l].data() : nullptr;
            par_cols(par, B, no, [&](long j0, long j1) {
                for (long e = j0 * no; e < j1 * no; ++e) {
                    T u = has_in ? cur[e] * D1[e] : T(0);
                    if (curved) u = has_in ? u + Q[e] : Q[e];
                    cur[e] = u;
                }
            });
            weight_grad(l, cur, a_in(tp, X, l), B, grad, true, tp, par);
            if (l > 0) {
                par_product<T>(par, ni, B, no, p + s.w_off[l], no, 1, cur, 1, no, nxt, ni, false);
                std::swap(cur, nxt);
            }
        }
        return total;
    }
};

// ---------------------------------------------------------------------------------------
// Small networks. When every layer's weight gradient is summed per half of the samples
// anyway (sum_per_half), a super-block goes through as its two halves, each with its own
// tape and gradient buffer, and the halves' gradients are then added in a fixed order
// (add_halves). With two threads each half is a whole pass on one thread: no
// synchronisation between layers, and a half's activations stay in one core's cache. With
// one thread, or more than two, the halves go in turn, each with every thread on its
// products (whose bits do not depend on the split). Either way the same bits.

inline bool by_halves(const Spec& s, long B) {
    for (int l = 0; l < s.n_layers(); ++l)
        if (!sum_per_half(s.n_out(l), s.n_in(l), B)) return false;
    return true;
}

// body(half, c0, c1, tape, par) for the halves (samples c0..c1) of a super-block of B samples
// of network s; half_grad[h] is sized when `grads`.
template <class T, class Body>
void for_halves(Workspace<T>& ws, const Spec& s, long B, bool penalty, bool grads, int n_threads, Body&& body) {
    const long h = half_cut(B);
    ws.half_tp[0].reserve(s, h, penalty);
    ws.half_tp[1].reserve(s, B - h, penalty);
    if (grads)
        for (Vec<T>& g : ws.half_grad)
            if (g.size() < s.n_params) g.resize(s.n_params);
    const Par<T> all = ws.par(n_threads);
    if (all.nt == 2) {
        parallel_for(2, 2, [&](long t) {
            const Par<T> one{1, all.packs + t, true};
            body((int)t, t == 0 ? 0L : h, t == 0 ? h : B, ws.half_tp[t], one);
        });
        return;
    }
    const Par<T> every{all.nt, all.packs, true};
    body(0, 0L, h, ws.half_tp[0], every);
    body(1, h, B, ws.half_tp[1], every);
}

// grad (+)= half_grad[0] + half_grad[1], each element added in that order.
template <class T>
void add_halves(const Workspace<T>& ws, long n, T* grad, bool accumulate, int n_threads) {
    parallel_for(ceil_div(n, kElementwiseSlice), n_threads, [&](long si) {
        const long lo = si * kElementwiseSlice;
        add_in_order(ws.half_grad[0].data(), ws.half_grad[1].data(), lo, std::min(n, lo + kElementwiseSlice), grad,
                     accumulate);
    });
}

// ---------------------------------------------------------------------------------------
// Batch drivers: super-blocks in order, the caller's poll asked between them (at most
// every 50 ms; a true answer throws Interrupted).

template <class Body>
void for_superblocks(long n, const PollFn* poll, Body&& body) {
    using clock = std::chrono::steady_clock;
    auto last_poll = clock::now();
    for (long r0 = 0; r0 < n; r0 += kSuperRows) {
        if (r0 > 0 && poll && *poll) {
            const auto now = clock::now();
            if (std::chrono::duration<double>(now - last_poll).count() >= 0.05) {
                last_poll = now;
                if ((*poll)()) throw Interrupted();
            }
        }
        body(r0, std::min(kSuperRows, n - r0));
    }
}

// out: C-contiguous (n, d_out).
template <class T>
void forward(const Spec& s, const T* params, const T* X, long n, T* out, int n_threads,
             const PollFn* poll = nullptr, Workspace<T>* ws = nullptr) {
    Workspace<T> local;
    Workspace<T>& w = ws ? *ws : local;
    const Par<T> par = w.par(n_threads);
    const Net<T> net{s, params};
    const long din = s.d_in(), dout = s.d_out();
    for_superblocks(n, poll, [&](long r0, long B) {
        if (by_halves(s, B)) {
            for_halves(w, s, B, false, false, n_threads, [&](int, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                const T* f = net.forward(X + (r0 + c0) * din, c1 - c0, tp, one);
                std::copy(f, f + (c1 - c0) * dout, out + (r0 + c0) * dout);
            });
            return;
        }
        w.tp.reserve(s, std::min(n, kSuperRows), false);
        const T* f = net.forward(X + r0 * din, B, w.tp, par);
        std::copy(f, f + B * dout, out + r0 * dout);
    });
}

// grad (n_params, overwritten) = sum_i J_theta(x_i)^T G_i; dX (optional, (n, d_in)) =
// J_x(x_i)^T G_i per row.
template <class T>
void backward(const Spec& s, const T* params, const T* X, const T* G, long n, T* grad, T* dX, int n_threads,
              const PollFn* poll = nullptr, Workspace<T>* ws = nullptr) {
    Workspace<T> local;
    Workspace<T>& w = ws ? *ws : local;
    const Par<T> par = w.par(n_threads);
    const Net<T> net{s, params};
    const long din = s.d_in(), dout = s.d_out();
    if (grad && n == 0) std::fill(grad, grad + s.n_params, T(0));
    for_superblocks(n, poll, [&](long r0, long B) {
        if (by_halves(s, B)) {
            for_halves(w, s, B, false, grad != nullptr, n_threads,
                       [&](int h, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                           const T* Xh = X + (r0 + c0) * din;
                           net.forward(Xh, c1 - c0, tp, one);
                           net.backward(Xh, G + (r0 + c0) * dout, c1 - c0, tp, grad ? w.half_grad[h].data() : nullptr,
                                        false, dX ? dX + (r0 + c0) * din : nullptr, one);
                       });
            if (grad) add_halves(w, s.n_params, grad, r0 > 0, n_threads);
            return;
        }
        w.tp.reserve(s, std::min(n, kSuperRows), false);
        net.forward(X + r0 * din, B, w.tp, par);
        net.backward(X + r0 * din, G + r0 * dout, B, w.tp, grad, r0 > 0, dX ? dX + r0 * din : nullptr, par);
    });
}

// As backward, for a batch that fits one super-block (n <= kSuperRows) whose forward pass
// forward(s, params, X, n, ..., ws) has just filled ws's tape (or its halves' tapes): the
// forward pass is not redone.
template <class T>
void backward_after_forward(const Spec& s, const T* params, const T* X, const T* G, long n, T* grad, T* dX,
                            int n_threads, Workspace<T>& ws) {
    if (n > kSuperRows) throw std::logic_error("backward_after_forward: the batch spans several super-blocks");
    const Net<T> net{s, params};
    if (by_halves(s, n)) {
        const long din = s.d_in(), dout = s.d_out();
        for_halves(ws, s, n, false, grad != nullptr, n_threads,
                   [&](int h, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                       net.backward(X + c0 * din, G + c0 * dout, c1 - c0, tp, grad ? ws.half_grad[h].data() : nullptr,
                                    false, dX ? dX + c0 * din : nullptr, one);
                   });
        if (grad) add_halves(ws, s.n_params, grad, false, n_threads);
        return;
    }
    net.backward(X, G, n, ws.tp, grad, false, dX, ws.par(n_threads));
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
    Workspace<T>& w = ws ? *ws : local;
    const Par<T> par = w.par(n_threads);
    const Net<T> net{s, params};
    const T weight = scale / (T)n;
    const long din = s.d_in();
    double total = 0;
    if (n == 0) std::fill(grad, grad + s.n_params, T(0));
    for_superblocks(n, poll, [&](long r0, long B) {
        if (by_halves(s, B)) {
            double half_total[2];
            for_halves(w, s, B, true, true, n_threads, [&](int h, long c0, long c1, Tape<T>& tp, const Par<T>& one) {
                const T* Xh = X + (r0 + c0) * din;
                net.forward(Xh, c1 - c0, tp, one);
                half_total[h] = net.penalty(Xh, G ? G + r0 + c0 : nullptr, c1 - c0, center, weight, tp,
                                            w.half_grad[h].data(), false, one);
            });
            add_halves(w, s.n_params, grad, r0 > 0, n_threads);
            total += half_total[0];
            total += half_total[1];
            return;
        }
        w.tp.reserve(s, std::min(n, kSuperRows), true);
        net.forward(X + r0 * din, B, w.tp, par);
        total += net.penalty(X + r0 * din, G ? G + r0 : nullptr, B, center, weight, w.tp, grad, r0 > 0, par);
    });
    return total / (double)n;
}

}  // namespace nn
}  // namespace genmix
