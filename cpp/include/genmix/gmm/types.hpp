// Types of the mixture core: the covariance enum and its names, Eigen aliases, parameters, the data view.
// (Part of the Gaussian mixture core: see genmix/mixture.hpp.)
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "genmix/em_algorithm.hpp"
#include "genmix/names.hpp"
#include "genmix/parallel.hpp"
#include "genmix/rng.hpp"
#include "genmix/vmath.hpp"

namespace genmix {

enum class CovType { Full, Tied, Diag, Spherical };

inline CovType parse_covariance_type(const std::string& s) {
    static const std::pair<const char*, CovType> names[] = {
        {"full", CovType::Full}, {"tied", CovType::Tied}, {"diag", CovType::Diag}, {"spherical", CovType::Spherical}};
    return parse_name(s, names, "covariance_type");
}

inline const char* covariance_type_name(CovType cov) {
    switch (cov) {
        case CovType::Full: return "full";
        case CovType::Tied: return "tied";
        case CovType::Diag: return "diag";
        default: return "spherical";
    }
}

template <class T>
using MatT = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using RowMatT = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ArrT = Eigen::Array<T, Eigen::Dynamic, 1>;
using MatD = MatT<double>;
using RowMatD = RowMatT<double>;
using VecD = Eigen::VectorXd;
using ArrD = Eigen::ArrayXd;

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// Number of values in the covariance (or precision-Cholesky) array, NumPy C layout:
// full (k,d,d), tied (d,d), diag (k,d), spherical (k,).
inline long cov_size(CovType cov, long k, long d) {
    switch (cov) {
        case CovType::Full: return k * d * d;
        case CovType::Tied: return d * d;
        case CovType::Diag: return k * d;
        case CovType::Spherical: return k;
    }
    return 0;
}

struct GaussianParams {
    CovType cov = CovType::Full;
    int k = 0, d = 0;
    VecD weights;      // (k)
    RowMatD means;     // (k, d)
    VecD covariances;  // cov_size values; may be empty when only precisions are known
    VecD prec_chol;    // cov_size values; full/tied: upper U with precision = U U^T
};

// Rows of X live in caller memory (C-contiguous, n x d, type T).
template <class T>
struct DataView {
    const T* X = nullptr;
    long n = 0;
    int d = 0;
    const T* sample_weight = nullptr;  // optional, n values
    bool has_missing = false;          // NaN entries are missing features (EM with missing data)
    Eigen::Map<const RowMatT<T>> rows(long r0, long count) const {
        return Eigen::Map<const RowMatT<T>>(X + r0 * d, count, d);
    }
};

}  // namespace genmix
