// The GAN trainer: a whole training step (minibatch and latent draws, generator forward,
// discriminator forward/backward on real and fake data with its gradient penalty, both
// optimizer updates, the EMA of the generator) runs here, on raw buffers, with no Python.
// One header per idea under gan/, each including what it uses:
//   config.hpp         settings, statistics, the caller's state buffers
//   draws.hpp          a step's random numbers from (seed, step, sub-step)
//   losses.hpp         the losses per row
//   discriminator.hpp  the discriminator's passes with their gradient penalty
//   optimizer.hpp      Adam, SGD with momentum
//   trainer.hpp        a training loop's buffers and one training step (Trainer::step)
//   train.hpp          the loop: logging, Ctrl-C, recovery from divergence
//   calibrate.hpp      discriminator-only training against a fixed generator
#pragma once

#include "genmix/gan/calibrate.hpp"
#include "genmix/gan/config.hpp"
#include "genmix/gan/discriminator.hpp"
#include "genmix/gan/draws.hpp"
#include "genmix/gan/losses.hpp"
#include "genmix/gan/optimizer.hpp"
#include "genmix/gan/train.hpp"
#include "genmix/gan/trainer.hpp"
#include "genmix/nn.hpp"
