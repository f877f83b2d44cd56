"""Loading, validating and splitting MNIST; synthetic files written by the tests."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_arrays

from mnist_hpo.search.errors import DataError
from mnist_hpo.search.training.data import ENV_VAR, load_mnist, split_mnist
from mnist_hpo.search.training.idx import IDX_FILES


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool) -> Path:
    folder.mkdir()
    for key, stem in IDX_FILES.items():
        a = arrays[key]
        header = bytes([0, 0, 8, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
        raw = header + a.astype(np.uint8).tobytes()
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return folder


def test_npz_loads_with_file_digest(tmp_path: Path) -> None:
    arrays = synthetic_arrays()
    path = write_npz(tmp_path / "m.npz", arrays)
    data = load_mnist(path)
    for key, a in arrays.items():
        np.testing.assert_array_equal(getattr(data, key), a)
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.source == str(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_loads(tmp_path: Path, gz: bool) -> None:
    arrays = synthetic_arrays()
    data = load_mnist(write_idx_folder(tmp_path / "idx", arrays, gz))
    for key, a in arrays.items():
        np.testing.assert_array_equal(getattr(data, key), a)


def test_real_mnist_file(mnist_path: Path) -> None:
    data = load_mnist(mnist_path)
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    counts = np.bincount(data.y_train, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.npz: no such file or folder"):
        load_mnist(tmp_path / "nope.npz")


def test_truncated_npz(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "m.npz", synthetic_arrays())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"m\.npz: not an \.npz \(zip\) archive: truncated"):
        load_mnist(path)


def test_truncated_idx(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "idx", synthetic_arrays(), gz=False)
    images = folder / IDX_FILES["x_train"]
    images.write_bytes(images.read_bytes()[:-28])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated: .* implies"):
        load_mnist(folder)


def test_idx_folder_missing_file(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "idx", synthetic_arrays(), gz=True)
    (folder / f"{IDX_FILES['y_test']}.gz").unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte"):
        load_mnist(folder)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("x_train", np.zeros((60, 28, 27), np.uint8), r"x_train has shape \(60, 28, 27\), expected"),
    ("x_test", np.zeros((20, 28, 28), np.float32), r"x_test has dtype float32, expected uint8"),
    ("y_train", np.full(60, 10, np.uint8), r"y_train holds labels from 10 to 10, expected 0-9"),
    ("y_test", np.zeros(19, np.uint8), r"x_test has 20 images but y_test has 19 labels"),
    ("y_train", np.zeros((60, 1), np.uint8), r"y_train has shape \(60, 1\)"),
])
def test_bad_arrays_are_named(tmp_path: Path, key: str, value: np.ndarray, message: str) -> None:
    arrays = synthetic_arrays() | {key: value}
    with pytest.raises(DataError, match=message):
        load_mnist(write_npz(tmp_path / "bad.npz", arrays))


def test_npz_missing_array(tmp_path: Path) -> None:
    arrays = synthetic_arrays()
    del arrays["y_test"]
    with pytest.raises(DataError, match=r"missing array\(s\) y_test"):
        load_mnist(write_npz(tmp_path / "m.npz", arrays))


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write_npz(tmp_path / "env.npz", synthetic_arrays(seed=1))
    arg_file = write_npz(tmp_path / "arg.npz", synthetic_arrays(seed=2))
    monkeypatch.setenv(ENV_VAR, str(env_file))
    assert load_mnist().source == str(env_file)
    assert load_mnist(arg_file).source == str(arg_file)


def test_keras_download_failure_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    def offline() -> None:
        raise OSError("network is unreachable")

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match=r"download failed .* pass --data PATH or set MNIST_HPO"):
        load_mnist()


def test_split_is_seeded_disjoint_and_sized(tmp_path: Path) -> None:
    arrays = synthetic_arrays(n_train=100)
    # Make every training image identifiable by its first pixel.
    arrays["x_train"][:, 0, 0] = np.arange(100)
    data = load_mnist(write_npz(tmp_path / "m.npz", arrays))
    a = split_mnist(data, validation=30, seed=3)
    b = split_mnist(data, validation=30, seed=3)
    c = split_mnist(data, validation=30, seed=4)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    train_ids, val_ids = set(a.x_train[:, 0, 0]), set(a.x_val[:, 0, 0])
    assert len(val_ids) == 30 and len(train_ids) == 70 and not train_ids & val_ids
    small = split_mnist(data, validation=30, subset=10, seed=3)
    assert len(small.x_train) == 10 and len(small.y_train) == 10
    np.testing.assert_array_equal(small.x_val, a.x_val)  # --subset never changes validation
    assert small.x_test is data.x_test


def test_split_rejects_impossible_sizes(tmp_path: Path) -> None:
    data = load_mnist(write_npz(tmp_path / "m.npz", synthetic_arrays(n_train=100)))
    with pytest.raises(DataError, match=r"--subset 71: must be between 1 and 70"):
        split_mnist(data, validation=30, subset=71)
    with pytest.raises(DataError, match=r"--validation 100: must be at least 1"):
        split_mnist(data, validation=100)
