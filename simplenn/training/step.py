"""The post's step, and the plain loop over it that the compiled driver is checked against.

    loss, Z, grads = tape_gradients(network, config, X, Y)           forward and loss in the tape
    loss, Z = train_step(network, optimizer, config, X, Y)           one update: the post's `backward`
    train_eagerly(network, optimizer, config, train, epochs)         for epoch: for batch: train_step

`X (B, n0)` is a batch of flattened images, `Y (B, K)` its one-hot labels, `Z (B, K)` the logits.
The step is the post's `backward`: forward pass and loss inside `tf.GradientTape`,
`tape.gradient`, then `optimizer.apply_gradients`, with one optimizer for the whole run
instead of a new one per call. `trainer.py` runs the same `train_step` compiled, blocks of
steps to a call and through `strategy.run`; `train_eagerly` runs it one Python call per
batch, the way the post does, and the tests hold the two to the same weights.
"""

from __future__ import annotations

from typing import Callable

from simplenn.machine.quiet_tensorflow import tf

from simplenn.config import Config
from simplenn.nn.losses import data_loss, l2_penalty
from simplenn.nn.network import Network
from simplenn.nn.optimizers import uses_l2_penalty
from simplenn.training.augmentation import augment
from simplenn.training.data import Split


def tape_gradients(network: Network, config: Config, X, Y, step_seed=None, global_batch_size=None):
    """The post's backward pass: loss `()`, logits `(B, K)` and d(objective)/d(params).

    step_seed (2,) keys the dropout masks; a config without dropout needs none.
    global_batch_size: under a tf.distribute strategy with several replicas, the rows of the
    step on all of them; the loss and penalty are then this replica's share of the step's.
    """
    with tf.GradientTape() as tape:
        Z = network.forward(X, training=True, dropout_seed=step_seed)  # (B, K)
        loss = data_loss(Y, Z, config.loss, config.reduction, config.label_smoothing, global_batch_size)
        objective = loss
        if uses_l2_penalty(config):
            penalty = l2_penalty(network.weights, config.weight_decay)
            objective += penalty if global_batch_size is None else tf.nn.scale_regularization_loss(penalty)
    return loss, Z, tape.gradient(objective, network.params)


def gradient_function(grad: str) -> Callable:
    """`tape_gradients`, or the chain rule written out by hand for `grad="manual"`:
    `(network, config, X, Y, step_seed) -> (loss, Z, grads)`."""
    if grad == "manual":
        from simplenn.nn.backprop import manual_gradients

        return manual_gradients
    return tape_gradients


def batch_gradients(network: Network, config: Config, X, Y, step_seed=None, image_shape=None,
                    global_batch_size=None):
    """A step before its update: the batch augmented, then loss `()`, logits `(B, K)` and gradients.

    image_shape (H, W) lets augmentation see the flattened rows as images; `grad="manual"`
    takes the chain rule written out by hand (one device only) instead of the tape.
    """
    # (B, n0) moved or mirrored copies; the batch itself when the config does not augment
    X = augment(X, image_shape, config.shift_pixels, config.flip_images, step_seed)
    if global_batch_size is None:
        return gradient_function(config.grad)(network, config, X, Y, step_seed)
    return tape_gradients(network, config, X, Y, step_seed, global_batch_size)  # strategies take the tape only


def train_step(network: Network, optimizer, config: Config, X, Y, step_seed=None, image_shape=None,
               global_batch_size=None, gradients: Callable | None = None):
    """One update on a batch `X (B, n0)`, `Y (B, K)`: the post's `backward(x, y)`.

    step_seed (2,) keys the step's augmentation and dropout masks (a config with neither
    needs none). Returns the loss `()` and the logits `(B, K)`, both from before the update.
    gradients: `batch_gradients` compiled on its own, `(X, Y, step_seed, global_batch_size)
    -> (loss, Z, grads)`, for a strategy whose update XLA cannot compile (the all-reduce).
    """
    if gradients is None:
        loss, Z, grads = batch_gradients(network, config, X, Y, step_seed, image_shape, global_batch_size)
    else:
        loss, Z, grads = gradients(X, Y, step_seed, global_batch_size)
    optimizer.apply_gradients(zip(grads, network.params))  # W -= lr * dW, or Adam's rule; all-reduced first
    return loss, Z


def epoch_order(n, epoch, seed, shuffle: bool):
    """The rows `(n,)` in the order the batches of `epoch` take them: shuffled by (seed, epoch).

    n, epoch and seed are int64 scalar tensors; without `shuffle` (one batch an epoch) the rows keep their order.
    """
    if not shuffle:
        return tf.range(n)  # the post's full batch, unshuffled
    return tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([seed, epoch]))


def train_eagerly(network: Network, optimizer, config: Config, train: Split, epochs: int, image_shape=None,
                  start_epoch: int = 0) -> None:
    """The post's loop: `train_step` on each batch of epochs `start_epoch..epochs-1`, one Python call a batch."""
    n, B = train.size, min(config.batch_size or train.size, train.size)
    seed = tf.constant(config.seed, tf.int64)
    for epoch in range(start_epoch, epochs):
        order = epoch_order(tf.constant(n, tf.int64), tf.constant(epoch, tf.int64), seed, B < n)  # (n,)
        for first in range(0, n, B):
            rows = order[first : first + B]
            step_seed = tf.stack([seed, tf.convert_to_tensor(optimizer.iterations)])  # (seed, step), as compiled
            train_step(network, optimizer, config, tf.gather(train.X, rows), tf.gather(train.Y, rows),
                       step_seed, image_shape)
