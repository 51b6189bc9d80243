"""`simplenn evaluate`: every score equals scikit-learn's on the same predictions, computed here."""

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import classification_report, confusion_matrix

import simplenn
from cli_messages import error_message
from simplenn.cli import main
from simplenn.datasets import class_names, load_dataset
from simplenn.runs.evaluation import calibration, evaluate_predictions, format_evaluation, most_confused_pairs


@pytest.fixture(scope="module")
def evaluated(digits_run):
    run = simplenn.load_run(digits_run)
    return run, run.evaluate()


def test_scores_equal_scikit_learns_on_the_same_predictions(evaluated):
    run, evaluation = evaluated
    _, (x_test, y_test) = load_dataset("digits")
    predicted = run.network.predict(x_test.reshape(len(x_test), -1).astype(np.float32) / 255).numpy()
    report = classification_report(y_test, predicted, output_dict=True, zero_division=0)
    for digit, row in enumerate(evaluation.per_class):
        expected = report[str(digit)]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == (
            expected["precision"], expected["recall"], expected["f1-score"], expected["support"])
    for average in ("macro", "weighted"):
        expected = report[f"{average} avg"]
        assert evaluation.averages[average] == {
            "precision": expected["precision"], "recall": expected["recall"], "f1": expected["f1-score"]}
    assert evaluation.accuracy == report["accuracy"] == run.summary["test_accuracy"]
    assert evaluation.averages["micro"]["f1"] == pytest.approx(report["accuracy"])
    matrix = np.array(evaluation.confusion_matrix)
    np.testing.assert_array_equal(matrix, confusion_matrix(y_test, predicted))
    assert matrix.sum() == len(y_test) == evaluation.size == 450


def test_top_k_accuracy_counts_the_true_class_among_the_k_best(evaluated):
    run, evaluation = evaluated
    scores, labels = evaluation.scores, evaluation.labels
    for k in (2, 3):
        best_k = np.argsort(-scores, axis=1)[:, :k]
        assert evaluation.top_k_accuracy[k] == pytest.approx(np.mean([y in row for y, row in zip(labels, best_k)]))
    assert evaluation.accuracy <= evaluation.top_k_accuracy[2] <= evaluation.top_k_accuracy[3]


def test_confidence_and_calibration_by_hand():
    # four predictions: sure and right, sure and wrong, unsure and right twice
    scores = np.array([[0.95, 0.05], [0.9, 0.1], [0.4, 0.6], [0.55, 0.45]])
    labels = np.array([0, 1, 1, 0])
    evaluation = evaluate_predictions(labels, scores, ["a", "b"])
    assert evaluation.mean_confidence_right == pytest.approx((0.95 + 0.6 + 0.55) / 3)
    assert evaluation.mean_confidence_wrong == pytest.approx(0.9)
    ece, bins = calibration(np.array([0.95, 0.9, 0.6, 0.55]), np.array([True, False, True, True]), n_bins=2)
    # bin [0, 0.5) empty; bin [0.5, 1]: confidence 0.75, accuracy 0.75 -> ECE 0
    assert (bins[0].count, bins[1].count, ece) == (0, 4, pytest.approx(0.0))
    ece, _ = calibration(np.array([0.95, 0.9, 0.6, 0.55]), np.array([True, False, True, True]), n_bins=4)
    # [0.5, 0.75): conf 0.575, acc 1 ; [0.75, 1]: conf 0.925, acc 0.5
    assert ece == pytest.approx(0.5 * 0.425 + 0.5 * 0.425)


def test_most_confused_pairs_are_the_largest_off_diagonal_counts():
    matrix = np.array([[5, 3, 0], [1, 7, 4], [0, 0, 9]])
    assert most_confused_pairs(matrix, ["x", "y", "z"]) == [
        {"true": "y", "predicted": "z", "count": 4},
        {"true": "x", "predicted": "y", "count": 3},
        {"true": "y", "predicted": "x", "count": 1},
    ]


def test_class_names_come_from_the_dataset():
    names = class_names("fashion-mnist")
    rng = np.random.default_rng(0)
    evaluation = evaluate_predictions(rng.integers(0, 10, 200), rng.random((200, 10)), names, "fashion-mnist")
    assert [row["class"] for row in evaluation.per_class] == names
    text = format_evaluation(evaluation)
    assert "T-shirt/top" in text and "Ankle boot" in text


def test_cli_prints_the_report_and_writes_evaluation_json(digits_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(digits_run, run_dir)
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    written = json.loads((run_dir / "evaluation.json").read_text())
    assert f"accuracy {100 * written['accuracy']:.2f} %" in out and "macro avg" in out and "most confused" in out
    assert written["dataset"] == "digits" and written["size"] == 450
    assert sum(map(sum, written["confusion_matrix"])) == 450
    assert written["weights_sha256"] == json.loads((run_dir / "summary.json").read_text())["weights_sha256"]
    assert set(written["top_k_accuracy"]) == {"2", "3"}
    elsewhere = tmp_path / "elsewhere.json"
    assert main(["evaluate", str(run_dir), "--json", str(elsewhere)]) == 0
    assert json.loads(elsewhere.read_text())["accuracy"] == written["accuracy"]


@pytest.mark.parametrize("damage, message", [
    ("missing config", "holds no config.json"),
    ("truncated checkpoints", "no usable checkpoint"),
    ("empty folder", "holds no config.json"),
])
def test_cli_bad_run_exit_2_one_line_nothing_written(digits_run, tmp_path, capsys, damage, message):
    run_dir = tmp_path / "run"
    shutil.copytree(digits_run, run_dir)
    if damage == "missing config":
        (run_dir / "config.json").unlink()
    elif damage == "truncated checkpoints":
        for data in (run_dir / "checkpoints").glob("*.data-*"):
            data.write_bytes(data.read_bytes()[:500])
    else:
        shutil.rmtree(run_dir)
        run_dir.mkdir()
    before = sorted(tmp_path.rglob("*"))
    assert main(["evaluate", str(run_dir)]) == 2
    assert message in error_message(capsys.readouterr().err)
    assert sorted(tmp_path.rglob("*")) == before


def test_a_dataset_of_another_size_is_refused(digits_run, tmp_path, capsys):
    npz = tmp_path / "big.npz"
    images = np.zeros((20, 28, 28), np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 10
    np.savez(npz, x_train=images, y_train=labels, x_test=images, y_test=labels)
    assert main(["evaluate", str(digits_run), "--dataset", str(npz)]) == 2
    assert "has 28x28 images but the run in" in capsys.readouterr().err


def test_classes_come_from_the_logits_when_sigmoids_saturate_and_tie():
    # Logits of 40 and 50 both give sigmoid 1.0 in float32: the scores tie, the run's answer does not.
    logits = np.array([[40.0, 50.0, -3.0], [2.0, -1.0, 0.5]], np.float32)
    scores = 1 / (1 + np.exp(-logits))
    assert scores[0, 0] == scores[0, 1] == 1.0
    evaluation = evaluate_predictions([1, 0], scores, ["a", "b", "c"], predicted=np.argmax(logits, axis=1))
    assert evaluation.accuracy == 1.0
    assert evaluate_predictions([1, 0], scores, ["a", "b", "c"]).accuracy == 0.5  # the tie, without them
