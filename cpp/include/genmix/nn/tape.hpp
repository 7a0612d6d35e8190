// Scratch buffers of the passes.
#pragma once

#include <algorithm>
#include <vector>

#include "genmix/nn/gemm.hpp"
#include "genmix/nn/par.hpp"
#include "genmix/nn/spec.hpp"
#include "genmix/parallel.hpp"

namespace genmix {
namespace nn {

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

}  // namespace nn
}  // namespace genmix
