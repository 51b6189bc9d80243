"""The presets meet their promises on real data: the post fails, `fixed` works."""

import pytest

from simplenn.config import PRESETS, preset
from simplenn.experiment import train_and_evaluate
from conftest import needs_fashion_mnist


def quiet(line):
    pass


def test_presets_are_named_configs():
    assert set(PRESETS) == {"blog", "fixed", "best"}
    assert all(config.preset == name for name, config in PRESETS.items())


def test_blog_is_the_post():
    blog = preset("blog")
    assert blog.layers == (784, 100, 30, 10)
    assert (blog.init, blog.init_stddev, blog.activation) == ("normal", 0.1, "relu")
    assert (blog.loss, blog.reduction, blog.scale_inputs) == ("sigmoid", "sum", False)
    assert (blog.optimizer, blog.lr, blog.batch_size, blog.epochs) == ("sgd", 0.01, 0, 5)


def test_fixed_keeps_the_posts_architecture():
    assert preset("fixed").layers == preset("blog").layers


def test_blog_ends_at_chance_on_digits():
    summary = train_and_evaluate(preset("blog").replace(dataset="digits"), log=quiet)
    assert summary["test_accuracy"] == pytest.approx(0.10, abs=0.02)


def test_fixed_reaches_97_percent_on_digits():
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"), log=quiet)
    assert summary["test_accuracy"] >= 0.97


@needs_fashion_mnist
def test_blog_ends_at_chance_on_fashion_mnist():
    summary = train_and_evaluate(preset("blog").replace(dataset="fashion-mnist"), log=quiet)
    assert summary["test_accuracy"] == pytest.approx(0.10, abs=0.01)
    assert summary["train_accuracy"] == pytest.approx(0.10, abs=0.01)


@needs_fashion_mnist
def test_fixed_reaches_89_5_percent_on_fashion_mnist():
    summary = train_and_evaluate(preset("fixed").replace(dataset="fashion-mnist"), log=quiet)
    assert summary["test_accuracy"] >= 0.895
