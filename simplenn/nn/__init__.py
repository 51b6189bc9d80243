"""The post's mathematics: the network, its losses, optimizers, hand-written backpropagation and the scores of its logits."""
