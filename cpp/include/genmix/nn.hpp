// Multilayer perceptrons: forward, backward, and the exact parameter gradient of the
// input-gradient penalty (double backpropagation), on raw buffers, with no Python.
// One header per idea under nn/, each including what it uses:
//   gemm.hpp         the packed matrix product (every element summed in one fixed order)
//   spec.hpp         architecture, activations' names, the parameter layout
//   init.hpp         He / Glorot initialisation
//   activations.hpp  elementwise phi, phi' on panels
//   par.hpp          threads: splitting products and panels (why the bits never change)
//   tape.hpp         a super-block's scratch (Tape) and a call's (Workspace)
//   net.hpp          one network's passes over one super-block (Net), double backprop
//   batch.hpp        whole batches: super-blocks, small networks by halves
#pragma once

#include "genmix/nn/activations.hpp"
#include "genmix/nn/batch.hpp"
#include "genmix/nn/gemm.hpp"
#include "genmix/nn/init.hpp"
#include "genmix/nn/net.hpp"
#include "genmix/nn/par.hpp"
#include "genmix/nn/spec.hpp"
#include "genmix/nn/tape.hpp"
