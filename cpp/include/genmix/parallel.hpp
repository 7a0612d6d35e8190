// Deterministic parallel loops over a fixed partition of work, with an exception vault
// and a cooperative stop flag (for Ctrl-C). No Python headers here.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace genmix {

// Thrown by the core when the caller's poll function asked to stop (e.g. Ctrl-C).
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};

// Asked now and then, from the calling thread only, whether to stop; returns true to stop.
using PollFn = std::function<bool()>;

// fork safety. libgomp's thread pool does not survive fork(): a child forked after the
// parent ran a thread team would wait forever for pool threads that only exist in the
// parent. So every team marks `team_used`, and a pthread_atfork child handler (registered
// once per process by the module, which shares one ForkState between all core variants
// loaded) sets `forked` in such a child: it then runs every call on one thread. Results
// are the same bits for any thread count, so only the speed changes.
struct ForkState {
    std::atomic<bool> team_used{false};
    std::atomic<bool> forked{false};
};

// The process's ForkState: this module's own until the module points it at the shared one.
inline ForkState*& fork_state_ptr() {
    static ForkState own;
    static ForkState* current = &own;
    return current;
}
inline ForkState& fork_state() { return *fork_state_ptr(); }

// The pthread_atfork child handler.
inline void on_fork_child() {
    ForkState& s = fork_state();
    if (s.team_used.load()) s.forked.store(true);
}

inline int resolve_threads(int n_threads) {
#ifdef _OPENMP
    if (fork_state().forked.load(std::memory_order_relaxed)) return 1;
    return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    return 1;
#endif
}

// Runs body(i) for i in [0, n_items), spread over n_threads threads. Which thread runs an
// item never changes the result as long as body(i) only writes state owned by item i.
// An exception inside the region is caught, the remaining items are skipped, and the
// first exception is rethrown on the calling thread. The calling thread (OpenMP's
// master) polls every `poll_interval_s`; a true answer stops the loop with Interrupted.
template <class Body>
void parallel_for(long n_items, int n_threads, Body&& body, const PollFn* poll = nullptr,
                  double poll_interval_s = 0.05) {
    std::atomic<bool> stop{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    bool interrupted = false;
    using clock = std::chrono::steady_clock;
    auto last_poll = clock::now();
    const int nt = std::max(1, (int)std::min<long>(resolve_threads(n_threads), n_items));

    auto run_one = [&](long i, bool is_master) {
        if (stop.load(std::memory_order_relaxed)) return;
        try {
            if (is_master && poll && *poll) {
                auto now = clock::now();
                if (std::chrono::duration<double>(now - last_poll).count() >= poll_interval_s) {
                    last_poll = now;
                    if ((*poll)()) {
                        interrupted = true;
                        stop = true;
                        return;
                    }
                }
            }
            body(i);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            stop = true;
        }
    };

#ifdef _OPENMP
    if (nt > 1) {
        fork_state().team_used.store(true, std::memory_order_relaxed);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (long i = 0; i < n_items; ++i) run_one(i, omp_get_thread_num() == 0);
    } else
#endif
    {
        for (long i = 0; i < n_items; ++i) run_one(i, true);
    }
    if (error) std::rethrow_exception(error);
    if (interrupted) throw Interrupted();
}

// A fixed partition of n rows into blocks of `block` rows, grouped into `n_chunks`
// contiguous chunks. It depends only on n and the sizes chosen from the problem shape,
// never on the thread count, so per-chunk sums reduced in chunk order give the same bits
// for any number of threads.
struct RowPartition {
    long n = 0, block = 0, n_blocks = 0, n_chunks = 0;

    RowPartition(long n_rows, long block_rows, long max_chunks) : n(n_rows), block(block_rows) {
        n_blocks = (n + block - 1) / block;
        n_chunks = std::max<long>(1, std::min(n_blocks, max_chunks));
    }
    long chunk_first_block(long c) const { return c * n_blocks / n_chunks; }
    long block_begin(long b) const { return b * block; }
    long block_end(long b) const { return std::min(n, (b + 1) * block); }
};

}  // namespace genmix
