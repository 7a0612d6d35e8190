// genmix._cpu: what the running CPU (and its operating system) supports, so that
// genmix._core can import the core variant built for it. Compiled for the baseline.
#include <pybind11/pybind11.h>

#include <string>

namespace py = pybind11;

namespace {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
// __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 registers.
#define GENMIX_CPU_FEATURE(name) {name, (bool)__builtin_cpu_supports(name)}
py::dict x86_features() {
    __builtin_cpu_init();
    const std::pair<const char*, bool> features[] = {
        GENMIX_CPU_FEATURE("sse4.2"),   GENMIX_CPU_FEATURE("popcnt"),   GENMIX_CPU_FEATURE("ssse3"),
        GENMIX_CPU_FEATURE("avx"),      GENMIX_CPU_FEATURE("avx2"),     GENMIX_CPU_FEATURE("fma"),
        GENMIX_CPU_FEATURE("bmi"),      GENMIX_CPU_FEATURE("bmi2"),     GENMIX_CPU_FEATURE("avx512f"),
        GENMIX_CPU_FEATURE("avx512bw"), GENMIX_CPU_FEATURE("avx512cd"), GENMIX_CPU_FEATURE("avx512dq"),
        GENMIX_CPU_FEATURE("avx512vl"),
    };
    py::dict out;
    for (const auto& f : features) out[f.first] = f.second;
    // the rest of x86-64-v3, which an -march=x86-64-v3 build may also use
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    out["f16c"] = (bool)__builtin_cpu_supports("f16c");
    out["lzcnt"] = (bool)__builtin_cpu_supports("lzcnt");
    out["movbe"] = (bool)__builtin_cpu_supports("movbe");
#else  // compilers that cannot ask: every CPU with AVX2 so far has them
    for (const char* name : {"f16c", "lzcnt", "movbe"}) out[name] = (bool)__builtin_cpu_supports("avx2");
#endif
    return out;
}
#undef GENMIX_CPU_FEATURE
#endif
}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "CPU features, for choosing a genmix core variant. Private.";
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    m.attr("arch") = "x86_64";
    m.def("features", &x86_features, "The CPU features the core variants need: name -> supported.");
#else
    m.attr("arch") = "other";
    m.def("features", [] { return py::dict(); }, "No x86 features on this architecture.");
#endif
}
