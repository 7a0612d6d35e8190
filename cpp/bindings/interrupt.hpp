// Runs core work with the GIL released and turns Ctrl-C into KeyboardInterrupt; shared
// by every binding file.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "genmix/parallel.hpp"

namespace genmix_bindings {

// Ctrl-C is noticed by `poll` (called by the core from the calling thread, which takes the
// GIL back briefly) and re-raised after the work stops as the original Python exception.
class Interruptible {
public:
    genmix::PollFn poll = [this]() {
        pybind11::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            pending_ = std::make_unique<pybind11::error_already_set>();
            return true;
        }
        return false;
    };

    template <class F>
    void run(F&& work) {
        bool interrupted = false;
        {
            pybind11::gil_scoped_release release;
            try {
                work();
            } catch (const genmix::Interrupted&) {
                interrupted = true;
            }
        }
        if (interrupted) {
            if (pending_) throw *pending_;
            throw pybind11::error_already_set();
        }
    }

private:
    std::unique_ptr<pybind11::error_already_set> pending_;
};

}  // namespace genmix_bindings
