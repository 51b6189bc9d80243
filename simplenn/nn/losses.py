"""Cross-entropy losses on logits, with the post's summed reduction or the mean.

Both take one-hot targets `Y (B, K)` and logits `Z (B, K)` and return a scalar.
Each example's loss `l_b` is summed over its K outputs; `reduction="sum"` returns
`sum_b l_b` and `"mean"` returns `sum_b l_b / B`.
"""

from __future__ import annotations

from simplenn.machine.quiet_tensorflow import tf


def smooth_labels(Y, label_smoothing: float, loss: str):
    """Move `label_smoothing` of each target's mass to the uniform distribution.

    softmax: Y (1 - e) + e / K; sigmoid (each output is its own yes/no): Y (1 - e) + e / 2.
    """
    if label_smoothing == 0:
        return Y
    n_choices = 2.0 if loss == "sigmoid" else tf.cast(tf.shape(Y)[1], Y.dtype)
    return Y * (1.0 - label_smoothing) + label_smoothing / n_choices


def sigmoid_cross_entropy(Y, Z):
    """Per-element binary cross-entropy `(B, K)`: K independent yes/no problems.

    The post reshapes both to (-1, 1) and calls `tf.nn.sigmoid_cross_entropy_with_logits`;
    the elements are the same, in shape (B, K) instead of (B * K, 1).
    -[y log s(z) + (1 - y) log(1 - s(z))], computed stably as max(z, 0) - z y + log(1 + e^-|z|).
    """
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=Y, logits=Z)


def softmax_cross_entropy(Y, Z):
    """Per-element categorical cross-entropy `(B, K)`: -y_k log softmax(z)_k."""
    return -Y * tf.nn.log_softmax(Z, axis=1)


ELEMENTWISE = {"sigmoid": sigmoid_cross_entropy, "softmax": softmax_cross_entropy}


def per_example_loss(Y, Z, loss: str):
    """`l_b (B,)`: each example's loss summed over its K outputs."""
    return tf.reduce_sum(ELEMENTWISE[loss](Y, Z), axis=1)


def reduce_loss(per_example, reduction: str, global_batch_size=None):
    """Sum over the batch (the post: `tape.gradient` of its element-wise tensor) or mean.

    global_batch_size: under a tf.distribute strategy, the rows of the step on all replicas;
    a replica's mean is then its sum over that many rows, its share of the step's mean.
    """
    if reduction == "mean" and global_batch_size is not None:
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
    total = tf.reduce_sum(per_example)
    if reduction == "sum":
        return total
    return total / tf.cast(tf.shape(per_example)[0], total.dtype)


def data_loss(Y, Z, loss: str, reduction: str, label_smoothing: float = 0.0, global_batch_size=None):
    """The scalar cross-entropy that training minimises, before any weight penalty."""
    Y = smooth_labels(Y, label_smoothing, loss)
    return reduce_loss(per_example_loss(Y, Z, loss), reduction, global_batch_size)


def l2_penalty(weights, weight_decay: float):
    """(weight_decay / 2) * sum ||W||^2 over weight matrices (biases are not penalised)."""
    return 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(W)) for W in weights])
