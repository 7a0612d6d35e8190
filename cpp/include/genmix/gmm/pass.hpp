// One statistics pass over the rows: E-step and accumulation per chunk, reduced in chunk order.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/missing_pass.hpp"

namespace genmix {

// The anchors of a pass in the data's type, zero padded to whole vectors (dp x k).
template <class T>
MatT<T> padded_anchors(const MatD& anchors, int d, int k) {
    MatT<T> a = MatT<T>::Zero(padded_width(d, Simd<T>::lanes), k);
    a.topRows(d) = anchors.cast<T>();
    return a;
}

// The unit every statistics pass is made of: the rows of blocks [b_begin, b_end) of `part`
// (cT: the centre c in T; anchors_pad: see padded_anchors), E-step and accumulation block
// after block, in order, into one Stats. Scratch s, s2 are reused across calls. For one
// covariance family (see family.hpp): no branch on the covariance type in the block loop.
template <class Family, class T>
Stats accumulate_blocks(Family, const DataView<T>& data, const ArrT<T>& cT, int k, const RespSource<T>& src,
                        const MatT<T>& anchors_pad, const RowPartition& part, long b_begin, long b_end,
                        Scratch<T>& s, Scratch<T>& s2) {
    constexpr CovType cov = Family::cov;
    const int d = data.d;
    Stats st(cov, k, d);
    for (long b = b_begin; b < b_end; ++b) {
        const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
        Family::load_rows(data, cT, r0, B, s);
        const bool gaps = data.has_missing && scan_missing(data, r0, B, s, src.missing ? src.missing->patterns : nullptr);
        if (gaps) {
            if (!src.model || !src.missing) throw std::invalid_argument("rows with missing values need a model");
            fill_gaps(Family(), s, d, [](int) { return T(0); });
        }
        // soft E-step on complete rows: normalised lazily, by accumulate_block, where a
        // sparse block touches only the entries it keeps
        const bool lazy = src.model && src.algorithm == Algorithm::Soft && !gaps;
        if (src.model) {
            if (gaps) log_prob_missing(Family(), *src.model, *src.missing, s, r0, B);
            else src.model->template get<Family>().log_prob(s, B);
            if (src.row_class) {
                const T ninf = -std::numeric_limits<T>::infinity();
                for (long i = 0; i < B; ++i) {
                    const std::int64_t z = src.row_class[r0 + i];
                    if (z < 0) continue;
                    for (int j = 0; j < k; ++j)
                        if (src.component_class[j] != z) s.logp(i, j) = ninf;
                }
            }
            responsibilities_from_logp(s.logp, src.algorithm, s.obj, lazy ? &s.rowsum : nullptr);
            if (lazy) s.scale = s.rowsum.inverse();
        } else {
            s.logp.setZero(B, k);
            s.obj.setZero(B);
            for (long i = 0; i < B; ++i) {
                if (src.labels) {
                    const std::int64_t z = src.labels[r0 + i];
                    if (z >= 0) s.logp(i, (long)z) = T(1);
                } else {  // keyed by the row's values: equal rows, equal draws
                    const std::uint64_t key = src.seed ^ row_hash(data.X + (r0 + i) * d, d);
                    double tot = 0;
                    for (int j = 0; j < k; ++j) {
                        s.logp(i, j) = (T)counter_uniform(key, (std::uint64_t)j);
                        tot += (double)s.logp(i, j);
                    }
                    for (int j = 0; j < k; ++j) s.logp(i, j) = (T)((double)s.logp(i, j) / tot);
                }
            }
        }
        if (data.sample_weight) {
            Eigen::Map<const ArrT<T>> sw(data.sample_weight + r0, B);
            if (lazy) s.scale *= sw;
            else
                for (int j = 0; j < k; ++j) s.logp.col(j).array() *= sw;
            st.obj += (s.obj * sw.template cast<double>()).sum();
            st.wsum += sw.template cast<double>().sum();
        } else {
            st.obj += s.obj.sum();
            st.wsum += (double)B;
        }
        if (gaps) accumulate_block_missing(Family(), *src.missing, s, anchors_pad, s2, st);
        else Family::accumulate_block(d, s, anchors_pad, s2, st, lazy);
    }
    if (src.missing && cov == CovType::Full) add_conditional_covariances(*src.missing, s2, st);
    return st;
}

// The same for the family of `cov`: the one dispatch of a run of blocks.
template <class T>
Stats accumulate_blocks(const DataView<T>& data, const ArrT<T>& cT, CovType cov, int k, const RespSource<T>& src,
                        const MatT<T>& anchors_pad, const RowPartition& part, long b_begin, long b_end,
                        Scratch<T>& s, Scratch<T>& s2) {
    return with_family(cov, [&](auto fam) {
        return accumulate_blocks(fam, data, cT, k, src, anchors_pad, part, b_begin, b_end, s, s2);
    });
}

// The chunks of rows a pass over n rows accumulates separately (in parallel) before adding
// them in order: chunk ci is blocks [first[ci], first[ci + 1]) of kBlockRows rows.
inline RowPartition stats_partition(long n, CovType cov, int k, int d) {
    return make_partition(n, Stats::values(cov, k, d));
}

// One pass over the rows: responsibilities from `src`, statistics accumulated per chunk
// (accumulate_blocks) and reduced in chunk order.
template <class T>
Stats stats_pass(const DataView<T>& data, const VecD& c, CovType cov, int k, const RespSource<T>& src,
                 const MatD& anchors, int n_threads, const PollFn* poll) {
    const RowPartition part = stats_partition(data.n, cov, k, data.d);
    std::vector<Stats> chunk_stats(part.n_chunks);
    const int nt = threads_for(part, n_threads);
    std::vector<Scratch<T>> scratch(nt), scratch2(nt);
    const ArrT<T> cT = c.cast<T>().array();
    const MatT<T> anchors_pad = padded_anchors<T>(anchors, data.d, k);
    parallel_for(part.n_chunks, nt, [&](long ci) {
        chunk_stats[ci] = accumulate_blocks(data, cT, cov, k, src, anchors_pad, part, part.chunk_first_block(ci),
                                            part.chunk_first_block(ci + 1), scratch[thread_index()],
                                            scratch2[thread_index()]);
    }, poll);

    Stats total = std::move(chunk_stats[0]);
    for (long ci = 1; ci < part.n_chunks; ++ci) total.add(chunk_stats[ci]);
    return total;
}

}  // namespace genmix
