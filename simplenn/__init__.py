"""simplenn: the blog post's MNIST network built from TensorFlow's low-level pieces.

    from simplenn import Network, preset, train_and_evaluate
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"))

TensorFlow loads only when `Network` or `train_and_evaluate` is first used, so
`simplenn data ...` and configuration errors answer at once.
"""

from simplenn.config import PRESETS, Config, preset

__all__ = ["Config", "Network", "PRESETS", "preset", "train_and_evaluate"]


def __getattr__(name):
    if name == "Network":
        from simplenn.network import Network

        return Network
    if name == "train_and_evaluate":
        from simplenn.experiment import train_and_evaluate

        return train_and_evaluate
    raise AttributeError(f"module 'simplenn' has no attribute {name!r}")
