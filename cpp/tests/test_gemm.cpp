// gemm::product against a naive triple loop (every layout of the operands, edges of the
// register tile and of the cache blocks, accumulate or not, the tiny path), and the property
// the MLP passes rely on: cutting C into parts never changes a bit.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "check.hpp"
#include "genmix/nn/gemm.hpp"

using namespace genmix;

namespace {

template <class T>
std::vector<T> random_values(long n, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<T> v((std::size_t)n);
    for (T& x : v) x = (T)u(rng);
    return v;
}

template <class T>
void check_product(long m, long n, long k, bool trans_a, bool trans_b, bool accumulate, std::mt19937_64& rng) {
    // op(A) is m x k: stored column-major (m x k), or transposed (its rows contiguous)
    const long a_rs = trans_a ? k : 1, a_cs = trans_a ? 1 : m;
    // op(B) is k x n: stored column-major (k x n), or transposed (its rows contiguous)
    const long b_rs = trans_b ? n : 1, b_cs = trans_b ? 1 : k;
    const long ldc = m + 3;  // rows m..ldc-1 of each column must stay untouched
    const std::vector<T> A = random_values<T>(m * k, rng), B = random_values<T>(k * n, rng);
    const std::vector<T> C0 = random_values<T>(ldc * n, rng);
    std::vector<T> C = C0;
    gemm::PackBuffers<T> buf;
    const bool tiny = m <= gemm::kTinyRows;
    gemm::product<T>(m, n, k, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, C.data(), ldc, accumulate, buf, tiny);
    const double eps = std::numeric_limits<T>::epsilon();
    bool all_ok = true;
    for (long j = 0; j < n; ++j) {
        for (long i = 0; i < m; ++i) {
            long double ref = accumulate ? (long double)C0[i + j * ldc] : 0.0L;
            long double mag = accumulate ? std::fabs((long double)C0[i + j * ldc]) : 0.0L;
            for (long p = 0; p < k; ++p) {
                const long double t = (long double)A[i * a_rs + p * a_cs] * (long double)B[p * b_rs + j * b_cs];
                ref += t;
                mag += std::fabs(t);
            }
            all_ok = all_ok && std::fabs((double)C[i + j * ldc] - (double)ref) <= (k + 2) * eps * (double)mag;
        }
        for (long i = m; i < ldc; ++i) all_ok = all_ok && C[i + j * ldc] == C0[i + j * ldc];
    }
    if (!CHECK(all_ok))
        std::fprintf(stderr, "    product %s m=%ld n=%ld k=%ld trans_a=%d trans_b=%d accumulate=%d\n",
                     sizeof(T) == 4 ? "float" : "double", m, n, k, trans_a, trans_b, accumulate);
    // the same product in four parts (rows cut at a whole register tile, columns anywhere),
    // each with its own pack buffers, as par_product splits it: the same bits
    std::vector<T> P = C0;
    const long i_cut = m > gemm::kMr<T> ? gemm::kMr<T> : m, j_cut = n / 3;
    for (int part = 0; part < 4; ++part) {
        const long i0 = part % 2 ? i_cut : 0, i1 = part % 2 ? m : i_cut;
        const long j0 = part / 2 ? j_cut : 0, j1 = part / 2 ? n : j_cut;
        gemm::PackBuffers<T> own;
        gemm::product<T>(i1 - i0, j1 - j0, k, A.data() + i0 * a_rs, a_rs, a_cs, B.data() + j0 * b_cs, b_rs, b_cs,
                         P.data() + i0 + j0 * ldc, ldc, accumulate, own, tiny);
    }
    if (!CHECK(std::memcmp(P.data(), C.data(), C.size() * sizeof(T)) == 0))
        std::fprintf(stderr, "    split product %s m=%ld n=%ld k=%ld trans_a=%d trans_b=%d\n",
                     sizeof(T) == 4 ? "float" : "double", m, n, k, trans_a, trans_b);
}

template <class T>
void check_all(std::mt19937_64& rng) {
    // (m, n, k): single elements; the tiny path; edges of the 2L x 6 register tile; k beyond
    // one k-block (256); m beyond one block of A (~144 rows); n beyond one block of B (2040);
    // a column stride of 4 KiB (B then packed, not read in place)
    const long shapes[][3] = {{1, 1, 1},     {3, 7, 5},    {4, 50, 33},   {5, 6, 1},    {17, 13, 9},
                              {32, 12, 64},  {33, 64, 300}, {170, 20, 40}, {20, 2050, 7},
                              {20, 13, 4096 / (long)sizeof(T)}};
    for (const auto& s : shapes)
        for (int layout = 0; layout < 4; ++layout)
            for (int acc = 0; acc < 2; ++acc) check_product<T>(s[0], s[1], s[2], layout & 1, layout & 2, acc, rng);
    // k == 0: C is zeroed, or left as it is when accumulating
    std::vector<T> C(12, T(5));
    gemm::PackBuffers<T> buf;
    gemm::product<T>(3, 4, 0, nullptr, 1, 3, nullptr, 1, 0, C.data(), 3, true, buf, false);
    CHECK(C[0] == T(5) && C[11] == T(5));
    gemm::product<T>(3, 4, 0, nullptr, 1, 3, nullptr, 1, 0, C.data(), 3, false, buf, false);
    CHECK(C[0] == T(0) && C[11] == T(0));
}

}  // namespace

int main() {
    std::mt19937_64 rng(20261203);
    check_all<float>(rng);
    check_all<double>(rng);
    return genmix_test::report("test_gemm");
}
