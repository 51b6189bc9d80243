"""The post's feed-forward network, for any number of layers.

`Network([784, 100, 30, 10])` holds the post's variables `W1 (784, 100)`, `b1 (1, 100)`,
`W2 (100, 30)`, `b2 (1, 30)`, `W3 (30, 10)`, `b3 (1, 10)`: weights shaped
`(n_in, n_out)` so that a batch of row vectors `X (B, 784)` flows left to right,
`Z1 = X @ W1 + b1`. Hidden layers apply an activation; the last layer returns logits
and leaves the sigmoid or softmax to the loss, as the post does.

With `precision="mixed_bfloat16"` (Keras's policy of that name, written out for raw
variables) the forward pass computes in bfloat16 from float32 master weights and returns
float32 logits, so the loss, the gradients and the optimizer stay in float32.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from simplenn.machine.quiet_tensorflow import tf

LEAKY_RELU_ALPHA = 0.01  # slope for negative inputs

# Each activation's forward rule; `backprop.py` holds the matching derivatives.
ACTIVATION_FUNCTIONS = {
    "relu": tf.nn.relu,  # the post's choice
    "leaky_relu": lambda z: tf.nn.leaky_relu(z, alpha=LEAKY_RELU_ALPHA),
    "gelu": lambda z: tf.nn.gelu(z, approximate=False),
    "tanh": tf.nn.tanh,
    "sigmoid": tf.nn.sigmoid,
}


def initial_weights(init: str, n_in: int, n_out: int, stddev: float, seed: tuple[int, int]):
    """A `(n_in, n_out)` float32 weight matrix drawn from a stateless, seeded generator.

    normal: N(0, stddev^2), the post's `tf.random.normal(..., stddev=0.1)`;
    he:     N(0, 2 / n_in), which keeps ReLU activations at a steady scale;
    glorot: U(-sqrt(6 / (n_in + n_out)), +sqrt(...)), suited to tanh and sigmoid.
    """
    shape = (n_in, n_out)
    if init == "normal":
        return tf.random.stateless_normal(shape, seed=seed, stddev=stddev)
    if init == "he":
        return tf.random.stateless_normal(shape, seed=seed, stddev=np.sqrt(2.0 / n_in))
    if init == "glorot":
        limit = np.sqrt(6.0 / (n_in + n_out))
        return tf.random.stateless_uniform(shape, seed=seed, minval=-limit, maxval=limit)
    raise ValueError(f"unknown init {init!r}")


def initial_params(layer_sizes, init: str, init_stddev: float, seed: int) -> list:
    """Where training starts, as tensors in the post's order `[W1, b1, W2, b2, ...]`: each
    `W_l (n_{l-1}, n_l)` drawn by `initial_weights` from `(seed, l)`, each `b_l (1, n_l)` zeros."""
    params = []
    for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1):
        params += [initial_weights(init, n_in, n_out, init_stddev, (seed, l)), tf.zeros([1, n_out])]  # b as in the post
    return params


def class_scores(logits, loss: str):
    """Logits `(B, K)` -> class scores `(B, K)` float32: softmax probabilities, or for the
    post's sigmoid loss its K independent sigmoids (which need not sum to 1).

    The one scores function: `LoadedRun`, `predict`, `serve`, the exported graph and
    `Classifier` all call it. Takes a tensor or a NumPy array; returns a tensor.
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    return tf.nn.sigmoid(logits) if loss == "sigmoid" else tf.nn.softmax(logits)


class ForwardPass(NamedTuple):
    """Every intermediate of one forward pass, kept for backprop and diagnosis.

    `A[0]` is the input `X (B, n0)`; for layer l = 1..L, `Z[l-1]` is its pre-activation
    `(B, n_l)` and `A[l]` its output (after dropout on hidden layers). `Z[-1]` are the
    logits. `keep[l-1]` is the dropout mask of hidden layer l, or None without dropout.
    """

    Z: list
    A: list
    keep: list


def drop_units(A, rate: float, seed, layer: int):
    """Inverted dropout of hidden layer `layer`: (A with units zeroed and scaled, keep mask).

    Each unit of `A (B, n)` is kept with probability 1 - rate and scaled by 1 / (1 - rate),
    so nothing needs rescaling at test time. The mask comes from a stateless generator
    keyed by `seed` (2,) = (seed, step), moved to a stream of its own for each layer.
    """
    layer_seed = tf.cast(seed, tf.int64) + tf.constant([layer << 32, 0], tf.int64)  # (seed + l * 2^32, step)
    # Philox named explicitly: under XLA the default algorithm ran ~30x slower here.
    uniform = tf.random.stateless_uniform(tf.shape(A), seed=layer_seed, alg="philox")
    keep = tf.cast(uniform >= rate, A.dtype)  # (B, n) of 0/1
    return A * keep / (1.0 - rate), keep


class Network(tf.Module):
    """A fully connected network with weights `W1..WL` and biases `b1..bL`.

    layer_sizes: sizes of every layer, input first, e.g. `[784, 100, 30, 10]` (the
    post calls this list `n_layers`).
    """

    def __init__(
        self,
        layer_sizes,
        activation: str = "relu",
        init: str = "normal",
        init_stddev: float = 0.1,
        dropout: float = 0.0,
        seed: int = 0,
        precision: str = "float32",
    ):
        super().__init__(name="network")
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        if len(self.layer_sizes) < 2 or min(self.layer_sizes) < 1:
            raise ValueError(f"layer_sizes needs >= 2 positive sizes, got {list(layer_sizes)}")
        self.activation = activation
        self.activation_function = ACTIVATION_FUNCTIONS[activation]
        self.dropout = dropout
        self.precision = precision  # "float32" or "mixed_bfloat16"; the variables are float32 either way
        self.params = []  # the post's order: W1, b1, W2, b2, ...
        starts = initial_params(self.layer_sizes, init, init_stddev, seed)
        for l, (W_start, b_start) in enumerate(zip(starts[0::2], starts[1::2]), start=1):
            W, b = tf.Variable(W_start, name=f"W{l}"), tf.Variable(b_start, name=f"b{l}")
            setattr(self, f"W{l}", W)
            setattr(self, f"b{l}", b)
            self.params += [W, b]

    @property
    def weights(self) -> list:
        return self.params[0::2]

    @property
    def biases(self) -> list:
        return self.params[1::2]

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(p.shape) for p in self.params))

    def __repr__(self) -> str:
        sizes = " → ".join(str(n) for n in self.layer_sizes)
        return f"Network({sizes} ({self.n_params:,} parameters), {self.activation})"

    def forward_pass(self, x, training: bool = False, dropout_seed=None) -> ForwardPass:
        """Run the network on `x (B, n0)` and keep every intermediate.

        With `training` and dropout > 0, hidden units are dropped with a stateless mask
        from `dropout_seed` (shape (2,) int), so a resumed run draws the same masks.
        """
        # The weights' dtype: float32, or float64 when a gradient check cast them.
        weights_dtype = self.params[0].dtype
        # mixed_bfloat16 (not in the post): each step reads bfloat16 copies of the float32
        # weights; the tape's gradient flows back through the cast and arrives as float32.
        dtype = tf.bfloat16 if self.precision == "mixed_bfloat16" else weights_dtype
        A = tf.cast(x, dtype)  # (B, n0); the post's X_tf
        forward = ForwardPass(Z=[], A=[A], keep=[])
        L = len(self.weights)
        for l, (W, b) in enumerate(zip(self.weights, self.biases), start=1):
            # tf.cast to the dtype a tensor already has returns it unchanged: float32 runs as before.
            Z = A @ tf.cast(W, dtype) + tf.cast(b, dtype)  # (B, n_{l-1}) @ (n_{l-1}, n_l) + (1, n_l) -> (B, n_l)
            if l == L:
                # The logits (B, n_L) go back to float32, so the loss and its gradient are float32.
                forward.Z.append(tf.cast(Z, weights_dtype))
                break  # the last layer's Z are the logits; the loss applies sigmoid or softmax
            forward.Z.append(Z)
            A = self.activation_function(Z)  # (B, n_l)
            keep = None
            if training and self.dropout > 0:
                A, keep = drop_units(A, self.dropout, dropout_seed, layer=l)
            forward.keep.append(keep)
            forward.A.append(A)
        return forward

    def forward(self, x, training: bool = False, dropout_seed=None):
        """Logits `(B, n_L)` for `x (B, n0)`; the post's `forward` returns its `Z3`."""
        return self.forward_pass(x, training, dropout_seed).Z[-1]

    def predict_proba(self, x, loss: str = "softmax"):
        """Class scores `(B, n_L)`: softmax probabilities, or the post's ten sigmoids."""
        return class_scores(self.forward(x), loss)

    def predict(self, x):
        """Class indices `(B,)`: the largest logit, as the post's `argmax`."""
        return tf.argmax(self.forward(x), axis=1)
