"""Read the original MNIST IDX files (LeCun's format), gzipped or not."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from mnist_hpo.search.errors import DataError

# Magic numbers: two zero bytes, the type code (0x08 = unsigned byte), the number of dims.
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801

#: The four files of an MNIST folder, by Keras key; each may also end in ``.gz``, and
#: some mirrors write ``train-images.idx3-ubyte``.
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def find_idx_files(folder: Path) -> dict[str, Path]:
    """Locate the four IDX files in ``folder``; the error lists the ones that are missing."""
    found: dict[str, Path] = {}
    for key, stem in IDX_FILES.items():
        dotted = stem.replace("-idx", ".idx")
        candidates = [folder / f"{s}{gz}" for s in (stem, dotted) for gz in ("", ".gz")]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is not None:
            found[key] = hit
    missing = [IDX_FILES[k] for k in IDX_FILES if k not in found]
    if missing:
        raise DataError(f"{folder}: not an MNIST folder, missing {', '.join(missing)} "
                        f"(or .gz); expected the four IDX files or a Keras-layout .npz")
    return found


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (images or labels) into a uint8 array."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read it ({err})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated, {len(raw)} bytes is shorter than an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (_IMAGES_MAGIC, _LABELS_MAGIC):
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic number {magic:#010x})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path}: {state}: {len(raw)} bytes, the header {shape} "
                        f"implies {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
