// Bindings for the GAN trainer (genmix/gan.hpp). Python (genmix.gan) has validated the
// configuration and the data; these functions check only what would make the core read
// or write out of bounds, release the GIL, and run. The state arrays are updated in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "genmix/gan.hpp"
#include "arrays.hpp"
#include "interrupt.hpp"

namespace py = pybind11;
using genmix_bindings::with_float_type;
using genmix_bindings::Interruptible;
namespace gan = genmix::gan;
namespace nn = genmix::nn;

namespace {

gan::Config make_config(const py::dict& d) {
    gan::Config c;
    const auto act = nn::parse_activation(d["activation"].cast<std::string>());
    const double slope = d["negative_slope"].cast<double>();
    c.G = nn::Spec(d["g_sizes"].cast<std::vector<long>>(), act, nn::Act::Identity, slope);
    c.D = nn::Spec(d["d_sizes"].cast<std::vector<long>>(), act, nn::Act::Identity, slope);
    if (c.D.d_out() != 1 || c.D.d_in() != c.G.d_out())
        throw std::invalid_argument("the discriminator must map the generator's output to one value");
    c.loss = gan::parse_loss(d["loss"].cast<std::string>());
    c.penalty = gan::parse_penalty(d["penalty"].cast<std::string>());
    c.penalty_weight = d["penalty_weight"].cast<double>();
    c.update = gan::parse_update(d["update"].cast<std::string>());
    c.d_steps = d["d_steps"].cast<int>();
    c.optim = gan::parse_optim(d["optimizer"].cast<std::string>());
    c.lr_g = d["lr_g"].cast<double>();
    c.lr_d = d["lr_d"].cast<double>();
    c.schedule = gan::parse_schedule(d["lr_schedule"].cast<std::string>());
    c.lr_decay_steps = d["lr_decay_steps"].cast<std::int64_t>();
    c.lr_end_factor = d["lr_end_factor"].cast<double>();
    c.beta1 = d["beta1"].cast<double>();
    c.beta2 = d["beta2"].cast<double>();
    c.batch = d["batch_size"].cast<long>();
    c.ema = d["ema"].cast<double>();
    c.latent = gan::parse_latent(d["latent_distribution"].cast<std::string>());
    c.n_threads = d["n_threads"].cast<int>();
    if (c.batch < 1 || c.d_steps < 1) throw std::invalid_argument("batch_size and d_steps must be >= 1");
    return c;
}

template <class T>
bool has_type(const py::array& a) { return py::isinstance<py::array_t<T>>(a); }

template <class T>
T* buf(const py::array& a, const char* name, long size) {
    if (!has_type<T>(a)) throw std::invalid_argument(std::string(name) + " has the wrong dtype");
    if (!(a.flags() & py::array::c_style) || !a.writeable())
        throw std::invalid_argument(std::string(name) + " must be a writeable C-contiguous array");
    if (a.size() != size) throw std::invalid_argument(std::string(name) + " has the wrong size");
    return static_cast<T*>(const_cast<void*>(a.data()));
}

// A read-only input: C-contiguous, of type T and `size` elements (need not be writeable).
template <class T>
const T* cbuf(const py::array& a, const char* name, long size) {
    if (!has_type<T>(a)) throw std::invalid_argument(std::string(name) + " has the wrong dtype");
    if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(std::string(name) + " must be C-contiguous");
    if (a.size() != size) throw std::invalid_argument(std::string(name) + " has the wrong size");
    return static_cast<const T*>(a.data());
}

const char* status_name(gan::Status s) {
    switch (s) {
        case gan::Status::Done: return "done";
        case gan::Status::Stopped: return "stopped";
        case gan::Status::Diverged: return "diverged";
    }
    return "?";
}

template <class T>
py::tuple train_t(const gan::Config& c, const py::array& X, const py::dict& st, std::uint64_t seed,
                  std::int64_t n_steps, std::int64_t log_every, const py::object& log_fn,
                  const py::object& log_record) {
    if (X.ndim() != 2 || X.shape(1) != c.dim() || X.shape(0) < 1) throw std::invalid_argument("X has the wrong shape");
    const long n = (long)X.shape(0);
    const T* x = cbuf<T>(X, "X", n * c.dim());
    gan::State<T> S;
    S.g = buf<T>(st["g"], "g", c.G.n_params);
    S.d = buf<T>(st["d"], "d", c.D.n_params);
    S.g_ema = c.ema >= 0 ? buf<T>(st["g_ema"], "g_ema", c.G.n_params) : nullptr;
    S.g_m = buf<T>(st["g_m"], "g_m", c.G.n_params);
    S.d_m = buf<T>(st["d_m"], "d_m", c.D.n_params);
    S.g_v = buf<T>(st["g_v"], "g_v", c.G.n_params);
    S.d_v = buf<T>(st["d_v"], "d_v", c.D.n_params);
    py::array counters = st["counters"];
    if (!has_type<std::int64_t>(counters) || counters.size() != 3 || !(counters.flags() & py::array::c_style))
        throw std::invalid_argument("counters must be 3 int64");
    S.counters = static_cast<std::int64_t*>(counters.mutable_data());
    S.seed = seed;
    if (log_every < 1) throw std::invalid_argument("log_every must be >= 1");

    // log_record (optional, float64, 1 + kNStats): each logged step and its stats are written
    // there before log_fn runs. No Python code runs between the core's commit of a logging step
    // and this write, so a KeyboardInterrupt that fires at the start of log_fn (Ctrl-C pressed
    // while the core was computing) cannot lose the step's history entry: the caller finds it here.
    double* record = nullptr;
    if (!log_record.is_none())
        record = buf<double>(log_record.cast<py::array>(), "log_record", 1 + gan::kNStats);
    gan::LogFn log;
    if (!log_fn.is_none()) {
        log = [&](std::int64_t step, const double* stats) {
            py::gil_scoped_acquire gil;
            if (record) {
                record[0] = (double)step;
                std::copy(stats, stats + gan::kNStats, record + 1);
            }
            py::array_t<double> a(gan::kNStats);
            std::copy(stats, stats + gan::kNStats, a.mutable_data());
            return log_fn(step, a).cast<bool>();
        };
    }
    double last[gan::kNStats] = {0};
    gan::Status status = gan::Status::Done;
    Interruptible guard;
    guard.run([&] { status = gan::train<T>(c, x, n, S, n_steps, log_every, log, &guard.poll, last); });
    py::array_t<double> last_arr(gan::kNStats);
    std::copy(last, last + gan::kNStats, last_arr.mutable_data());
    return py::make_tuple(status_name(status), last_arr);
}

template <class T>
std::string calibrate_t(const gan::Config& c, const py::array& X, const py::array& g, const py::array& d,
                        std::int64_t n_steps, std::uint64_t seed) {
    if (X.ndim() != 2 || X.shape(1) != c.dim() || X.shape(0) < 1) throw std::invalid_argument("X has the wrong shape");
    const long n = (long)X.shape(0);
    const T* x = cbuf<T>(X, "X", n * c.dim());
    const T* gp = nullptr;
    const T* pp = nullptr;
    long n_pool = 0;
    if (g.ndim() == 2) {  // a pool of generated rows
        if (g.shape(1) != c.dim() || g.shape(0) < 1) throw std::invalid_argument("the pool has the wrong shape");
        n_pool = (long)g.shape(0);
        pp = cbuf<T>(g, "pool", n_pool * c.dim());
    } else {
        gp = cbuf<T>(g, "g", c.G.n_params);
    }
    T* dp = buf<T>(d, "d", c.D.n_params);
    gan::Status status = gan::Status::Done;
    Interruptible guard;
    guard.run([&] { status = gan::calibrate<T>(c, x, n, gp, pp, n_pool, dp, n_steps, seed, &guard.poll); });
    return status_name(status);
}

template <class T>
py::tuple gradients_t(const gan::Config& c, const py::array& g, const py::array& d, const py::array& real,
                      const py::array& z, const py::array& eps) {
    const long B = c.batch;
    const T* gp = cbuf<T>(g, "g", c.G.n_params);
    const T* dp = cbuf<T>(d, "d", c.D.n_params);
    const T* rp = cbuf<T>(real, "real", B * c.dim());
    const T* zp = cbuf<T>(z, "z", B * c.latent_dim());
    const T* ep = cbuf<T>(eps, "eps", B);
    py::array_t<T> gd(c.D.n_params), gg(c.G.n_params);
    py::array_t<double> stats(gan::kNStats);
    T* gdp = gd.mutable_data();
    T* ggp = gg.mutable_data();
    double* sp = stats.mutable_data();
    {
        py::gil_scoped_release release;
        gan::gradients<T>(c, gp, dp, rp, zp, ep, gdp, ggp, sp);
    }
    return py::make_tuple(gd, gg, stats);
}

template <class T>
py::tuple draws_t(const gan::Config& c, std::uint64_t seed, std::int64_t step, int sub, long n_rows) {
    const long B = c.batch;
    py::array_t<std::int64_t> idx(B);
    py::array_t<T> z({(py::ssize_t)B, (py::ssize_t)c.latent_dim()});
    py::array_t<T> eps(B);
    std::vector<long> tmp(B);
    gan::draw<T>(seed, step, sub, n_rows, B, c.latent_dim(), c.latent, tmp.data(), z.mutable_data(),
                 eps.mutable_data());
    std::copy(tmp.begin(), tmp.end(), idx.mutable_data());
    return py::make_tuple(idx, z, eps);
}

}  // namespace

void register_gan(py::module_& m) {
    m.def(
        "train",
        [](const py::dict& config, const py::array& X, const py::dict& state, std::uint64_t seed,
           std::int64_t n_steps, std::int64_t log_every, const py::object& log_fn, const py::object& log_record) {
            const gan::Config c = make_config(config);
            return with_float_type(X, [&](auto t) {
                return train_t<decltype(t)>(c, X, state, seed, n_steps, log_every, log_fn, log_record);
            });
        },
        py::arg("config"), py::arg("X"), py::arg("state"), py::arg("seed"), py::arg("n_steps"),
        py::arg("log_every"), py::arg("log_fn"), py::arg("log_record") = py::none(),
        "Run n_steps GAN training steps in place on the state arrays; returns (status, last step's stats). "
        "log_record (float64, 1 + n_stats, optional) receives each logged step and its stats before log_fn "
        "is called.");
    m.def(
        "calibrate",
        [](const py::dict& config, const py::array& X, const py::array& g, const py::array& d, std::int64_t n_steps,
           std::uint64_t seed) {
            const gan::Config c = make_config(config);
            return with_float_type(X, [&](auto t) {
                return calibrate_t<decltype(t)>(c, X, g, d, n_steps, seed);
            });
        },
        py::arg("config"), py::arg("X"), py::arg("g"), py::arg("d"), py::arg("n_steps"), py::arg("seed"),
        "Train D alone (in place) against the fixed generator g for n_steps; returns the status.");
    m.def(
        "gradients",
        [](const py::dict& config, const py::array& g, const py::array& d, const py::array& real, const py::array& z,
           const py::array& eps) {
            const gan::Config c = make_config(config);
            return with_float_type(g, [&](auto t) {
                return gradients_t<decltype(t)>(c, g, d, real, z, eps);
            });
        },
        py::arg("config"), py::arg("g"), py::arg("d"), py::arg("real"), py::arg("z"), py::arg("eps"),
        "(grad of L_D wrt D, grad of L_G wrt G, stats) at one point for given draws (a test hook).");
    m.def(
        "draws",
        [](const py::dict& config, std::uint64_t seed, std::int64_t step, int sub, long n_rows, bool float32) {
            const gan::Config c = make_config(config);
            return float32 ? draws_t<float>(c, seed, step, sub, n_rows) : draws_t<double>(c, seed, step, sub, n_rows);
        },
        py::arg("config"), py::arg("seed"), py::arg("step"), py::arg("sub"), py::arg("n_rows"), py::arg("float32"),
        "(row indices, latent noise, interpolation weights) drawn for (step, sub-step) (a test hook).");
}
