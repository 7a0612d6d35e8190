"""genmix.nn.MLP (C++ core) against the NumPy reference, finite differences and closed forms."""

import itertools
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from genmix.nn import ACTIVATIONS, MLP
from genmix.reference import ReferenceMLP

PAIRS = list(itertools.product(ACTIVATIONS, ACTIVATIONS))  # (hidden, output)


def make(sizes, hidden, output, seed=0, dtype=np.float64, slope=0.2):
    """An MLP with random (not just initial) parameters: nonzero biases, a spread of scales."""
    net = MLP(sizes, hidden, output, negative_slope=slope, dtype=dtype, random_state=seed)
    rng = np.random.default_rng(seed + 100)
    net.set_params_flat(net.get_params_flat() + 0.3 * rng.normal(size=net.n_params))
    return net


def reference_of(net):
    return ReferenceMLP(net.layer_sizes, net.activation, net.output_activation, net.negative_slope,
                        params=net.get_params_flat().astype(np.float64))


def data(n, d, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)


def central_diff(fun, x, h=1e-6):
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for k in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[k] += h
        xm.flat[k] -= h
        g.flat[k] = (fun(xp) - fun(xm)) / (2 * h)
    return g


def rel_err(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# ---------------------------------------------------------------------------
# against the NumPy reference (float64, tight)


@pytest.mark.parametrize("hidden,output", PAIRS)
def test_forward_backward_match_reference(hidden, output):
    net = make((3, 7, 5, 2), hidden, output)
    ref = reference_of(net)
    X = data(150, 3)
    G = data(150, 2, seed=2)
    assert_allclose(net.forward(X), ref.forward(X), rtol=1e-13, atol=1e-14)
    grad, grad_x = net.backward(X, G)
    grad_ref, grad_x_ref = ref.backward(X, G)
    assert rel_err(grad, grad_ref) < 1e-13
    assert rel_err(grad_x, grad_x_ref) < 1e-13


def assert_passes_match_reference(net, penalty_net, X, G, centers):
    """forward, backward (2 threads) of net and the input-gradient penalty of penalty_net
    against the NumPy reference."""
    ref = reference_of(net)
    assert_allclose(net.forward(X, n_threads=2), ref.forward(X), rtol=1e-12, atol=1e-13)
    grad, grad_x = net.backward(X, G, n_threads=2)
    grad_ref, grad_x_ref = ref.backward(X, G)
    assert rel_err(grad, grad_ref) < 1e-12
    assert rel_err(grad_x, grad_x_ref) < 1e-12
    ref1 = reference_of(penalty_net)
    for center in centers:
        value, grad = penalty_net.input_gradient_penalty(X, center=center, n_threads=2)
        value_ref, grad_ref = ref1.input_gradient_penalty(X, center=center)
        assert value == pytest.approx(value_ref, rel=1e-12)
        assert rel_err(grad, grad_ref) < 1e-11


@pytest.mark.parametrize("hidden,output", [("relu", "identity"), ("tanh", "sigmoid"), ("leaky_relu", "tanh")])
def test_wide_network_over_several_super_blocks_matches_reference(hidden, output):
    # 1,100 rows: three super-blocks of up to 512, the last one short; layer widths that are
    # no multiple of the product's register tile, and products large enough to be split
    # over threads (by rows for the wide layers, by columns for the narrow ones)
    assert_passes_match_reference(make((6, 70, 45, 3), hidden, output, seed=21),
                                  make((6, 70, 45, 1), hidden, output, seed=23),
                                  data(1100, 6), data(1100, 3, seed=22), centers=(0.0, 1.0))


def test_products_wider_than_one_packed_block_match_reference():
    # 2,100 inputs: the first layer's weight gradient has more columns than the product
    # kernel packs at a time (2,040), and its forward product a longer inner dimension than
    # one k-block (256)
    net = make((2100, 9, 1), "tanh", "identity", seed=25)
    assert_passes_match_reference(net, net, data(40, 2100, seed=24), data(40, 1, seed=26), centers=(1.0,))


@pytest.mark.parametrize("hidden,output", PAIRS)
@pytest.mark.parametrize("center", [0.0, 1.0])
def test_penalty_matches_reference(hidden, output, center):
    net = make((3, 7, 5, 1), hidden, output)
    ref = reference_of(net)
    X = data(150, 3)
    value, grad = net.input_gradient_penalty(X, center=center)
    value_ref, grad_ref = ref.input_gradient_penalty(X, center=center)
    assert value == pytest.approx(value_ref, rel=1e-13)
    assert rel_err(grad, grad_ref) < 1e-12
    assert_allclose(net.input_gradient(X), ref.input_gradient(X), rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------
# against central finite differences (float64)


@pytest.mark.parametrize("hidden,output", PAIRS)
def test_backward_matches_finite_differences(hidden, output):
    net = make((3, 6, 4, 2), hidden, output, seed=3)
    X = data(20, 3, seed=4)
    G = data(20, 2, seed=5)
    theta = net.get_params_flat()
    grad, grad_x = net.backward(X, G)

    def objective_of_params(p):
        net.set_params_flat(p)
        return np.sum(G * net.forward(X))

    fd = central_diff(objective_of_params, theta)
    net.set_params_flat(theta)
    assert rel_err(grad, fd) < 1e-7
    fd_x = central_diff(lambda x: np.sum(G * net.forward(x)), X)
    assert rel_err(grad_x, fd_x) < 1e-7


@pytest.mark.parametrize("hidden,output", PAIRS)
@pytest.mark.parametrize("center", [0.0, 1.0])
def test_penalty_matches_finite_differences(hidden, output, center):
    net = make((3, 6, 4, 1), hidden, output, seed=6)
    X = data(20, 3, seed=7)
    value, grad = net.input_gradient_penalty(X, center=center)
    # the value, from input gradients taken by finite differences of forward
    fd_x = np.stack([central_diff(lambda x: net.forward(x[None])[0, 0], x) for x in X])
    assert value == pytest.approx(np.mean((np.linalg.norm(fd_x, axis=1) - center) ** 2), rel=1e-6)
    # the parameter gradient, by finite differences of the penalty value
    theta = net.get_params_flat()

    def penalty_of_params(p):
        net.set_params_flat(p)
        return net.input_gradient_penalty(X, center=center)[0]

    fd = central_diff(penalty_of_params, theta)
    net.set_params_flat(theta)
    assert rel_err(grad, fd) < 1e-6


@pytest.mark.parametrize("n", [200, 20])  # by halves; one whole block (under 24 rows)
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_penalty_fused_with_a_loss(hidden, n):
    # one pass for loss + penalty == the two computed apart
    net = make((3, 9, 6, 1), hidden, "identity", seed=15)
    X = data(n, 3)
    G = data(n, 1, seed=16)
    for c in (0.0, 1.0):
        value, fused = net.input_gradient_penalty(X, center=c, grad_output=G)
        value_alone, pen = net.input_gradient_penalty(X, center=c)
        assert value == value_alone
        assert rel_err(fused, pen + net.backward(X, G)[0]) < 1e-13
    with pytest.raises(ValueError, match="grad_output should have the shape"):
        net.input_gradient_penalty(X, grad_output=np.ones((n, 2)))


def test_penalty_closed_form_linear_network():
    # f(x) = x . w + b: grad_x f = w, R = (|w| - c)^2, dR/dw = 2 (|w| - c) w / |w|, dR/db = 0
    net = MLP((4, 1), "relu", "identity", dtype=np.float64, random_state=0)
    w = np.array([0.5, -1.0, 2.0, 0.25])
    net.weights = [w[:, None]]
    net.biases = [np.array([0.7])]
    X = data(70, 4)
    for c in (0.0, 1.0):
        value, grad = net.input_gradient_penalty(X, center=c)
        norm = np.linalg.norm(w)
        assert value == pytest.approx((norm - c) ** 2, rel=1e-14)
        assert_allclose(grad[:4], 2 * (norm - c) * w / norm, rtol=1e-14)
        assert grad[4] == 0.0


def test_penalty_of_piecewise_linear_network_has_no_bias_gradient():
    # grad_x f is locally constant in the biases of a relu / leaky_relu network
    for act in ("relu", "leaky_relu"):
        net = make((3, 8, 8, 1), act, "identity", seed=8)
        _, grad = net.input_gradient_penalty(data(100, 3))
        for (gW, gb) in net.unflatten(grad):
            assert np.all(gb == 0.0)
            assert np.any(gW != 0.0)


def test_penalty_gp_at_zero_gradient():
    # all-zero weights: grad_x f = 0, R = center^2, and the direction is taken as 0
    net = MLP((3, 5, 1), "tanh", dtype=np.float64, random_state=0)
    net.set_params_flat(np.zeros(net.n_params))
    value, grad = net.input_gradient_penalty(data(10, 3), center=1.0)
    assert value == 1.0
    assert np.all(grad == 0.0)
    assert np.all(np.isfinite(grad))


# ---------------------------------------------------------------------------
# determinism


def _all_results(net, X, G, n_threads):
    out = [net.forward(X, n_threads=n_threads)]
    out += list(net.backward(X, G, n_threads=n_threads))
    value, grad = net.input_gradient_penalty(X, center=1.0, n_threads=n_threads)
    # with a loss on the same rows (for piecewise-linear networks, a separate code path)
    _, fused = net.input_gradient_penalty(X, center=0.0, grad_output=G, n_threads=n_threads)
    return out + [np.array(value), grad, fused]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden,output", [("relu", "identity"), ("tanh", "sigmoid"), ("leaky_relu", "tanh")])
def test_thread_count_invariance(dtype, hidden, output):
    # three super-blocks of a network too wide for the two-halves passes: 2 and 3 threads split
    # the wide products by rows at different places, and the 1-wide output layer's by columns
    net = make((5, 520, 300, 1), hidden, output, seed=9, dtype=dtype)
    X = data(1100, 5, dtype=dtype)
    G = data(1100, 1, seed=10, dtype=dtype)
    one = _all_results(net, X, G, 1)
    for nt in (2, 2, 3):
        for a, b in zip(one, _all_results(net, X, G, nt)):
            assert_array_equal(a, b)
    # a small network (each super-block as two halves, one per thread) with layer widths that
    # are no multiple of the register tile, and a last super-block of 276 rows
    net = make((7, 100, 37, 1), hidden, output, seed=19, dtype=dtype)
    X = data(1300, 7, dtype=dtype)
    G = data(1300, 1, seed=20, dtype=dtype)
    one = _all_results(net, X, G, 1)
    for nt in (2, 3):
        for a, b in zip(one, _all_results(net, X, G, nt)):
            assert_array_equal(a, b)


def test_results_do_not_depend_on_buffer_alignment():
    net = make((5, 33, 17, 1), "tanh", "identity", seed=11, dtype=np.float32)
    X = data(300, 5, dtype=np.float32)
    G = data(300, 1, seed=12, dtype=np.float32)

    def shifted(a):  # same values, one element past an aligned allocation
        b = np.empty(a.size + 1, a.dtype)[1:].reshape(a.shape)
        b[...] = a
        return b

    for a, b in zip(_all_results(net, X, G, 2), _all_results(net, shifted(X), shifted(G), 2)):
        assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# float32


@pytest.mark.parametrize("width", [129, 143, 144, 145, 160, 161, 300])
def test_float32_layers_wider_than_one_packed_row_block(width):
    # Layers wider than the product's row block (about 144 rows, whole register tiles):
    # under AVX-512 a float tile is 32 rows, and a block that was no multiple of it once
    # made the packing of A write past its buffer (a heap overflow from width 129 on).
    net = make((2, width, 1), "relu", "identity", seed=31, dtype=np.float32)
    ref = reference_of(net)
    X = data(256, 2, seed=32, dtype=np.float32)
    G = data(256, 1, seed=33, dtype=np.float32)
    assert rel_err(net.forward(X, n_threads=2), ref.forward(X.astype(np.float64))) < 1e-5
    grad, _ = net.backward(X, G, n_threads=2)
    grad_ref, _ = ref.backward(X.astype(np.float64), G.astype(np.float64))
    assert rel_err(grad, grad_ref) < 1e-4


@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_float32_close_to_float64_reference(hidden):
    net = make((4, 16, 16, 1), hidden, "identity", seed=13, dtype=np.float32)
    ref = reference_of(net)  # float64 maths on the same (float32) parameters
    X = data(200, 4, dtype=np.float32)
    G = data(200, 1, seed=14, dtype=np.float32)
    out = net.forward(X)
    assert out.dtype == np.float32
    assert rel_err(out, ref.forward(X.astype(np.float64))) < 1e-5
    grad, grad_x = net.backward(X, G)
    assert grad.dtype == np.float32 and grad_x.dtype == np.float32
    grad_ref, grad_x_ref = ref.backward(X.astype(np.float64), G.astype(np.float64))
    assert rel_err(grad, grad_ref) < 1e-4
    assert rel_err(grad_x, grad_x_ref) < 1e-4
    value, pgrad = net.input_gradient_penalty(X, center=1.0)
    value_ref, pgrad_ref = ref.input_gradient_penalty(X.astype(np.float64), center=1.0)
    assert pgrad.dtype == np.float32
    assert value == pytest.approx(value_ref, rel=1e-4)
    assert rel_err(pgrad, pgrad_ref) < 1e-3


def test_float64_input_to_float32_network_is_converted():
    net = MLP((3, 8, 2), random_state=0)
    assert net.dtype == np.float32 and net.get_params_flat().dtype == np.float32
    X = data(10, 3)
    assert_array_equal(net.forward(X), net.forward(X.astype(np.float32)))
    assert_array_equal(net.forward(X.tolist()), net.forward(X.astype(np.float32)))


# ---------------------------------------------------------------------------
# initialisation and parameters


def test_initialisation_he_and_glorot():
    net = MLP((400, 300, 200, 1), "relu", "identity", dtype=np.float64, random_state=0)
    W0, W1, W2 = net.weights
    assert np.std(W0) == pytest.approx(np.sqrt(2 / 400), rel=0.02)   # He before relu
    assert np.std(W1) == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    lim = np.sqrt(6 / 201)                                          # Glorot before identity
    assert np.max(np.abs(W2)) <= lim and np.max(np.abs(W2)) > 0.9 * lim
    assert all(np.all(b == 0) for b in net.biases)
    leaky = MLP((400, 300, 1), "leaky_relu", negative_slope=0.5, dtype=np.float64, random_state=0)
    assert np.std(leaky.weights[0]) == pytest.approx(np.sqrt(2 / (1.25 * 400)), rel=0.02)
    tanh = MLP((400, 300, 1), "tanh", dtype=np.float64, random_state=0)
    lim = np.sqrt(6 / 700)
    assert np.max(np.abs(tanh.weights[0])) <= lim
    assert np.std(tanh.weights[0]) == pytest.approx(lim / np.sqrt(3), rel=0.02)
    forced = MLP((400, 300, 1), "tanh", init="he", dtype=np.float64, random_state=0)
    assert np.std(forced.weights[0]) == pytest.approx(np.sqrt(2 / 400), rel=0.02)


def test_random_state():
    a = MLP((3, 8, 1), random_state=5).get_params_flat()
    assert_array_equal(a, MLP((3, 8, 1), random_state=5).get_params_flat())
    assert not np.array_equal(a, MLP((3, 8, 1), random_state=6).get_params_flat())
    b = MLP((3, 8, 1), random_state=np.random.RandomState(5)).get_params_flat()
    assert b.shape == a.shape
    c = MLP((3, 8, 1), dtype=np.float64, random_state=5).get_params_flat()
    assert_allclose(a, c, rtol=1e-6)  # same draws, rounded to float32


def test_params_round_trip_and_layout():
    net = MLP((3, 4, 2), "tanh", random_state=0)
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    theta = np.arange(net.n_params, dtype=np.float32)
    net.set_params_flat(theta)
    assert_array_equal(net.get_params_flat(), theta)
    W0, W1 = net.weights
    assert_array_equal(W0, theta[:12].reshape(3, 4))
    assert_array_equal(net.biases[0], theta[12:16])
    assert_array_equal(W1, theta[16:24].reshape(4, 2))
    assert_array_equal(net.biases[1], theta[24:])
    # copies: changing them leaves the network alone
    net.get_params_flat()[:] = 0
    net.weights[0][:] = 0
    assert_array_equal(net.get_params_flat(), theta)
    # setters
    net.weights = [np.ones((3, 4)), 2 * np.ones((4, 2))]
    net.biases = [np.zeros(4), np.full(2, 3.0)]
    X = np.array([[1.0, 2.0, 3.0]])
    assert_allclose(net.forward(X), [[2 * 4 * np.tanh(6.0) + 3] * 2], rtol=1e-6)
    # unflatten gives per-layer views of a gradient
    grad, _ = net.backward(X, np.ones((1, 2)))
    (gW0, gb0), (gW1, gb1) = net.unflatten(grad)
    assert gW0.shape == (3, 4) and gb0.shape == (4,) and gW1.shape == (4, 2) and gb1.shape == (2,)


def test_pickle_round_trip():
    net = make((3, 9, 2), "leaky_relu", "sigmoid", slope=0.1, dtype=np.float32)
    clone = pickle.loads(pickle.dumps(net))
    assert isinstance(clone, MLP)
    assert clone.layer_sizes == net.layer_sizes and clone.negative_slope == 0.1
    assert clone.dtype == np.float32
    X = data(70, 3, dtype=np.float32)
    assert_array_equal(clone.forward(X), net.forward(X))
    state = net.__getstate__()
    assert set(state) == {"layer_sizes", "activation", "output_activation", "negative_slope", "init", "dtype",
                          "_params"}
    assert all(isinstance(v, (np.ndarray, np.dtype, str, float, tuple)) for v in state.values())


# ---------------------------------------------------------------------------
# bad input


def test_copies_and_concurrent_calls_agree():
    import copy
    import threading

    net = make((4, 64, 64, 1), "tanh", "identity", dtype=np.float32)
    X = data(700, 4, dtype=np.float32)
    expected = net.input_gradient_penalty(X, center=1.0)[1]
    clone = copy.deepcopy(net)
    assert_array_equal(clone.input_gradient_penalty(X, center=1.0)[1], expected)
    results = [None] * 4

    def work(i):  # several Python threads on one network share (or skip) its scratch memory
        results[i] = net.input_gradient_penalty(X, center=1.0, n_threads=1)[1]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert_array_equal(r, expected)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="activation"):
        MLP((2, 3, 1), activation="swish")
    with pytest.raises(ValueError, match="output_activation"):
        MLP((2, 3, 1), output_activation="softmax")
    with pytest.raises(ValueError, match="init"):
        MLP((2, 3, 1), init="orthogonal")
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP((2,))
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP((2, 0, 1))
    with pytest.raises(TypeError, match="layer_sizes"):
        MLP((2, 3.5, 1))
    with pytest.raises(TypeError, match="layer_sizes"):
        MLP(3)
    with pytest.raises(TypeError, match="layer_sizes"):
        MLP("abc")
    with pytest.raises(ValueError, match="negative_slope"):
        MLP((2, 3, 1), negative_slope=float("nan"))
    with pytest.raises(ValueError, match="dtype"):
        MLP((2, 3, 1), dtype=np.int32)
    with pytest.raises(ValueError, match="random_state"):
        MLP((2, 3, 1), random_state="seed")


def test_bad_inputs_to_passes():
    net = MLP((3, 5, 1), random_state=0)
    X = data(10, 3)
    with pytest.raises(ValueError, match="X has 4 features, but MLP is expecting 3"):
        net.forward(data(10, 4))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.forward(bad)
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.input_gradient_penalty(bad)
    with pytest.raises(ValueError, match="2D array"):
        net.forward(X[0])
    with pytest.raises(ValueError, match="grad_output should have the shape"):
        net.backward(X, np.ones((10, 2)))
    with pytest.raises(ValueError, match="grad_output.*NaN"):
        net.backward(X, np.full((10, 1), np.inf))
    with pytest.raises(ValueError, match="center"):
        net.input_gradient_penalty(X, center=-1.0)
    with pytest.raises(ValueError, match="n_threads"):
        net.forward(X, n_threads=0)
    two = MLP((3, 5, 2), random_state=0)
    with pytest.raises(ValueError, match="one output"):
        two.input_gradient_penalty(X)
    with pytest.raises(ValueError, match="one output"):
        two.input_gradient(X)


def test_bad_parameters():
    net = MLP((3, 5, 1), random_state=0)
    with pytest.raises(ValueError, match=r"shape \(26,\)"):
        net.set_params_flat(np.zeros(25))
    with pytest.raises(ValueError, match="NaN"):
        net.set_params_flat(np.full(26, np.nan))
    with pytest.raises(TypeError, match="array of numbers"):
        net.set_params_flat(["a"] * 26)
    with pytest.raises(ValueError, match=r"weights\[1\] should have the shape \(5, 1\)"):
        net.weights = [np.zeros((3, 5)), np.zeros((5, 2))]
    with pytest.raises(ValueError, match="one per layer"):
        net.biases = [np.zeros(5)]
    assert np.all(np.isfinite(net.get_params_flat()))  # failed sets changed nothing
