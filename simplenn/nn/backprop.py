"""Backpropagation written out: the chain rule with TensorFlow ops and no GradientTape.

`manual_gradients` keeps the contract of `training.tape_gradients`, so `--grad manual`
trains through the same compiled step. The notation follows `network.py`: for layer
l = 1..L, `Z_l = A_{l-1} @ W_l + b_l` with `A_0 = X (B, n_0)`, hidden layers apply an
activation `f` (and dropout), and `Z_L (B, K)` are the logits. `dZ` is
d(objective)/d(Z) for the layer at hand, always the shape of `Z`.
"""

from __future__ import annotations

import math

from simplenn.machine.quiet_tensorflow import tf

from simplenn.config import Config
from simplenn.nn.losses import data_loss, smooth_labels
from simplenn.nn.network import LEAKY_RELU_ALPHA, Network
from simplenn.nn.optimizers import uses_l2_penalty


def _gelu_derivative(Z):
    """gelu(z) = z Φ(z), so gelu'(z) = Φ(z) + z φ(z) with Φ, φ the normal CDF and density."""
    Phi = 0.5 * (1.0 + tf.math.erf(Z / math.sqrt(2.0)))
    phi = tf.exp(-0.5 * tf.square(Z)) / math.sqrt(2.0 * math.pi)
    return Phi + Z * phi


# f'(Z) for each of `network.ACTIVATION_FUNCTIONS`, element-wise on `Z (B, n)`.
# It is computed from Z because the stored A has been through dropout.
ACTIVATION_DERIVATIVES = {
    "relu": lambda Z: tf.cast(Z > 0, Z.dtype),  # 1 where the unit fired, else 0 (also at 0)
    "leaky_relu": lambda Z: tf.where(Z > 0, tf.ones_like(Z), LEAKY_RELU_ALPHA * tf.ones_like(Z)),
    "gelu": _gelu_derivative,
    "tanh": lambda Z: 1.0 - tf.square(tf.tanh(Z)),  # tanh' = 1 - tanh²
    "sigmoid": lambda Z: tf.sigmoid(Z) * (1.0 - tf.sigmoid(Z)),  # σ' = σ (1 - σ)
}


def output_delta(Y, Z, loss: str, reduction: str):
    """dZ_L = d(loss)/d(logits) `(B, K)` for targets `Y (B, K)` and logits `Z (B, K)`.

    Both cross-entropies on logits have the same gradient, prediction minus target;
    the sigmoid or softmax that the loss applies cancels against the log.
    """
    if loss == "sigmoid":
        # dZ = σ(Z) - Y, output by output: K independent yes/no problems
        dZ = tf.sigmoid(Z) - Y  # (B, K)
    else:
        # dZ = softmax(Z) - Y, since each row of Y sums to 1 (one-hot, or smoothed)
        dZ = tf.nn.softmax(Z, axis=1) - Y  # (B, K)
    if reduction == "mean":
        dZ = dZ / tf.cast(tf.shape(Z)[0], Z.dtype)  # the mean divides every example's share by B
    return dZ


def manual_gradients(network: Network, config: Config, X, Y, dropout_seed=None):
    """Loss `()`, logits `(B, K)` and d(objective)/d(params), as `tape_gradients` returns.

    X (B, n_0), one-hot Y (B, K). The objective is the data loss plus, when the optimizer
    takes weight decay as a loss, (weight_decay / 2) Σ ||W||². The gradients come back in
    `network.params` order, `[dW1, db1, dW2, db2, ...]`, shaped like the parameters.
    """
    # The same forward pass as training, with the same dropout masks: they are drawn
    # from `dropout_seed`, not redrawn here.
    forward = network.forward_pass(X, training=True, dropout_seed=dropout_seed)
    Z_L = forward.Z[-1]  # (B, K) logits
    loss = data_loss(Y, Z_L, config.loss, config.reduction, config.label_smoothing)
    Y = smooth_labels(Y, config.label_smoothing, config.loss)  # the targets the loss compares to

    f_prime = ACTIVATION_DERIVATIVES[network.activation]
    keep_scale = 1.0 / (1.0 - network.dropout) if network.dropout > 0 else 1.0
    add_weight_decay = uses_l2_penalty(config)
    grads = []
    dZ = output_delta(Y, Z_L, config.loss, config.reduction)  # dZ_L (B, n_L)
    for l in range(len(network.weights), 0, -1):  # l = L, ..., 1
        W, A_prev = network.weights[l - 1], forward.A[l - 1]  # W_l (n_{l-1}, n_l), A_{l-1} (B, n_{l-1})
        # dW_l = A_{l-1}ᵀ · dZ_l
        dW = tf.matmul(A_prev, dZ, transpose_a=True)  # (n_{l-1}, B) @ (B, n_l) -> (n_{l-1}, n_l)
        # db_l = Σ_b dZ_l: the bias is added to every row
        db = tf.reduce_sum(dZ, axis=0, keepdims=True)  # (B, n_l) -> (1, n_l)
        if add_weight_decay:
            dW += config.weight_decay * W  # + λ W, the gradient of (λ/2) ||W||²
        grads = [dW, db] + grads
        if l == 1:
            break  # no layer below the input
        # dA_{l-1} = dZ_l · W_lᵀ
        dA = tf.matmul(dZ, W, transpose_b=True)  # (B, n_l) @ (n_l, n_{l-1}) -> (B, n_{l-1})
        keep = forward.keep[l - 2]  # dropout mask of hidden layer l-1, or None
        if keep is not None:
            # A = f(Z) ⊙ keep / (1 - p): dropped units pass no gradient, kept ones are scaled
            dA = dA * keep * keep_scale  # (B, n_{l-1})
        # dZ_{l-1} = dA_{l-1} ⊙ f'(Z_{l-1})
        dZ = dA * f_prime(forward.Z[l - 2])  # (B, n_{l-1})
    return loss, Z_L, grads
