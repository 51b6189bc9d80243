"""A trained run as a TensorFlow SavedModel (for TensorFlow Serving) or a TFLite file.

    export_run(load_run("runs/fixed-mnist"), "export/simplenn/1")          # SavedModel
    export_run(load_run("runs/fixed-mnist"), "simplenn.tflite", "tflite")

The SavedModel has two signatures, each returning `probabilities (None, K)` float32 and
`classes (None,)` int64:

    serving_default   inputs  float32 (None, h*w)  the run's own input: pixels / 255 when
                                                    it trained on scaled inputs, else 0-255
    images            images  uint8   (None, h, w) raw 0-255 pixels; flattening and scaling
                                                    happen inside the graph

Only the network's forward pass is saved (its weights as constants of the graph's
variables, the activation, the softmax or sigmoid): no optimizer, no training step, no
XLA. It loads with TensorFlow alone, without simplenn.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from simplenn.machine.quiet_tensorflow import tf

from simplenn.training.data import scale_inputs
from simplenn.errors import SimplennError
from simplenn.machine.file_safety import (
    DiskFull, is_disk_full, rename_new, require_regular_or_new, run_record_of, write_error,
)
from simplenn.nn.network import class_scores

FORMATS = ("saved_model", "tflite")


class ServingModel(tf.Module):
    """A run's network wrapped in the two serving signatures."""

    def __init__(self, run):
        super().__init__(name="simplenn")
        self.network = run.network
        self.loss = run.config.loss
        self.scale_inputs = run.contract.scaled
        h, w = run.image_shape
        n_features = h * w
        self.serving_default = tf.function(
            self._scores, input_signature=[tf.TensorSpec((None, n_features), tf.float32, name="inputs")]
        )
        self.images = tf.function(
            self._scores_of_images, input_signature=[tf.TensorSpec((None, h, w), tf.uint8, name="images")]
        )

    def _scores(self, inputs):
        """`{"probabilities": (B, K), "classes": (B,)}` for the network's inputs `(B, h*w)`."""
        logits = self.network.forward(inputs)  # (B, h*w) -> (B, K)
        return {"probabilities": class_scores(logits, self.loss), "classes": tf.argmax(logits, axis=1)}

    def _scores_of_images(self, images):
        """The same for raw images `(B, h, w)` of 0-255, scaled as the run's training data was."""
        inputs = tf.reshape(tf.cast(images, tf.float32), (tf.shape(images)[0], -1))  # (B, h, w) -> (B, h*w)
        return self._scores(scale_inputs(inputs, self.scale_inputs))  # training's one scaling


def export_format(out: str | Path, format: str | None = None) -> str:
    """The format to write: `format` when given, else `out`'s suffix (".tflite": tflite, else a
    SavedModel folder); `SimplennError` when the two contradict."""
    by_suffix = "tflite" if Path(out).suffix.lower() == ".tflite" else None
    if format is None:
        return by_suffix or "saved_model"
    if format not in FORMATS:
        raise SimplennError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "saved_model" and by_suffix == "tflite":
        raise SimplennError(f"{out} ends in .tflite but --format saved_model writes a folder; drop --format "
                            "to write a TFLite file, or name the folder without .tflite")
    return format


def export_run(run, out: str | Path, format: str | None = None) -> Path:
    """Write `run` to `out` (a folder for "saved_model", a file for "tflite"); the path written.

    format: "saved_model" or "tflite"; None takes it from `out` (`export_format`). A
    SavedModel goes into a temporary folder beside `out` and is renamed into place, so an
    interrupted export leaves no half-written model; an existing `out` is refused, and so
    is one that appears while the model is written (`rename_new` never replaces it).
    """
    format = export_format(out, format)
    if format == "tflite" and run.config.precision != "float32":
        raise SimplennError(f"{run.run_dir} trained with --precision {run.config.precision} and TFLite has no "
                            "bfloat16 kernels; export it with --format saved_model")
    out = Path(out)
    if out.exists():
        raise SimplennError(f"{out} already exists; choose a new path or remove it first")
    require_regular_or_new(out)  # a link that points nowhere: refused, not replaced by the rename
    needed_by = run_record_of(out)
    if needed_by is not None:
        raise SimplennError(f"cannot write {out}: {needed_by} needs its checkpoints as they are; give another path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    except OSError as error:
        raise SimplennError(f"cannot write {out}: {error.strerror or error}") from None
    try:
        model = ServingModel(run)
        saved_model = staging / "saved_model"
        tf.saved_model.save(
            model, str(saved_model), signatures={"serving_default": model.serving_default, "images": model.images}
        )
        if format == "saved_model":
            rename_new(saved_model, out)
        else:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["serving_default", "images"])
            (staging / "model.tflite").write_bytes(converter.convert())
            rename_new(staging / "model.tflite", out)
    except FileExistsError:  # something took the name while the model was written: it stays as it is
        raise SimplennError(f"{out} was created while the model was being written; it is left as it is: "
                            "choose a new path, or remove it and export again") from None
    except OSError as error:
        raise write_error(out, error) from None
    except tf.errors.OpError as error:  # TensorFlow's own writes: a full disk is "No space left"
        if is_disk_full(error):
            raise DiskFull(out, None) from None
        raise SimplennError(f"cannot write {out}: {str(error).strip().splitlines()[-1][:200]}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def export_summary(run, out: Path, format: str) -> str:
    """What was written and how to use it, for the CLI."""
    h, w = run.image_shape
    signatures = (
        f"signatures: serving_default (inputs float32 (None, {h * w}){', pixels / 255' if run.config.scale_inputs else ''}), "
        f"images (uint8 (None, {h}, {w})); outputs probabilities, classes"
    )
    if format == "tflite":
        return f"TFLite model written to {out}\n{signatures}"
    return (
        f"SavedModel written to {out}\n{signatures}\n"
        f"TensorFlow Serving wants a version folder: export to models/simplenn/1, then\n"
        f"  docker run -p 8501:8501 -v $PWD/models/simplenn:/models/simplenn -e MODEL_NAME=simplenn tensorflow/serving"
    )
