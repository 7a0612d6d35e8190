// Gaussian mixtures by EM: one streaming pass per iteration over a fixed partition of the
// rows, accumulating sufficient statistics per chunk (ARCHITECTURE.md, core idea 1).
//
// Coordinates: every pass works on x' = x - c, where c is a column median of X (a value of
// the data, see column_centre) computed once per fit. Second moments are accumulated around
// the current means (full) or around c (tied, diag, spherical), which keeps digits on data
// far from the origin.
//
// Parameters cross the API in double, in NumPy's C layout and in the original coordinates;
// the heavy kernels run in the data's own type T (float or double), and per-block results
// are added into double accumulators.
//
// The code lives in genmix/gmm/, each header including the one before: types, scratch,
// stats (sufficient statistics, sparse selection), covariance (the M-step's rules), then one
// header per covariance family -- full, tied, diag (diag and spherical) -- each holding its
// E-step model (precision layout), row layout, log-density, dense/sparse accumulation,
// M-step part and vector kernels; family (with_family: the one switch on the covariance
// type, once per call), missing_model and missing_pass (rows with gaps, per family), pass,
// m_step, e_step (the statistics of some rows: EM as primitives), em (entry points),
// kmeans (init).
#pragma once

#include "genmix/gmm/kmeans.hpp"
