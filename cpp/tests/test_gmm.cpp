// The GMM E-step alone (through the umbrella header): log-densities against values worked
// out by hand, and the same bits for any thread count.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "check.hpp"
#include "genmix/mixture.hpp"

using namespace genmix;

namespace {

// log p(x) for each row of X (n x d) under p
std::vector<double> log_prob(const GaussianParams& p, const std::vector<double>& X, int n_threads) {
    DataView<double> data;
    data.X = X.data();
    data.d = p.d;
    data.n = (long)X.size() / p.d;
    std::vector<double> lp((std::size_t)data.n);
    evaluate<double>(data, p, Algorithm::Soft, lp.data(), nullptr, nullptr, n_threads, nullptr);
    return lp;
}

void check_full() {
    // one component, mean 0, covariance diag(4, 1): precision diag(1/4, 1) = U U^T, U = diag(1/2, 1).
    // At x = (2, 1): log p = -log(2 pi) - log(2) / 1 - (4/4 + 1/1) / 2 = -1.8378770664093455 - 0.6931471805599453 - 1
    GaussianParams p;
    p.cov = CovType::Full;
    p.k = 1;
    p.d = 2;
    p.weights = VecD::Constant(1, 1.0);
    p.means = RowMatD::Zero(1, 2);
    p.prec_chol = VecD::Zero(4);
    p.prec_chol << 0.5, 0.0, 0.0, 1.0;
    const std::vector<double> lp = log_prob(p, {2.0, 1.0, 0.0, 0.0}, 1);
    CHECK_CLOSE(lp[0], -3.5310242469692907, 1e-13);
    CHECK_CLOSE(lp[1], -1.8378770664093455 - 0.6931471805599453, 1e-13);  // at the mean
}

void check_diag_mixture() {
    // two components, weights 0.25 / 0.75, means (0, 0) / (1, 2), variances (1, 1) / (4, 0.25).
    // At x = (1, 1), with c = -log(2 pi):
    //   component 0: log 0.25 + c - (1 + 1) / 2                       = log 0.25 + c - 1
    //   component 1: log 0.75 + c - log(2 * 0.5) - (0 / 4 + 1 / 0.25) / 2 = log 0.75 + c - 2
    //   log p = c + log(0.25 e^-1 + 0.75 e^-2)
    GaussianParams p;
    p.cov = CovType::Diag;
    p.k = 2;
    p.d = 2;
    p.weights = VecD(2);
    p.weights << 0.25, 0.75;
    p.means = RowMatD(2, 2);
    p.means << 0, 0, 1, 2;
    p.prec_chol = VecD(4);
    p.prec_chol << 1, 1, 0.5, 2;  // 1 / standard deviation
    const std::vector<double> lp = log_prob(p, {1.0, 1.0}, 1);
    const double expected = -1.8378770664093455 + std::log(0.25 * std::exp(-1.0) + 0.75 * std::exp(-2.0));
    CHECK_CLOSE(lp[0], expected, 1e-13);
}

void check_threads() {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> g;
    const int k = 3, d = 4;
    GaussianParams p;
    p.cov = CovType::Full;
    p.k = k;
    p.d = d;
    p.weights = VecD::Constant(k, 1.0 / k);
    p.means = RowMatD(k, d);
    for (int j = 0; j < k; ++j)
        for (int f = 0; f < d; ++f) p.means(j, f) = 2 * g(rng);
    p.prec_chol = VecD::Zero(k * d * d);
    for (int j = 0; j < k; ++j)
        for (int r = 0; r < d; ++r) {
            p.prec_chol[j * d * d + r * d + r] = 1.0 + 0.1 * j;  // upper triangular, C order
            for (int c2 = r + 1; c2 < d; ++c2) p.prec_chol[j * d * d + r * d + c2] = 0.2 * g(rng);
        }
    std::vector<double> X(20000 * d);
    for (double& x : X) x = 3 * g(rng);
    const std::vector<double> one = log_prob(p, X, 1);
    bool finite = true;
    for (double v : one) finite = finite && std::isfinite(v);
    CHECK(finite);
    for (int nt : {2, 3}) {
        const std::vector<double> many = log_prob(p, X, nt);
        CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(double)) == 0);
    }
}

}  // namespace

int main() {
    check_full();
    check_diag_mixture();
    check_threads();
    return genmix_test::report("test_gmm");
}
