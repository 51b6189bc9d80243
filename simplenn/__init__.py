"""simplenn: the blog post's MNIST network built from TensorFlow's low-level pieces.

    from simplenn import load_run, preset, train_and_evaluate
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"), run_dir="runs/digits")
    run = load_run("runs/digits")          # the trained network, back from its checkpoint
    run.predict(images), run.evaluate()

TensorFlow loads only when `Network`, `train_and_evaluate` or `load_run` is first used, so
`simplenn data ...` and configuration errors answer at once.
"""

from simplenn.config import PRESETS, Config, preset

__all__ = ["Config", "Network", "PRESETS", "load_run", "preset", "train_and_evaluate"]


def __getattr__(name):
    if name == "Network":
        from simplenn.network import Network

        return Network
    if name == "train_and_evaluate":
        from simplenn.experiment import train_and_evaluate

        return train_and_evaluate
    if name == "load_run":
        from simplenn.loaded_run import load_run

        return load_run
    raise AttributeError(f"module 'simplenn' has no attribute {name!r}")
