// Initialisation: row hashes and value order, k-means++ seeding, farthest rows, Lloyd.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include "genmix/gmm/em.hpp"

namespace genmix {

// ---------------------------------------------------------------------------------------
// k-means: greedy k-means++ seeding and Lloyd iterations, for initialisation

// row_hash of every row, into out (n values).
template <class T>
void row_hashes(const DataView<T>& data, std::uint64_t* out, int n_threads, const PollFn* poll) {
    const int d = data.d;
    const RowPartition part(data.n, 1024, 64);
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b)
            for (long i = part.block_begin(b); i < part.block_end(b); ++i) out[i] = row_hash(data.X + i * d, d);
    }, poll);
}

// Rows a and b in value order, given their hashes: by hash, then (a collision) by bits.
template <class T>
bool value_less(const DataView<T>& data, long a, long b, std::uint64_t ha, std::uint64_t hb) {
    if (ha != hb) return ha < hb;
    const T *xa = data.X + a * data.d, *xb = data.X + b * data.d;
    for (int f = 0; f < data.d; ++f)
        if (value_bits(xa[f]) != value_bits(xb[f])) return value_bits(xa[f]) < value_bits(xb[f]);
    return false;
}

// The row indices in an order set by the rows' values alone, so equal rows are adjacent
// and the order does not depend on where the rows are.
template <class T>
std::vector<long> value_order(const DataView<T>& data, int n_threads, const PollFn* poll) {
    const long n = data.n;
    std::vector<std::uint64_t> h(n);
    row_hashes(data, h.data(), n_threads, poll);
    std::vector<long> order(n);
    for (long i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](long a, long b) { return value_less(data, a, b, h[a], h[b]); });
    return order;
}

// Greedy k-means++ seeds (row indices). Rows are drawn by cumulative mass in value order:
// the first with probability proportional to w, the others to w * D^2 (w = 1 without
// sample weights). Equal rows are adjacent in that order, so a row of integer weight w is
// drawn exactly when one of w copies of it would be, in any row order, and the random
// stream is consumed the same way (up to rounding of the cumulative sums).
template <class T>
std::vector<long> kmeans_plusplus(const DataView<T>& data, int k, std::uint64_t seed, int n_threads,
                                  const PollFn* poll) {
    const long n = data.n;
    Xoshiro256 rng(seed);
    const int trials = 2 + (int)std::log((double)k);
    const RowPartition part(n, 1024, 64);
    const std::vector<long> order = value_order(data, n_threads, poll);
    std::vector<double> d2(n), cum(n);
    auto dist_to = [&](long r0, long B, long centre) {
        auto rows = data.rows(r0, B);
        auto ctr = data.rows(centre, 1);
        return ((rows.rowwise() - ctr.row(0)).template cast<double>().rowwise().squaredNorm()).eval();
    };
    const T* sw = data.sample_weight;
    auto wt = [&](long i) { return sw ? (double)sw[i] : 1.0; };
    long last = 0;  // position in `order` of the last row of positive mass
    auto fill_cum = [&](auto mass) {
        double total = 0;
        for (long r = 0; r < n; ++r) {
            const double m = mass(order[r]);
            if (m > 0) last = r;
            cum[r] = total += m;
        }
        return total;
    };
    auto draw = [&](double total) {  // a row with probability mass / total
        const double u = rng.uniform() * total;
        const long r = (long)(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        return order[std::min(r, last)];
    };
    std::vector<long> centres{draw(fill_cum(wt))};
    parallel_for(part.n_chunks, n_threads, [&](long ci) {
        for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
            const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
            Eigen::Map<VecD>(d2.data() + r0, B) = dist_to(r0, B, centres[0]);
        }
    }, poll);
    std::vector<long> cand(trials);
    MatD pot(part.n_chunks, trials);
    while ((int)centres.size() < k) {
        double total = fill_cum([&](long i) { return wt(i) * d2[i]; });
        if (!(total > 0)) total = fill_cum(wt);  // every row is a centre already: by weight
        for (int t = 0; t < trials; ++t) cand[t] = draw(total);
        parallel_for(part.n_chunks, n_threads, [&](long ci) {
            for (int t = 0; t < trials; ++t) pot(ci, t) = 0;
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                for (int t = 0; t < trials; ++t) {
                    const ArrD m = dist_to(r0, B, cand[t]).array().min(Eigen::Map<ArrD>(d2.data() + r0, B));
                    if (sw) pot(ci, t) += (m * Eigen::Map<const ArrT<T>>(sw + r0, B).template cast<double>()).sum();
                    else pot(ci, t) += m.sum();
                }
            }
        }, poll);
        int best = 0;
        double best_pot = std::numeric_limits<double>::infinity();
        for (int t = 0; t < trials; ++t) {
            double s = 0;
            for (long ci = 0; ci < part.n_chunks; ++ci) s += pot(ci, t);
            if (s < best_pot) { best_pot = s; best = t; }
        }
        const long chosen = cand[best];
        centres.push_back(chosen);
        parallel_for(part.n_chunks, n_threads, [&](long ci) {
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                Eigen::Map<ArrD> dd(d2.data() + r0, B);
                dd = dd.min(dist_to(r0, B, chosen).array());
            }
        }, poll);
    }
    return centres;
}

// Up to e rows of positive weight farthest from their cluster's centre, farthest first,
// equal rows counted once and ties going first in value order: a choice that depends on
// the rows' values and weights only. One serial pass, run only when a cluster is empty.
template <class T>
std::vector<long> farthest_rows(const DataView<T>& data, const std::vector<std::int64_t>& labels,
                                const RowMatD& centres, int e) {
    struct Cand { double dist; long row; std::uint64_t hash; };
    std::vector<Cand> top;  // sorted, farthest first
    auto before = [&](const Cand& a, const Cand& b) {
        return a.dist != b.dist ? a.dist > b.dist : value_less(data, a.row, b.row, a.hash, b.hash);
    };
    for (long i = 0; i < data.n; ++i) {
        if (data.sample_weight && !(data.sample_weight[i] > 0)) continue;
        const Cand c{(data.rows(i, 1).template cast<double>().row(0) - centres.row(labels[i])).squaredNorm(), i,
                     row_hash(data.X + i * data.d, data.d)};
        if ((int)top.size() == e && !before(c, top.back())) continue;
        const bool seen = std::any_of(top.begin(), top.end(), [&](const Cand& t) {
            return t.hash == c.hash && !value_less(data, t.row, c.row, t.hash, c.hash) &&
                   !value_less(data, c.row, t.row, c.hash, t.hash);
        });
        if (seen) continue;
        top.insert(std::upper_bound(top.begin(), top.end(), c, before), c);
        if ((int)top.size() > e) top.pop_back();
    }
    std::vector<long> rows;
    for (const Cand& t : top) rows.push_back(t.row);
    return rows;
}

struct KMeansResult {
    RowMatD centres;
    std::vector<std::int64_t> labels;
    int n_iter = 0;
};

// Lloyd's algorithm from the given centres; stops when the squared centre shift is at
// most tol * (mean feature variance), or labels stop changing, or after max_iter. Empty
// clusters move to the rows farthest from their centres (farthest_rows). Final labels
// match the centres.
template <class T>
KMeansResult kmeans_lloyd(const DataView<T>& data, RowMatD centres, int max_iter, double tol, int n_threads,
                          const PollFn* poll) {
    const long n = data.n;
    const int d = data.d, k = (int)centres.rows();
    const VecD c = column_mean(data, n_threads);
    const RowPartition part(n, kBlockRows, 64);
    const int nt = resolve_threads(n_threads);
    std::vector<Scratch<T>> scratch(nt);
    const ArrT<T> cT = c.cast<T>().array();
    KMeansResult r;
    r.labels.assign(n, -1);
    // tolerance relative to the data's mean variance, as scikit-learn's KMeans
    // (weighted by sample_weight when given: counts and sums use w)
    const T* sw = data.sample_weight;
    double var = 0, wtot = 0;
    {
        std::vector<double> v(part.n_chunks, 0.0), wv(part.n_chunks, 0.0);
        parallel_for(part.n_chunks, nt, [&](long ci) {
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                const ArrD sq = (data.rows(r0, B).template cast<double>().rowwise() - c.transpose()).rowwise().squaredNorm().array();
                if (sw) {
                    const ArrD w = Eigen::Map<const ArrT<T>>(sw + r0, B).template cast<double>();
                    v[ci] += (sq * w).sum();
                    wv[ci] += w.sum();
                } else {
                    v[ci] += sq.sum();
                    wv[ci] += (double)B;
                }
            }
        }, poll);
        for (long ci = 0; ci < part.n_chunks; ++ci) { var += v[ci]; wtot += wv[ci]; }
        var /= std::max(wtot, 1e-300) * d;
    }
    const double tol_abs = tol * var;
    struct Chunk {
        MatD sums;
        VecD counts;
        long changed = 0;
    };
    std::vector<Chunk> chunks(part.n_chunks);
    auto assign = [&](const MatT<T>& cs, const ArrT<T>& cnorm, bool update_stats) {
        parallel_for(part.n_chunks, nt, [&](long ci) {
            Chunk& ch = chunks[ci];
            ch.sums.setZero(k, d);
            ch.counts.setZero(k);
            ch.changed = 0;
            Scratch<T>& s = scratch[thread_index()];
            for (long b = part.chunk_first_block(ci); b < part.chunk_first_block(ci + 1); ++b) {
                const long r0 = part.block_begin(b), B = part.block_end(b) - r0;
                TiedFamily::load_rows(data, cT, r0, B, s);  // plain centred rows
                s.logp.resize(B, k);
                s.logp.noalias() = s.xs * cs.transpose();  // B x k
                for (long i = 0; i < B; ++i) {
                    int best = 0;
                    T bv = cnorm[0] - 2 * s.logp(i, 0);
                    for (int j = 1; j < k; ++j) {
                        const T v = cnorm[j] - 2 * s.logp(i, j);
                        if (v < bv) { bv = v; best = j; }
                    }
                    if (r.labels[r0 + i] != best) { ++ch.changed; r.labels[r0 + i] = best; }
                    const double wi = sw ? (double)sw[r0 + i] : 1.0;
                    if (update_stats && wi > 0) {
                        ch.counts[best] += wi;
                        ch.sums.row(best) += wi * s.xs.row(i).template cast<double>();
                    }
                }
            }
        }, poll);
    };
    RowMatD cs_shift = centres.rowwise() - c.transpose();
    for (int it = 1; it <= max_iter; ++it) {
        const MatT<T> cs = cs_shift.cast<T>();
        const ArrT<T> cnorm = cs.rowwise().squaredNorm().array();
        assign(cs, cnorm, true);
        MatD sums = MatD::Zero(k, d);
        VecD counts = VecD::Zero(k);
        long changed = 0;
        for (auto& ch : chunks) { sums += ch.sums; counts += ch.counts; changed += ch.changed; }
        RowMatD next = cs_shift;
        const int n_empty = (int)(counts.array() <= 0).count();
        const std::vector<long> far_rows =
            n_empty ? farthest_rows(data, r.labels, RowMatD(cs_shift.rowwise() + c.transpose()), n_empty)
                    : std::vector<long>();
        size_t next_far = 0;
        for (int j = 0; j < k; ++j) {
            if (counts[j] > 0) next.row(j) = sums.row(j) / counts[j];
            else if (next_far < far_rows.size())
                next.row(j) = data.rows(far_rows[next_far++], 1).template cast<double>().row(0) - c.transpose();
        }
        const double shift = (next - cs_shift).squaredNorm();
        cs_shift = next;
        r.n_iter = it;
        if (changed == 0 || shift <= tol_abs) break;
    }
    const MatT<T> cs = cs_shift.cast<T>();
    assign(cs, cs.rowwise().squaredNorm().array(), false);
    r.centres = cs_shift.rowwise() + c.transpose();
    return r;
}

}  // namespace genmix
