// A minimal check macro for the C++ kernel tests: a failed check prints where and what, and
// the program goes on; main returns report(), non-zero when any check failed.
#pragma once

#include <cmath>
#include <cstdio>

namespace genmix_test {

inline int& failures() {
    static int n = 0;
    return n;
}
inline int& checks() {
    static int n = 0;
    return n;
}

inline bool check(bool ok, const char* file, int line, const char* what) {
    ++checks();
    if (!ok) {
        ++failures();
        std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    }
    return ok;
}

// |a - b| <= tol, printing both values when not.
inline bool check_close(double a, double b, double tol, const char* file, int line, const char* what) {
    const bool ok = std::fabs(a - b) <= tol;  // false for NaN
    if (!check(ok, file, line, what)) std::fprintf(stderr, "    %.17g vs %.17g (tolerance %.3g)\n", a, b, tol);
    return ok;
}

inline int report(const char* program) {
    std::printf("%s: %d checks, %d failed\n", program, checks(), failures());
    return failures() == 0 ? 0 : 1;
}

}  // namespace genmix_test

#define CHECK(cond) ::genmix_test::check((cond), __FILE__, __LINE__, #cond)
#define CHECK_CLOSE(a, b, tol) ::genmix_test::check_close((a), (b), (tol), __FILE__, __LINE__, #a " ~ " #b)
