"""Plain NumPy reference MLP: the oracle for the C++ core in :mod:`genmix.nn`.

Same maths and same parameter layout as ``genmix.nn.MLP``, written for clarity:
samples are rows, and layer ``l`` computes ``Z = A @ W + b``, ``A = phi(Z)`` with ``W``
of shape ``(n_in, n_out)``. The flat parameter vector is, layer after layer, ``W.ravel()``
(C order) then ``b``.

* :meth:`MLP.backward` returns the gradients of ``sum_i <G_i, f(x_i)>`` with respect to
  the flat parameters and to the inputs (``G = grad_output``).
* :meth:`MLP.input_gradient_penalty` returns ``R = mean_i (||grad_x f(x_i)|| - c)^2`` and
  ``dR/dtheta`` by double backpropagation (the backward pass of the backward pass). ``f``
  is the network's output after its output activation; ``c = 0`` gives R1/R2, ``c = 1``
  WGAN-GP. Where ``||grad_x f|| = 0`` and ``c > 0`` the direction is taken as 0.

Activations: ``identity``, ``relu`` (``phi'(0) = 0``), ``leaky_relu``
(``phi(z) = z`` for ``z > 0``, ``slope * z`` otherwise), ``tanh``, ``sigmoid``. All
arithmetic happens in the parameters' dtype. Nothing here keeps global state.
"""

import numpy as np

from .nn import layer_views  # the parameter layout, shared (not an algorithm under test)

__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid")


def _phi(name, z, slope):
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        # stable for both signs
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    raise ValueError(f"unknown activation {name!r}")


def _dphi(name, z, a, slope):
    """(phi'(z), phi''(z)) given a = phi(z)."""
    one = np.ones_like(z)
    if name == "identity":
        return one, 0 * z
    if name == "relu":
        return (z > 0).astype(z.dtype), 0 * z
    if name == "leaky_relu":
        return np.where(z > 0, one, slope * one), 0 * z
    if name == "tanh":
        d1 = 1 - a * a
        return d1, -2 * a * d1
    if name == "sigmoid":
        d1 = a * (1 - a)
        return d1, d1 * (1 - 2 * a)
    raise ValueError(f"unknown activation {name!r}")


class MLP:
    """A multilayer perceptron in plain NumPy.

    Parameters
    ----------
    layer_sizes : sequence of int
        Input width, hidden widths, output width.
    activation : str, default='relu'
        Activation of the hidden layers.
    output_activation : str, default='identity'
        Activation of the last layer.
    negative_slope : float, default=0.2
        Slope of ``leaky_relu`` for negative inputs.
    params : array-like, optional
        Flat parameters (see the module docstring); zeros when omitted. Their dtype is
        the dtype of every computation.
    """

    def __init__(self, layer_sizes, activation="relu", output_activation="identity", negative_slope=0.2,
                 params=None):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.negative_slope = negative_slope
        n = sum(a * b + b for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.params = np.zeros(n) if params is None else np.array(params)
        if self.params.shape != (n,):
            raise ValueError(f"params should have shape ({n},), got {self.params.shape}")

    @property
    def n_layers(self):
        return len(self.layer_sizes) - 1

    def _act(self, l):
        return self.output_activation if l == self.n_layers - 1 else self.activation

    def unflatten(self, flat):
        """List of (W, b) views of a flat parameter (or gradient) vector."""
        return layer_views(self.layer_sizes, flat)

    @staticmethod
    def flatten(layers):
        """The flat vector of a list of (W, b)."""
        return np.concatenate([np.concatenate([W.ravel(), b.ravel()]) for W, b in layers])

    def _forward(self, X):
        X = np.asarray(X, dtype=self.params.dtype)
        A, Zs, As = X, [], []
        for l, (W, b) in enumerate(self.unflatten(self.params)):
            Z = A @ W + b
            A = _phi(self._act(l), Z, self.negative_slope)
            Zs.append(Z)
            As.append(A)
        return X, Zs, As

    def forward(self, X):
        """Output for each row of X, shape (n, layer_sizes[-1])."""
        return self._forward(X)[2][-1]

    def backward(self, X, grad_output):
        """(flat gradient of sum_i <G_i, f(x_i)> wrt the parameters, gradient wrt X)."""
        X, Zs, As = self._forward(X)
        layers = self.unflatten(self.params)
        G = np.asarray(grad_output, dtype=self.params.dtype)
        grads = [None] * self.n_layers
        for l in reversed(range(self.n_layers)):
            d1, _ = _dphi(self._act(l), Zs[l], As[l], self.negative_slope)
            dZ = G * d1
            A_in = X if l == 0 else As[l - 1]
            grads[l] = (A_in.T @ dZ, dZ.sum(axis=0))
            G = dZ @ layers[l][0].T
        return self.flatten(grads), G

    def input_gradient(self, X):
        """grad_x f(x) for each row (one-output networks)."""
        return self.backward(X, np.ones((len(X), 1), dtype=self.params.dtype))[1]

    def input_gradient_penalty(self, X, center=0.0):
        """(R, dR/dtheta) for R = mean_i (||grad_x f(x_i)|| - center)^2, by double backprop."""
        if self.layer_sizes[-1] != 1:
            raise ValueError("the input-gradient penalty needs a network with one output")
        X, Zs, As = self._forward(X)
        layers = self.unflatten(self.params)
        L, n, slope = self.n_layers, len(X), self.negative_slope
        D1, D2 = zip(*[_dphi(self._act(l), Zs[l], As[l], slope) for l in range(L)])
        # backward to the input, seeded with df/df = 1: T[l] = dF/dZ[l], S[l] = dF/dA[l]
        S, T = [None] * L, [None] * L
        S[L - 1] = np.ones((n, 1), dtype=X.dtype)
        for l in reversed(range(L)):
            T[l] = D1[l] * S[l]
            if l > 0:
                S[l - 1] = T[l] @ layers[l][0].T
        v = T[0] @ layers[0][0].T  # grad_x f, (n, d)
        norm = np.sqrt(np.sum(v * v, axis=1, keepdims=True))
        dev = norm - center
        value = np.mean(dev[:, 0] ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = 2 * dev / norm if center != 0 else 2 * np.ones_like(norm)
        coef = np.where(norm > 0, coef, 0) if center != 0 else coef
        sbar = v * coef / n  # adjoint of v
        gW = [np.zeros_like(W) for W, _ in layers]
        gb = [np.zeros_like(b) for _, b in layers]
        # the backward pass of the backward pass, from the input upwards
        Q = [None] * L
        for l in range(L):
            W = layers[l][0]
            tbar = sbar @ W  # adjoint of T[l]
            gW[l] += sbar.T @ T[l]  # from S_in = T W^T
            Q[l] = D2[l] * S[l] * tbar  # adjoint of Z[l] through phi'(Z[l])
            sbar = D1[l] * tbar  # adjoint of S[l]
        # Q[l] enters the forward pass at Z[l]; send it down like any gradient
        U = np.zeros_like(Zs[L - 1])
        for l in reversed(range(L)):
            U = U + Q[l]
            A_in = X if l == 0 else As[l - 1]
            gW[l] += A_in.T @ U
            gb[l] += U.sum(axis=0)
            if l > 0:
                U = D1[l - 1] * (U @ layers[l][0].T)
        return value, self.flatten(list(zip(gW, gb)))
