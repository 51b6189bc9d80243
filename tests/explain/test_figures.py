"""Every figure of a real small run: written, of a sensible size, and not blank."""

import matplotlib.image
import numpy as np
import pytest

import simplenn
from simplenn.cli import main
from simplenn.explain.figures import dead_fraction, first_layer_figure, hidden_activations, plot_run

FIGURES = ["learning_curves", "confusion_matrix", "mistakes", "calibration", "samples",
           "first_layer_weights", "activations", "sample"]


@pytest.fixture(scope="module")
def run(digits_run):
    return simplenn.load_run(digits_run)


@pytest.fixture(scope="module")
def written(run, tmp_path_factory):
    return plot_run(run, out_dir=tmp_path_factory.mktemp("figures"))


def test_plot_run_replaces_figures_outside_the_runs_own_folder_only_with_force(run, written):
    from simplenn.errors import SimplennError

    before = written["sample"].read_bytes()
    with pytest.raises(SimplennError, match="learning_curves.png already exists; add --force"):
        plot_run(run, out_dir=written["sample"].parent)  # from Python as from `simplenn plot --out`
    assert written["sample"].read_bytes() == before


@pytest.mark.parametrize("stem", FIGURES)
def test_every_figure_is_written_with_content(written, stem):
    pixels = matplotlib.image.imread(written[stem])  # (h, w, 4) floats in 0-1
    height, width = pixels.shape[:2]
    assert 250 <= height <= 2000 and 250 <= width <= 2000
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05  # not one flat colour
    assert np.mean(np.all(rgb > 0.98, axis=-1)) < 0.95  # not an empty white canvas


def test_the_weights_figure_is_centred_at_zero_with_reds_and_blues(written, run):
    pixels = matplotlib.image.imread(written["first_layer_weights"])[..., :3]
    red = (pixels[..., 0] > 0.6) & (pixels[..., 2] < 0.4)
    blue = (pixels[..., 2] > 0.6) & (pixels[..., 0] < 0.4)
    assert red.mean() > 0.01 and blue.mean() > 0.01
    W1 = run.network.weights[0].numpy()
    figure = first_layer_figure(W1, run.image_shape)
    image = figure.axes[0].images[0]
    assert image.norm.vmin == -image.norm.vmax == -1
    first_tile = np.asarray(image.get_array())[:8, :8]  # unit 0, divided by its largest |w|
    np.testing.assert_allclose(first_tile, W1[:, 0].reshape(8, 8) / np.abs(W1[:, 0]).max(), rtol=1e-6)


def test_activations_and_dead_units_match_a_numpy_forward_pass(run):
    _, (x_test, _) = simplenn.datasets.load_dataset("digits")
    X = x_test.reshape(len(x_test), -1).astype(np.float32) / 255
    W1, b1 = run.network.params[0].numpy(), run.network.params[1].numpy()
    A1 = np.maximum(X @ W1 + b1, 0)  # (450, 64) @ (64, 100) + (1, 100) -> (450, 100)
    layers = hidden_activations(run.network, X)
    np.testing.assert_allclose(layers[0], A1, rtol=1e-5, atol=1e-6)
    assert dead_fraction(A1) == np.mean([not A1[:, j].any() for j in range(A1.shape[1])])
    assert dead_fraction(np.array([[0.0, 1.0], [0.0, 0.0]])) == 0.5


def test_cli_plot_writes_into_the_run_folder(digits_run, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(digits_run, run_dir)
    assert main(["plot", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.stem for p in (run_dir / "figures").glob("*.png")) == sorted(FIGURES)
    assert out.count("figure written to") == len(FIGURES)
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "cannot load run" in capsys.readouterr().err


def test_show_titles_the_sample_with_its_class_name(tmp_path, monkeypatch):
    import dataclasses

    from mnist_format import idx_files, idx_spec, tiny_splits, write_files
    from simplenn.explain import figures
    from simplenn.datasets import cache, catalogue

    files = idx_files(tiny_splits())
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    spec = dataclasses.replace(idx_spec("tiny", files, ["http://127.0.0.1:9/"]), class_names=names)
    monkeypatch.setitem(catalogue.CATALOGUE, "tiny", spec)
    monkeypatch.setenv("SIMPLENN_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "SYSTEM_DATA_DIR", tmp_path / "system")
    write_files(tmp_path / "cache" / "tiny", files)
    titles = []
    finish = figures.save_or_show
    monkeypatch.setattr(figures, "save_or_show", lambda figure, *a: (titles.append(figure.axes[0].get_title()), finish(figure, *a))[1])
    label = int(tiny_splits()[0][1][3])
    assert main(["show", "--dataset", "tiny", "--index", "3", "--out", str(tmp_path / "s.png")]) == 0
    assert titles == [f"sample of {names[label]}"]
    assert main(["show", "--dataset", "digits", "--out", str(tmp_path / "d.png")]) == 0
    assert titles[-1] in {f"sample of {digit}" for digit in range(10)}  # digits keep the post's title


def test_matplotlib_chooses_its_backend_and_falls_back_to_agg_without_a_display(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    code = ("import matplotlib, simplenn.explain.figures as p; forced = matplotlib.rcParams._get_backend_or_none(); "
            "print(forced, p.plt.get_backend().lower())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["None", "agg"], done.stderr  # nothing forced; matplotlib fell back itself
