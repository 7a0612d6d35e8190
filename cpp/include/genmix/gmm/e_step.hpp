// The E-step half of EM as a primitive: the sufficient statistics of some rows under fixed
// parameters. With Stats::add (merge, in a fixed order) and m_step (m_step.hpp) it is all of
// EM, for rows that arrive in chunks or live on several machines; em_fit (em.hpp) runs the
// same pieces in one C++ loop.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/m_step.hpp"

namespace genmix {

struct EStepOptions {
    Algorithm algorithm = Algorithm::Soft;
    int n_threads = 0;
    // Accumulate every row in order into one Stats on one thread, as em_fit does each chunk
    // of stats_partition; otherwise the rows are partitioned like a whole data set.
    bool one_chunk = false;
    const std::int64_t* row_class = nullptr;  // semi-supervised clamping (see RespSource)
    const std::int64_t* component_class = nullptr;
};

// The E-step half of an EM iteration on the rows of `data`: their sufficient statistics
// under parameters p, in the coordinates x - c (c: column_centre of the whole data, the same
// for every chunk of it). Full covariance accumulates around shifted_means(p, c), which
// m_step must be given again.
//
// Driving em_fit's iteration by hand: split the rows at stats_partition's chunks, call this
// with one_chunk on each, add the results in chunk order (Stats::add), then m_step: the bits
// are em_fit's (for rows with gaps, as long as each chunk sees the same gap patterns cached;
// see find_gap_patterns). `patterns`: gap_patterns_for(data, p.cov, p.k), found once for
// many calls; `table`: memory for the missing-data table, handed from call to call.
template <class T>
Stats e_step_stats(const DataView<T>& data, const GaussianParams& p, const VecD& c, const EStepOptions& o,
                   const PollFn* poll, const GapPatterns& patterns, std::vector<double>* table = nullptr) {
    const LogProbModel<T> model(p, c);
    std::unique_ptr<MissingModel> missing;
    if (data.has_missing)
        missing.reset(new MissingModel(p, c, &patterns, o.n_threads, table ? std::move(*table) : std::vector<double>()));
    RespSource<T> src;
    src.model = &model;
    src.missing = missing.get();
    src.algorithm = o.algorithm;
    src.row_class = o.row_class;
    src.component_class = o.component_class;
    const MatD anchors = shifted_means(p, c);
    Stats st;
    if (o.one_chunk) {
        const RowPartition part(data.n, kBlockRows, 1);
        Scratch<T> s, s2;
        st = accumulate_blocks(data, c.cast<T>().array().eval(), p.cov, p.k, src,
                               padded_anchors<T>(anchors, p.d, p.k), part, 0, part.n_blocks, s, s2);
    } else {
        st = stats_pass(data, c, p.cov, p.k, src, anchors, o.n_threads, poll);
    }
    if (missing && table) *table = std::move(missing->table);  // its memory, for the next call
    return st;
}

// The same, finding the rows' gap patterns itself.
template <class T>
Stats e_step_stats(const DataView<T>& data, const GaussianParams& p, const VecD& c, const EStepOptions& o,
                   const PollFn* poll) {
    return e_step_stats(data, p, c, o, poll, gap_patterns_for(data, p.cov, p.k));
}

}  // namespace genmix
