"""Load MNIST from wherever the user has it, check it is MNIST, and split it.

Resolution order: an explicit path (``--data``), the ``MNIST_HPO_DATA`` variable, then
Keras' own download (``keras.datasets.mnist.load_data``, cached in ``~/.keras/datasets``).
The test set is returned for one final evaluation; selection uses a validation split carved
from the training set.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_hpo.search.errors import DataError
from mnist_hpo.search.training.idx import find_idx_files, read_idx

ENV_VAR = "MNIST_HPO_DATA"
KEYS = ("x_train", "y_train", "x_test", "y_test")
KERAS_SOURCE = "keras.datasets.mnist"


@dataclass(frozen=True)
class MnistData:
    """The four MNIST arrays as stored (uint8), with where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: str


@dataclass(frozen=True)
class Split:
    """Training, validation (held out of the training set) and test arrays, uint8."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def resolve_source(path: str | os.PathLike[str] | None = None) -> str:
    """Where the data will come from: ``path``, else ``$MNIST_HPO_DATA``, else Keras."""
    if path is not None and str(path) != "":
        return str(path)
    return os.environ.get(ENV_VAR) or KERAS_SOURCE


def load_mnist(path: str | os.PathLike[str] | None = None) -> MnistData:
    """Load and validate MNIST.

    Args:
        path: A Keras-layout ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``) or a
            folder holding the four IDX files, gzipped or not. ``None``: ``$MNIST_HPO_DATA``,
            then Keras' download.

    Raises:
        DataError: one line naming the path and what is wrong with it.
    """
    source = resolve_source(path)
    if source == KERAS_SOURCE:
        return _load_keras()
    where = Path(source)
    if where.is_dir():
        files = find_idx_files(where)
        arrays = {key: read_idx(p) for key, p in files.items()}
        digest = _sha256(*(files[k] for k in KEYS))
    elif where.is_file():
        arrays = _read_npz(where)
        digest = _sha256(where)
    else:
        raise DataError(f"{where}: no such file or folder (give a Keras-layout mnist.npz or "
                        f"a folder of the four MNIST IDX files)")
    return validate(arrays, source=str(where), sha256=digest)


def validate(arrays: dict[str, np.ndarray], source: str, sha256: str) -> MnistData:
    """Check shapes, dtypes, label range and lengths; return labels as uint8."""
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
            raise DataError(f"{source}: x_{part} has shape {x.shape}, expected (N, 28, 28)")
        if x.dtype != np.uint8:
            raise DataError(f"{source}: x_{part} has dtype {x.dtype}, expected uint8 (0-255)")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{source}: y_{part} has shape {y.shape} and dtype {y.dtype}, "
                            f"expected integer labels of shape (N,)")
        if len(y) != len(x):
            raise DataError(f"{source}: x_{part} has {len(x)} images but y_{part} has "
                            f"{len(y)} labels")
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{source}: y_{part} holds labels from {y.min()} to {y.max()}, "
                            f"expected 0-9")
    return MnistData(x_train=arrays["x_train"], y_train=arrays["y_train"].astype(np.uint8),
                     x_test=arrays["x_test"], y_test=arrays["y_test"].astype(np.uint8),
                     source=source, sha256=sha256)


def split_mnist(data: MnistData, validation: int = 5000, subset: int | None = None,
                seed: int = 0) -> Split:
    """Hold ``validation`` training images out (seeded), then keep ``subset`` for training.

    The same seed and sizes always give the same split, so trials of one search, and
    searches compared with each other, select on the same images.
    """
    n = len(data.x_train)
    if not 1 <= validation < n:
        raise DataError(f"--validation {validation}: must be at least 1 and leave training "
                        f"images out of the {n} in {data.source}")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:validation], order[validation:]
    if subset is not None:
        if not 1 <= subset <= len(train):
            raise DataError(f"--subset {subset}: must be between 1 and {len(train)}, the "
                            f"training images left after holding out {validation} for validation")
        train = train[:subset]
    return Split(x_train=data.x_train[train], y_train=data.y_train[train],
                 x_val=data.x_train[val], y_val=data.y_train[val],
                 x_test=data.x_test, y_test=data.y_test)


def recorded_split(record: Mapping[str, Any], path: str | None = None) -> Split:
    """The split a search trained and validated on, from its manifest's ``data`` record
    (source, SHA-256, validation, subset, split seed); ``path`` overrides the source.

    Raises:
        DataError: the file is not the one the search used (SHA-256 differs).
    """
    mnist = load_mnist(path or record["source"])
    if record.get("sha256") and mnist.sha256 != record["sha256"]:
        raise DataError(f"{mnist.source}: not the data this search used (SHA-256 "
                        f"{mnist.sha256[:12]}... != {record['sha256'][:12]}...); "
                        f"pass the original file with --data")
    return split_mnist(mnist, validation=int(record["validation"]), subset=record.get("subset"),
                       seed=int(record["split_seed"]))


def scale_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]: what the models take."""
    return (x.astype(np.float32) / 255.0)[..., np.newaxis]


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    # A truncated .npz loses its zip directory (at the end), so this catches truncation too.
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz (zip) archive: truncated, corrupt or another format")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in KEYS if k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise DataError(f"{path}: corrupt .npz archive ({err})") from None
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)}; a Keras-layout "
                        f"mnist.npz holds {', '.join(KEYS)}")
    return arrays


def _load_keras() -> MnistData:
    import keras  # only this path needs Keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # any failure of the download is reported the same way
        raise DataError(f"{KERAS_SOURCE}: download failed ({type(err).__name__}); offline, "
                        f"pass --data PATH or set {ENV_VAR} to a local mnist.npz") from None
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return validate(arrays, source=KERAS_SOURCE, sha256=_sha256(cache) if cache.exists() else "")


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
