"""A run's input contract: what one input is, how training scaled it, how a photo becomes one.

    contract = contract_for_data("fashion-mnist", (28, 28), scale_inputs=True)
    contract.recipe                      # "fashion-mnist": the recipe `preprocess` follows
    X = contract.network_inputs(images)  # (n, 784) float32, checked and scaled as in training

A run records its contract in data.json (`input`), so `predict`, `serve`, `export`,
`load_run` and `Classifier` read a user's data the way training read it, and refuse
what does not fit instead of guessing:

    kind     "image": one input is `shape = (h, w)` pixels 0-255;
             "features": one input is a row of `shape = (F,)` numbers
    scaling  "divide_by_255" (the network reads pixels / 255) or "none"
    recipe   how a user's image file becomes an input: "mnist" (20-pixel box, centre of
             mass), "digits" (full frame, box centred), "fashion-mnist" (its README's
             conversion), "resize" (grey, then resized: exactly how a folder of class images
             is read) or "none" (the run reads rows of features, not image files)
    source   {"name": "digits"}, or {"path": "/absolute/path", "sha256": "...", "files": n, "bytes": n}
             for data given by path (its files counted, so a mismatch can say what differs)
    value_range  (low, high) of the training inputs; (0, 255) for pixels
    rms      for features: the training inputs' root mean square, their typical size

Runs recorded before data.json held the contract get the one their config implies
(`implied_contract`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simplenn.errors import SimplennError
from simplenn.machine.file_safety import check_input, format_bytes, sha256_of
from simplenn.training.data import scale_inputs

KINDS = ("image", "features")
SCALINGS = ("divide_by_255", "none")
RECIPES = ("mnist", "digits", "fashion-mnist", "resize", "none")
PIXEL_RANGE = (0.0, 255.0)
# Features whose root mean square is this many times larger (or smaller) than training's are
# on another scale: 0-255 pixels given to a network fitted on standardised or 0-1 features.
# A test fold's values stray past the training fold's range (MinMaxScaler leaves a column
# that was constant in training unscaled), but not by this much on the whole.
SCALE_FACTOR = 20.0
# Catalogue datasets and the recipe their images were made by; kmnist and EMNIST follow MNIST's.
CATALOGUE_RECIPES = {"digits": "digits", "fashion-mnist": "fashion-mnist"}
MAX_SIDE = 2**24  # data.json's shape: larger is a damaged file (a row of 16 M features, a 16 M-pixel side)
MISSING = object()  # a field absent from data.json


@dataclass(frozen=True)
class InputContract:
    """What a run reads; see the module docstring for each field's values."""

    kind: str
    shape: tuple[int, ...]
    scaling: str
    recipe: str
    source: dict
    value_range: tuple[float, float] = PIXEL_RANGE
    rms: float | None = None

    @property
    def n_features(self) -> int:
        return math.prod(self.shape)

    @property
    def image_shape(self) -> tuple[int, int]:
        """`(height, width)` of an image input; a row of F features is taken as `(1, F)`."""
        return tuple(self.shape) if self.kind == "image" else (1, self.shape[0])

    @property
    def scaled(self) -> bool:
        return self.scaling == "divide_by_255"

    def describe(self) -> str:
        """One phrase for messages: "28x28 images of pixels 0-255" or "rows of 64 features"."""
        if self.kind == "image":
            return f"{self.shape[0]}x{self.shape[1]} images of pixels 0-255"
        return f"rows of {self.shape[0]} features"

    def to_dict(self) -> dict:
        values = asdict(self)
        values["shape"], values["value_range"] = list(self.shape), list(self.value_range)
        return values

    @classmethod
    def from_dict(cls, values: dict, where: str) -> "InputContract":
        """The contract stored in data.json, each field checked; `SimplennError` naming the field at fault."""
        def refuse(field: str, expected: str, found) -> SimplennError:
            shown = json.dumps(found, default=str)[:60] if found is not MISSING else "nothing"
            return SimplennError(f"cannot read {where}: field input.{field} must be {expected}, found {shown}; "
                                 "the file was changed after training")

        if not isinstance(values, dict):
            raise refuse("", "a JSON object", values)
        for name, allowed in (("kind", KINDS), ("scaling", SCALINGS), ("recipe", RECIPES)):
            if values.get(name, MISSING) not in allowed:
                raise refuse(name, f"one of {', '.join(allowed)}", values.get(name, MISSING))
        kind, shape = values["kind"], values.get("shape", MISSING)
        sides = 2 if kind == "image" else 1
        if not (isinstance(shape, list) and len(shape) == sides and all(_whole(n, 1, MAX_SIDE) for n in shape)):
            raise refuse("shape", f"{'[height, width]' if sides == 2 else '[features]'} for kind {kind}, whole numbers "
                         f"from 1 to {MAX_SIDE:,}", shape)
        if (values["recipe"] == "none") != (kind == "features"):
            raise refuse("recipe", "none for rows of features, an image recipe for images", values["recipe"])
        source = values.get("source", MISSING)
        if not (isinstance(source, dict) and (_source_name(source) or _source_path(source))):
            raise refuse("source", '{"name": DATASET} or {"path": PATH, "sha256": 64 hex digits or null}', source)
        value_range = values.get("value_range", list(PIXEL_RANGE))
        if not (isinstance(value_range, list) and len(value_range) == 2 and all(_finite(v) for v in value_range)
                and value_range[0] <= value_range[1]):
            raise refuse("value_range", "[low, high], finite numbers, low <= high", value_range)
        rms = values.get("rms")
        if rms is not None and not (_finite(rms) and rms >= 0):
            raise refuse("rms", "null or a finite number >= 0", rms)
        return cls(kind=kind, shape=tuple(shape), scaling=values["scaling"], recipe=values["recipe"],
                   source=dict(source), value_range=tuple(float(v) for v in value_range),
                   rms=None if rms is None else float(rms))

    # The one rule for every input: checked, then scaled as training scaled it.

    def network_inputs(self, values, what: str = "the inputs") -> np.ndarray:
        """`X (n, F)` float32 for the network, from values `(n, *shape)` or `(n, F)` as the run reads them.

        `SimplennError` (one line, naming what to do) for a wrong shape, NaN or infinity,
        pixels outside 0-255, 0-1 fractions given to a run that reads pixels 0-255, and
        features far from the scale training saw (`SCALE_FACTOR`): the same rule for
        `load_run`, `predict`, `serve` and `Classifier`.
        """
        values = np.asarray(values)
        if values.ndim == 1 and self.n_features > 1 and values.shape[0] == self.n_features:
            values = values[None]
        if values.ndim < 2 or values.shape[1:] not in (tuple(self.shape), (self.n_features,)):
            raise SimplennError(
                f"{what} are shaped {values.shape}, but this run reads {self.describe()}: give them as "
                f"(n, {', '.join(map(str, self.shape))})" + (f" or (n, {self.n_features})" if self.kind == "image" else "")
            )
        if values.dtype.kind not in "uifb":
            raise SimplennError(f"{what} are {values.dtype}, not numbers; give numbers")
        X = values.reshape(len(values), -1).astype(np.float32)  # (n, h, w) -> (n, h*w)
        self.check_range(X, what, fractional_possible=values.dtype.kind == "f")
        return scale_inputs(X, self.scaled)

    def check_network_range(self, X: np.ndarray, what: str) -> None:
        """The same rule for values that are already the network's inputs (TF Serving's
        `serving_default` signature): pixels / 255, so 0-1, when the run scaled them."""
        if not self.scaled:
            return self.check_range(X, what)
        if not np.isfinite(X).all():
            raise SimplennError(f"{what} hold NaN or infinity; give finite numbers")
        low, high = (float(X.min()), float(X.max())) if X.size else (0.0, 0.0)
        if low < 0 or high > 1:
            raise SimplennError(
                f"{what} hold values from {low:g} to {high:g}, but this run reads pixels / 255 (0-1) there; "
                'divide them by 255, or send pixels 0-255 with "signature_name": "images"'
            )

    def check_range(self, X: np.ndarray, what: str, *, fractional_possible: bool = True) -> None:
        """`SimplennError` unless `X` holds finite values the run can read (see `network_inputs`)."""
        if not np.isfinite(X).all():
            raise SimplennError(f"{what} hold NaN or infinity; give finite numbers")
        if X.size == 0:
            return
        low, high = float(X.min()), float(X.max())
        train_low, train_high = self.value_range
        if self.kind == "image" or self.value_range == PIXEL_RANGE:
            if low < 0 or high > 255:
                raise SimplennError(f"{what} hold values from {low:g} to {high:g}, but this run reads pixels 0-255")
            if fractional_possible and 0 < high <= 1 and (X != np.round(X)).any():
                raise SimplennError(
                    f"{what} hold fractions from {low:g} to {high:g}, but this run reads pixels 0-255 "
                    "(it scales them itself); multiply them by 255"
                )
            return
        if self.rms is None or self.rms == 0:
            return
        rms = float(np.sqrt(np.mean(np.square(X, dtype=np.float64))))
        if rms > SCALE_FACTOR * self.rms or 0 < rms < self.rms / SCALE_FACTOR:
            raise SimplennError(
                f"{what} hold values from {low:g} to {high:g}, of typical size {rms:.3g} (root mean square), far "
                f"from the {self.rms:.3g} of the values it was fitted on ({train_low:g} to {train_high:g}); "
                "scale them as its training data was scaled"
            )


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _source_name(source: dict) -> bool:
    return set(source) == {"name"} and isinstance(source["name"], str)


def _source_path(source: dict) -> bool:
    digest = source.get("sha256")
    return (set(source) <= {"path", "sha256", "files", "bytes"} and isinstance(source.get("path"), str)
            and source["path"] != ""
            and (digest is None or (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) is not None))
            and (source.get("files") is None) == (source.get("bytes") is None)
            and all(source.get(count) is None or _whole(source[count], 0, 2**63) for count in ("files", "bytes")))


def recipe_for(dataset: str, catalogue: bool, kind: str) -> str:
    """The recipe a run's images were made by: its catalogue dataset's, else "resize" (images
    read from files are greyed and resized), "none" for rows of features."""
    if kind == "features":
        return "none"
    if catalogue:
        return CATALOGUE_RECIPES.get(dataset, "mnist")
    return "resize"


def contract_for_data(dataset: str, image_shape: tuple[int, int], scale_inputs: bool, *,
                      with_hash: bool = True) -> InputContract:
    """The contract of a run trained on `dataset` (a catalogue name or a path) of `image_shape` images.

    A path is recorded absolute, with its sha256 (`with_hash`), so the run finds it from any
    folder and knows it when it is moved."""
    from simplenn.datasets import check_dataset_name

    h, w = (int(n) for n in image_shape)
    kind = "features" if h == 1 else "image"
    path = check_dataset_name(dataset)
    if path is None:
        source = {"name": dataset}
    else:
        source = {"path": str(path.resolve()), **(dataset_fingerprint(path) if with_hash else {"sha256": None})}
    shape = (h, w) if kind == "image" else (w,)
    return InputContract(kind, shape, "divide_by_255" if scale_inputs else "none",
                         recipe_for(dataset, path is None, kind), source)


def implied_contract(config, image_shape: tuple[int, int]) -> InputContract:
    """The contract of a run recorded before data.json held one, from its config alone."""
    from simplenn.datasets import DATASET_NAMES

    h, w = image_shape
    kind = "features" if h == 1 else "image"
    catalogue = config.dataset in DATASET_NAMES
    source = {"name": config.dataset} if catalogue else {"path": config.dataset, "sha256": None}
    return InputContract(kind, (h, w) if kind == "image" else (w,), "divide_by_255" if config.scale_inputs else "none",
                         recipe_for(config.dataset, catalogue, kind), source)


def dataset_files(path: Path, at_most: int | None = None) -> list[Path]:
    """A dataset file, or a folder's files in name order (hidden ones left out, links to folders
    not followed, as `Path.rglob` does): what its sha256 covers. `OSError` for a folder that cannot be read.

    at_most: stop looking once more files than this are found (those found so far are returned),
    so that a folder far larger than the recorded data is not walked to its end.
    """
    path = Path(path)
    if path.is_file():
        return [check_input(path)]
    files = []
    for inner, _, names in os.walk(path, onerror=_raise):
        files += [Path(inner) / name for name in names if not name.startswith(".") and (Path(inner) / name).is_file()]
        if at_most is not None and len(files) > at_most:
            break
    return sorted(files)


def _raise(error: OSError) -> None:
    raise error


@contextlib.contextmanager
def _reading(path: Path):
    """`SimplennError` naming the file for an `OSError` while a dataset is hashed."""
    try:
        yield
    except OSError as error:
        raise SimplennError(f"cannot read {error.filename or path}: {error.strerror or error}; "
                            "give the folder or file the run trained on") from None


def dataset_sha256(path: Path, files: list[Path] | None = None) -> str:
    """The sha256 of a dataset file, or of a folder: of each file's relative path and sha256, in name order.

    files: the folder's `dataset_files`, when the caller has walked it already.
    """
    path = Path(path)
    with _reading(path):
        if path.is_file():
            return sha256_of(check_input(path))
        digest = hashlib.sha256()
        for file in files if files is not None else dataset_files(path):
            digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_of(file)}\n".encode())
        return digest.hexdigest()


def dataset_fingerprint(path: Path) -> dict:
    """`{"sha256", "files", "bytes"}` of a dataset file or folder, as a run records its data."""
    with _reading(path):
        files = dataset_files(path)
        return {"sha256": dataset_sha256(path, files), "files": len(files),
                "bytes": sum(f.stat().st_size for f in files)}


def _walk_limit(source: dict) -> int | None:
    """How many files to look for in data that should hold the recorded count: enough to say how
    many were added, not a whole disk's worth (None: no count recorded, walk it all)."""
    return None if source.get("files") is None else 2 * source["files"] + 100


def _differs_in_extent(files: list[Path], source: dict) -> str | None:
    """How `files` (found with `_walk_limit`) differ from the recorded file count and size, or None
    when they match or were not recorded (only then is every byte hashed)."""
    at_most = _walk_limit(source)
    if at_most is None:
        return None
    held = _holding(source["files"], source["bytes"])
    if len(files) > at_most:
        return f"it holds more than {at_most:,} files, the run's data held {held}"
    size = sum(file.stat().st_size for file in files)
    if (len(files), size) != (source["files"], source["bytes"]):
        return f"it holds {_holding(len(files), size)}, the run's data held {held}"
    return None


def _holding(files: int, size: int) -> str:
    return f"{files:,} file{'s' if files != 1 else ''} of {format_bytes(size)}"


def run_dataset(contract: InputContract, given: str | None = None) -> str:
    """What to load for a run's own data: its catalogue name, or the path it trained on.

    given: where the data is now (a moved folder or file); it must hash to the sha256 the
    run recorded. Without it, the recorded absolute path is used, from any folder, and
    checked the same way. A run recorded without a sha256 (before runs kept one) is taken
    at its word. `SimplennError` names where it looked, or the hash that differs.
    """
    from simplenn.datasets import DATASET_NAMES, check_dataset_name

    source = contract.source
    if "name" in source:
        if source["name"] not in DATASET_NAMES:
            raise SimplennError(f"the run's data.json names the dataset {source['name']!r}, which is not one simplenn "
                                f"knows ({', '.join(DATASET_NAMES)}); give the run's data with --dataset")
        if given is not None and given != source["name"]:
            raise SimplennError(f"the run trained on the catalogue dataset {source['name']}, not {given}; "
                                f"drop --dataset, or evaluate on {given} with `simplenn evaluate RUN --dataset {given}`")
        return source["name"]
    path = Path(given if given is not None else source["path"]).expanduser().resolve()
    if not path.exists():
        if given is None and not Path(source["path"]).expanduser().is_absolute():  # an old run's path, as typed
            raise SimplennError(f"the run recorded its dataset as {source['path']}, relative to the folder it was "
                                f"trained in, and it is not at {path}; run from that folder, or give its place "
                                "with --dataset (in Python, load_run's dataset=)")
        if given is None:
            raise SimplennError(f"the run's dataset is not at {path}, where it trained; "
                                "give its new place with --dataset (in Python, load_run's dataset=)")
        raise SimplennError(f"there is nothing at {path}; give the folder or file the run's data is in now")
    check_dataset_name(str(path))  # a folder or a regular file, before any byte is hashed
    recorded = source.get("sha256")
    if recorded is not None:
        with _reading(path):
            files = dataset_files(path, _walk_limit(source))
            mismatch = _differs_in_extent(files, source)  # counted first: different data is not read to its end
        if mismatch is None:
            found = dataset_sha256(path, files)
            if found != recorded:
                mismatch = f"its sha256 is {found[:12]}..., data.json records {recorded[:12]}..."
        if mismatch is not None:
            raise SimplennError(f"{path} is not the data the run trained on ({source['path']}): {mismatch}; "
                                "give that data unchanged, or train a new run on this one")
    return str(path)


def scored_dataset(contract: InputContract, given: str | None = None) -> str:
    """What `evaluate` scores a run on: another catalogue dataset when `given` names one (its
    test split was never trained on, e.g. kmnist for an MNIST run), else the run's own data
    (`run_dataset`: a path given to a run that trained on a path must hash to its record,
    for the test split of other files could hold the very examples the run trained on)."""
    from simplenn.datasets import DATASET_NAMES

    if given is None:
        return run_dataset(contract)
    if given in DATASET_NAMES or "name" in contract.source:  # a catalogue dataset, or other data for a catalogue run
        return given
    return run_dataset(contract, given)
