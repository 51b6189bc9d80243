"""What a finished run's numbers say is wrong with it, each finding with its fix.

Two kinds of check. `diagnose`'s own (`measure` and `find_problems`), applied to the
trained weights on test images: unscaled inputs, exploding gradients, overflowing or
saturated logits, dead ReLUs. And what only a whole run shows: accuracy at chance,
memorising the training set, a validation loss that rose, training cut short while it
still improved, confidence that does not match accuracy.
"""

from __future__ import annotations

import numpy as np

from simplenn.explain.diagnose import Diagnosis, Finding, find_problems, measure
from simplenn.training.data import Split

MEASURED_IMAGES = 1000  # test images the gradients and activations are measured on
OVERFITTING_GAP = 0.05  # train accuracy above test accuracy by more than this
STILL_IMPROVING = 0.01  # training accuracy still rising this much in the last epoch
POOR_CALIBRATION = 0.05  # expected calibration error above this


def weight_findings(run, evaluation) -> list[Finding]:
    """`diagnose`'s checks on the run's final weights, measured on the first test images."""
    images = evaluation.images[:MEASURED_IMAGES]
    labels = evaluation.labels[:MEASURED_IMAGES]
    X = run.inputs(images)  # (n, h*w)
    Y = np.eye(run.network.layer_sizes[-1], dtype=np.float32)[labels]  # (n, K)
    batch = Split(X, Y, labels)
    state = measure(run.trainer, batch, batch)
    diagnosis = Diagnosis(
        config=run.config, n_train=len(X), batch_size=len(X), sample_size=len(X),
        input_min=float(X.min()), input_max=float(X.max()), input_mean=float(X.mean()), states=[state],
    )
    return find_problems(diagnosis)  # one state, taken after the run's last step


def run_findings(run, evaluation) -> list[Finding]:
    """Problems that the history, the summary and the evaluation show."""
    findings, history, config = [], run.history, run.config
    n_classes = len(evaluation.class_names)
    if run.summary is None:
        done = history[-1].epoch if history else 0
        findings.append(Finding(
            f"the run has not finished: {done} of {config.epochs} epochs are done",
            f"simplenn train --resume {run.run_dir}",
        ))
    if evaluation.accuracy < 1.5 / n_classes:
        findings.append(Finding(
            f"the network is at chance: {100 * evaluation.accuracy:.1f} % test accuracy with {n_classes} classes",
            f"simplenn diagnose --run-dir {run.run_dir} measures why",
        ))
    if run.summary is not None:
        gap = run.summary["train_accuracy"] - evaluation.accuracy
        if gap > OVERFITTING_GAP:
            findings.append(Finding(
                f"it memorises the training set: {100 * run.summary['train_accuracy']:.1f} % on training images "
                f"but {100 * evaluation.accuracy:.1f} % on test images",
                "--dropout 0.3, --weight-decay, --shift-pixels 1, or early stopping (--validation-split 0.1 --patience 5)",
            ))
    val_losses = [(r.val_loss, r.epoch) for r in history if r.val_loss is not None]
    if len(val_losses) >= 3:
        best_loss, best_epoch = min(val_losses)
        last_loss, last_epoch = val_losses[-1]
        if last_epoch - best_epoch >= 2 and last_loss > 1.05 * best_loss:
            findings.append(Finding(
                f"the validation loss rose from {best_loss:.4f} (epoch {best_epoch}) to {last_loss:.4f} "
                f"(epoch {last_epoch}): the network became over-confident on images it had not seen",
                "stop earlier (--patience) or regularise (--dropout, --weight-decay, --label-smoothing)",
            ))
    if len(history) >= 2 and run.summary is not None:
        rise = history[-1].accuracy - history[-2].accuracy
        if rise > STILL_IMPROVING:
            findings.append(Finding(
                f"training ended while it still improved: training accuracy rose {100 * rise:.1f} points "
                f"in the last epoch",
                f"more epochs (--epochs {2 * config.epochs})",
            ))
    if evaluation.expected_calibration_error > POOR_CALIBRATION:
        confidence = float(np.mean(evaluation.confidence))
        how = "over-confident" if confidence > evaluation.accuracy else "under-confident"
        findings.append(Finding(
            f"its confidence does not match its accuracy: {how}, mean confidence {100 * confidence:.1f} % for "
            f"{100 * evaluation.accuracy:.1f} % accuracy (expected calibration error "
            f"{100 * evaluation.expected_calibration_error:.1f} %)",
            "--label-smoothing 0.1 against over-confidence; more epochs when under-confident"
            if how == "over-confident" else "more epochs, or a smaller --label-smoothing",
        ))
    return findings


def check_run(run, evaluation) -> list[Finding]:
    """Every finding about a trained run: its weights first, then its history and scores."""
    return weight_findings(run, evaluation) + run_findings(run, evaluation)
