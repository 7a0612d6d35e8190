// The MLP passes alone: gradients (parameters and inputs) against central finite
// differences, the double-backpropagation gradient of the input-gradient penalty likewise,
// and the same bits for any thread count (forward, backward, penalty, a few GAN steps).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "check.hpp"
#include "genmix/gan.hpp"
#include "genmix/nn.hpp"

using namespace genmix;

namespace {

template <class T>
std::vector<T> random_values(long n, std::mt19937_64& rng, double scale = 1.0) {
    std::normal_distribution<double> g(0.0, scale);
    std::vector<T> v((std::size_t)n);
    for (T& x : v) x = (T)g(rng);
    return v;
}

// sum_i <G_i, f(x_i)>
double loss(const nn::Spec& s, const std::vector<double>& p, const std::vector<double>& X,
            const std::vector<double>& G, long n) {
    std::vector<double> out((std::size_t)(n * s.d_out()));
    nn::forward<double>(s, p.data(), X.data(), n, out.data(), 1);
    double l = 0;
    for (std::size_t i = 0; i < out.size(); ++i) l += G[i] * out[i];
    return l;
}

// (f() with v[j] + h - f() with v[j] - h) / 2h, v[j] left as it was
template <class F>
double central_difference(std::vector<double>& v, long j, F&& f) {
    const double h = 1e-5, x = v[j];
    v[j] = x + h;
    const double up = f();
    v[j] = x - h;
    const double down = f();
    v[j] = x;
    return (up - down) / (2 * h);
}

void check_gradients(const nn::Spec& s, std::mt19937_64& rng) {
    const long n = 7;
    std::vector<double> p((std::size_t)s.n_params);
    nn::init_params<double>(s, nn::Init::Auto, 11, p.data());
    const std::vector<double> X = random_values<double>(n * s.d_in(), rng);
    const std::vector<double> G = random_values<double>(n * s.d_out(), rng);
    std::vector<double> grad((std::size_t)s.n_params), dX((std::size_t)(n * s.d_in()));
    nn::backward<double>(s, p.data(), X.data(), G.data(), n, grad.data(), dX.data(), 1);
    std::vector<double> q = p, Y = X;
    for (long j = 0; j < s.n_params; ++j) {
        const double fd = central_difference(q, j, [&] { return loss(s, q, X, G, n); });
        CHECK_CLOSE(grad[j], fd, 1e-6 * (1 + std::fabs(fd)));
    }
    for (long j = 0; j < n * s.d_in(); ++j) {
        const double fd = central_difference(Y, j, [&] { return loss(s, p, Y, G, n); });
        CHECK_CLOSE(dX[j], fd, 1e-6 * (1 + std::fabs(fd)));
    }
}

// scale * mean_i (||grad_x f(x_i)|| - center)^2 + sum_i G_i f(x_i), the input gradients
// from backward (so this checks the penalty pass against the plain passes); R into *r.
double penalised(const nn::Spec& s, const std::vector<double>& p, const std::vector<double>& X, long n,
                 double center, double scale, const double* G, double* r = nullptr) {
    const std::vector<double> ones((std::size_t)n, 1.0);
    std::vector<double> dX((std::size_t)(n * s.d_in()));
    nn::backward<double>(s, p.data(), X.data(), ones.data(), n, nullptr, dX.data(), 1);
    double R = 0;
    for (long i = 0; i < n; ++i) {
        double sq = 0;
        for (long f = 0; f < s.d_in(); ++f) sq += dX[i * s.d_in() + f] * dX[i * s.d_in() + f];
        R += (std::sqrt(sq) - center) * (std::sqrt(sq) - center);
    }
    R /= (double)n;
    if (r) *r = R;
    double total = scale * R;
    if (G) total += loss(s, p, X, std::vector<double>(G, G + n), n);
    return total;
}

void check_penalty(const nn::Spec& s, double center, bool with_loss, std::mt19937_64& rng) {
    const long n = 6;
    const double scale = 0.7;
    std::vector<double> p((std::size_t)s.n_params);
    nn::init_params<double>(s, nn::Init::Auto, 5, p.data());
    const std::vector<double> X = random_values<double>(n * s.d_in(), rng), G = random_values<double>(n, rng);
    const double* Gp = with_loss ? G.data() : nullptr;
    std::vector<double> grad((std::size_t)s.n_params);
    const double R = nn::input_gradient_penalty<double>(s, p.data(), X.data(), n, center, grad.data(), 1, nullptr,
                                                        nullptr, Gp, scale);
    double R_ref;
    penalised(s, p, X, n, center, scale, Gp, &R_ref);
    CHECK_CLOSE(R, R_ref, 1e-12 * (1 + R_ref));
    std::vector<double> q = p;
    for (long j = 0; j < s.n_params; ++j) {
        const double fd = central_difference(q, j, [&] { return penalised(s, q, X, n, center, scale, Gp); });
        CHECK_CLOSE(grad[j], fd, 1e-6 * (1 + std::fabs(fd)));
    }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// forward, backward and the penalty over several super-blocks: 1 thread's bits for 2, 3, 4
void check_threads(const nn::Spec& s, long n, std::mt19937_64& rng) {
    std::vector<float> p((std::size_t)s.n_params);
    nn::init_params<float>(s, nn::Init::Auto, 3, p.data());
    const std::vector<float> X = random_values<float>(n * s.d_in(), rng), G = random_values<float>(n, rng);
    std::vector<float> out1, grad1, dX1, pen1;
    double R1 = 0;
    for (int nt = 1; nt <= 4; ++nt) {
        std::vector<float> out((std::size_t)n), grad((std::size_t)s.n_params), dX((std::size_t)(n * s.d_in()));
        std::vector<float> pen((std::size_t)s.n_params);
        nn::forward<float>(s, p.data(), X.data(), n, out.data(), nt);
        nn::backward<float>(s, p.data(), X.data(), G.data(), n, grad.data(), dX.data(), nt);
        const double R = nn::input_gradient_penalty<float>(s, p.data(), X.data(), n, 1.0f, pen.data(), nt, nullptr,
                                                           nullptr, G.data(), 0.5f);
        if (nt == 1) {
            out1 = out, grad1 = grad, dX1 = dX, pen1 = pen, R1 = R;
            continue;
        }
        if (!CHECK(same_bits(out, out1) && same_bits(grad, grad1) && same_bits(dX, dX1) && same_bits(pen, pen1) &&
                   R == R1))
            std::fprintf(stderr, "    network of %ld parameters, %ld rows, %d threads\n", s.n_params, n, nt);
    }
}

// A few GAN training steps (Trainer::step) with a gradient penalty: the same state for 1 and 2 threads.
void check_gan_threads(std::mt19937_64& rng) {
    gan::Config c;
    c.G = nn::Spec({4, 32, 3}, nn::Act::LeakyRelu, nn::Act::Identity, 0.2);
    c.D = nn::Spec({3, 32, 1}, nn::Act::LeakyRelu, nn::Act::Identity, 0.2);
    c.penalty = gan::Penalty::GP;
    c.penalty_weight = 1.0;
    c.batch = 40;
    c.ema = 0.99;
    const long n_rows = 100;
    const std::vector<float> X = random_values<float>(n_rows * 3, rng);
    std::vector<float> first;
    for (int nt = 1; nt <= 2; ++nt) {
        c.n_threads = nt;
        const long ng = c.G.n_params, nd = c.D.n_params;
        std::vector<float> buf((std::size_t)(4 * ng + 3 * nd), 0.0f);  // g, g_ema, g_m, g_v, d, d_m, d_v
        float *g = buf.data(), *ge = g + ng, *gm = ge + ng, *gv = gm + ng, *d = gv + ng, *dm = d + nd, *dv = dm + nd;
        nn::init_params<float>(c.G, nn::Init::Auto, 1, g);
        nn::init_params<float>(c.D, nn::Init::Auto, 2, d);
        std::copy(g, g + ng, ge);
        std::int64_t counters[3] = {0, 0, 0};
        gan::State<float> st{g, d, ge, gm, gv, dm, dv, counters, 42};
        double stats[gan::kNStats];
        const gan::Status status = gan::train<float>(c, X.data(), n_rows, st, 5, 5, nullptr, nullptr, stats);
        CHECK(status == gan::Status::Done && counters[0] == 5 && gan::finite_stats(stats));
        if (nt == 1) first = buf;
        else CHECK(same_bits(buf, first));
    }
}

}  // namespace

int main() {
    std::mt19937_64 rng(20261203);
    // curved activations (tanh, sigmoid), and piecewise-linear ones (a kink is a measure-zero event)
    check_gradients(nn::Spec({3, 5, 4, 2}, nn::Act::Tanh, nn::Act::Sigmoid, 0.2), rng);
    check_gradients(nn::Spec({3, 6, 2}, nn::Act::LeakyRelu, nn::Act::Identity, 0.2), rng);
    for (double center : {0.0, 1.0})
        for (bool with_loss : {false, true}) {
            check_penalty(nn::Spec({3, 5, 4, 1}, nn::Act::Tanh, nn::Act::Identity, 0.2), center, with_loss, rng);
            check_penalty(nn::Spec({3, 6, 5, 1}, nn::Act::LeakyRelu, nn::Act::Identity, 0.2), center, with_loss,
                          rng);
        }
    // a small network (passes by halves) and a wide one (products split over threads), over
    // two and a half super-blocks
    check_threads(nn::Spec({4, 16, 16, 1}, nn::Act::Tanh, nn::Act::Identity, 0.2), 1100, rng);
    check_threads(nn::Spec({8, 260, 260, 1}, nn::Act::LeakyRelu, nn::Act::Identity, 0.2), 1100, rng);
    check_gan_threads(rng);
    return genmix_test::report("test_mlp");
}
