// One network's passes over one super-block: forward, backward, and the exact parameter
// gradient of the input-gradient penalty (double backpropagation).
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
#include <utility>

#include "genmix/nn/activations.hpp"
#include "genmix/nn/gemm.hpp"
#include "genmix/nn/par.hpp"
#include "genmix/nn/spec.hpp"
#include "genmix/nn/tape.hpp"
#include "genmix/parallel.hpp"
#include "genmix/simd.hpp"

namespace genmix {
namespace nn {

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

}  // namespace nn
}  // namespace genmix
