"""simplenn: the blog post's MNIST network built from TensorFlow's low-level pieces.

    from simplenn import Network, preset, train_and_evaluate
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"))
"""

from simplenn.config import PRESETS, Config, preset
from simplenn.network import Network

__all__ = ["Config", "Network", "PRESETS", "preset", "train_and_evaluate"]


def __getattr__(name):
    # Loading the datasets and training machinery is deferred until it is asked for.
    if name == "train_and_evaluate":
        from simplenn.experiment import train_and_evaluate

        return train_and_evaluate
    raise AttributeError(name)
