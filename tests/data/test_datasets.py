"""Tests of aebnas.data: real Fashion-MNIST and digits, CIFAR/SVHN files in their exact on-disk
formats (built from real Fashion-MNIST images), ImageFolder trees, and the batch loader."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
import torchvision.datasets.svhn
from PIL import Image

from aebnas.data import (
    DATASETS,
    BatchLoader,
    Dataset,
    ImageSplit,
    carve_validation,
    dataset_classes,
    dataset_help,
    dataset_info,
    default_data_root,
    load_dataset,
)
from aebnas.data import sources as data_sources
from aebnas.data.images import channel_stats
from aebnas.data.loader import shift_and_flip
from aebnas.errors import UserError

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fmnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root filled from the Debian package's files by the library itself."""
    if not (data_sources.FASHION_MNIST_SYSTEM_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    return tmp_path_factory.mktemp("fmnist")


@pytest.fixture(scope="module")
def fmnist(fmnist_root: Path) -> Dataset:
    return load_dataset("fashion-mnist", fmnist_root)


@pytest.fixture(scope="module")
def real_rgb(fmnist: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """80 real Fashion-MNIST images as uint8 (80, 3, 32, 32): padded by 2, with three distinct
    channels (R = image, G = inverted, B = half) so a wrong plane order would show; labels 0..9."""
    gray = F.pad(fmnist.test.images[:80], (2, 2, 2, 2)).numpy()  # (80, 1, 32, 32)
    rgb = np.concatenate([gray, 255 - gray, gray // 2], axis=1)
    return np.ascontiguousarray(rgb), fmnist.test.labels[:80].numpy()


@pytest.fixture
def no_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our fixture files cannot match the real md5s: check only that the files exist."""

    def exists(fpath: str, md5: str | None = None) -> bool:
        return os.path.isfile(fpath)

    monkeypatch.setattr(data_sources, "check_integrity", exists)
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", exists)


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) -> (N, 3072): the R plane, then G, then B, as in the CIFAR batches."""
    return images.reshape(len(images), 3072)


def write_cifar10(root: Path, images: np.ndarray, labels: np.ndarray, n_test: int) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_x, train_y = images[:-n_test], labels[:-n_test]
    for i, (x, y) in enumerate(zip(np.array_split(train_x, 5), np.array_split(train_y, 5),
                                   strict=True), start=1):
        _pickle(folder / f"data_batch_{i}", {
            "batch_label": f"training batch {i} of 5", "labels": [int(v) for v in y],
            "data": _cifar_rows(x), "filenames": [f"img_{i}_{j}.png" for j in range(len(y))]})
    _pickle(folder / "test_batch", {
        "batch_label": "testing batch 1 of 1", "labels": [int(v) for v in labels[-n_test:]],
        "data": _cifar_rows(images[-n_test:]), "filenames": ["t.png"] * n_test})
    _pickle(folder / "batches.meta", {
        "label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": 10000,
        "num_vis": 3072})


def write_cifar100(root: Path, images: np.ndarray, fine: np.ndarray, n_test: int) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, sl in (("train", slice(None, -n_test)), ("test", slice(-n_test, None))):
        _pickle(folder / name, {
            "filenames": ["x.png"] * len(fine[sl]), "batch_label": name,
            "fine_labels": [int(v) for v in fine[sl]],
            "coarse_labels": [int(v) // 5 for v in fine[sl]], "data": _cifar_rows(images[sl])})
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                              "coarse_label_names": [f"c{i}" for i in range(20)]})


def write_svhn(root: Path, name: str, images: np.ndarray, labels: np.ndarray) -> None:
    """X is (32, 32, 3, N) uint8 and y is (N, 1) with 10 for the digit 0."""
    svhn_y = np.where(labels == 0, 10, labels).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(root / f"{name}_32x32.mat",
                     {"X": np.ascontiguousarray(images.transpose(2, 3, 1, 0)), "y": svhn_y})


def write_folder(root: Path, classes: dict[str, tuple[int, int]]) -> None:
    """PNG tree root/{train,test}/<class>/*.png of odd sizes and modes (gray and RGB)."""
    rng = np.random.default_rng(0)
    for cls, (n_train, n_test) in classes.items():
        for split, n in (("train", n_train), ("test", n_test)):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                if i % 2:
                    pixels = rng.integers(0, 256, (20, 24), dtype=np.uint8)
                    image = Image.fromarray(pixels, mode="L")
                else:
                    image = Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8))
                image.save(root / split / cls / f"{i}.png")


def synthetic(n: int = 50, channels: int = 3, size: int = 32, name: str = "cifar10") -> Dataset:
    """A hand-built Dataset of random pixels (loader tests do not need real images)."""
    g = torch.Generator().manual_seed(1)
    split = ImageSplit(torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8,
                                     generator=g), torch.arange(n) % 10)
    info = DATASETS.get(name)
    mean, std = channel_stats(split.images)
    return Dataset(name=name, num_classes=10, channels=channels, mean=mean, std=std,
                   train=split, val=split.subset(10, 0), test=split.subset(20, 1), info=info)


# --------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_from_debian_files(fmnist: Dataset, fmnist_root: Path) -> None:
    assert (len(fmnist.train), len(fmnist.val), len(fmnist.test)) == (55_000, 5_000, 10_000)
    assert fmnist.train.images.shape == (55_000, 1, 28, 28)
    assert fmnist.test.images.shape == (10_000, 1, 28, 28)
    assert fmnist.train.images.dtype == torch.uint8 and fmnist.val.labels.dtype == torch.int64
    assert (fmnist.num_classes, fmnist.channels) == (10, 1)
    assert (fmnist.mean, fmnist.std) == ((0.2860,), (0.3530,))
    assert set(fmnist.test.labels.tolist()) == set(range(10))
    raw = sorted(p.name for p in (fmnist_root / "FashionMNIST" / "raw").iterdir())
    assert raw == sorted(data_sources.FASHION_MNIST_FILES)  # uncompressed only, no temp files


def test_fashion_mnist_pixel_statistics_match_constants(fmnist: Dataset) -> None:
    mean, std = channel_stats(fmnist.train.images)
    assert mean[0] == pytest.approx(0.2860, abs=2e-3)
    assert std[0] == pytest.approx(0.3530, abs=2e-3)


def test_validation_split_is_seeded_and_disjoint(fmnist: Dataset, fmnist_root: Path) -> None:
    raw = data_sources.load_fashion_mnist(fmnist_root).train
    again = load_dataset("fashion-mnist", fmnist_root, seed=0)
    other = load_dataset("fashion-mnist", fmnist_root, seed=1)
    assert torch.equal(again.val_indices, fmnist.val_indices)
    assert not torch.equal(other.val_indices, fmnist.val_indices)
    assert torch.equal(fmnist.val.images, raw.images[fmnist.val_indices])
    assert torch.equal(fmnist.val.labels, raw.labels[fmnist.val_indices])
    # train is exactly the complement of val, in the original order
    rest = torch.ones(len(raw), dtype=torch.bool)
    rest[fmnist.val_indices] = False
    assert torch.equal(fmnist.train.images, raw.images[rest])


def test_carve_validation_partitions_the_training_set() -> None:
    split = ImageSplit(torch.zeros(100, 1, 2, 2, dtype=torch.uint8), torch.arange(100))
    train, val, idx = carve_validation(split, 30, seed=5)
    assert len(val) == 30 and len(train) == 70
    assert torch.equal(val.labels, idx)  # labels are the original indices
    assert sorted(train.labels.tolist() + val.labels.tolist()) == list(range(100))
    with pytest.raises(UserError, match="val_size"):
        carve_validation(split, 100, seed=0)


def test_fashion_mnist_missing_names_the_fix(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_sources, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "absent")
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist") as err:
        load_dataset("fashion-mnist", tmp_path)
    assert "FashionMNIST/raw" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "FashionMNIST" / "raw").exists()


# --------------------------------------------------------------------------- CIFAR / SVHN


@pytest.mark.usefixtures("no_md5")
def test_cifar10_on_disk_format(tmp_path: Path, real_rgb: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = real_rgb
    write_cifar10(tmp_path, images, labels, n_test=20)
    ds = load_dataset("cifar10", tmp_path, val_size=6, seed=3)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (54, 6, 20)
    assert ds.train.images.shape[1:] == (3, 32, 32) and ds.train.images.dtype == torch.uint8
    assert (ds.num_classes, ds.channels) == (10, 3)
    assert ds.mean == DATASETS.get("cifar10").mean
    assert torch.equal(ds.test.images, torch.from_numpy(images[-20:]))  # R, G, B planes in order
    assert torch.equal(ds.test.labels, torch.from_numpy(labels[-20:]).long())
    assert torch.equal(ds.val.images, torch.from_numpy(images[:60])[ds.val_indices])
    assert torch.equal(ds.val.labels, torch.from_numpy(labels[:60]).long()[ds.val_indices])


@pytest.mark.usefixtures("no_md5")
def test_cifar100_on_disk_format(tmp_path: Path, real_rgb: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = real_rgb
    fine = (np.arange(80) * 37) % 100  # labels up to 99
    write_cifar100(tmp_path, images, fine, n_test=16)
    ds = load_dataset("cifar100", tmp_path, val_size=4)
    assert ds.num_classes == 100
    assert (len(ds.train) + len(ds.val), len(ds.test)) == (64, 16)
    assert torch.equal(ds.test.labels, torch.from_numpy(fine[-16:]).long())
    assert torch.equal(ds.test.images, torch.from_numpy(images[-16:]))


@pytest.mark.usefixtures("no_md5")
def test_svhn_on_disk_format(tmp_path: Path, real_rgb: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = real_rgb
    write_svhn(tmp_path, "train", images[:60], labels[:60])
    write_svhn(tmp_path, "test", images[60:], labels[60:])
    ds = load_dataset("svhn", tmp_path, val_size=10)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (50, 10, 20)
    assert ds.num_classes == 10 and ds.test.images.shape == (20, 3, 32, 32)
    assert torch.equal(ds.test.labels, torch.from_numpy(labels[60:]).long())  # 10 -> 0
    assert 0 in ds.test.labels.tolist()
    assert torch.equal(ds.test.images, torch.from_numpy(images[60:]))
    assert not ds.info.flip


class _Payload:
    """Unpickling this runs ``command`` with the full unpickler (what a crafted file does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


@pytest.mark.usefixtures("no_md5")
@pytest.mark.parametrize("name", ["data_batch_3", "test_batch", "batches.meta"])
def test_crafted_cifar_pickle_is_refused_and_not_run(
    tmp_path: Path, real_rgb: tuple[np.ndarray, np.ndarray], name: str
) -> None:
    images, labels = real_rgb
    write_cifar10(tmp_path, images, labels, n_test=20)
    marker = tmp_path / "ran"
    crafted = {"data": _Payload(f"touch {marker}"), "labels": [0]}
    _pickle(tmp_path / "cifar-10-batches-py" / name, crafted)
    with pytest.raises(UserError, match="not a plain dataset pickle") as err:
        load_dataset("cifar10", tmp_path, val_size=6)
    assert "posix.system" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


@pytest.mark.usefixtures("no_md5")
def test_cifar_batch_of_wrong_shape_is_one_line(
    tmp_path: Path, real_rgb: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = real_rgb
    write_cifar100(tmp_path, images, labels, n_test=16)
    _pickle(tmp_path / "cifar-100-python" / "test", {"data": images[:4], "fine_labels": [0] * 4})
    with pytest.raises(UserError, match=r"not an \(N, 3072\) uint8 array"):
        load_dataset("cifar100", tmp_path, val_size=4)


def test_restricted_unpickler_admits_only_array_globals(tmp_path: Path) -> None:
    from aebnas.data.pickles import load_restricted

    path = tmp_path / "batch"
    array = np.arange(12, dtype=np.uint8).reshape(2, 6)
    for protocol in (2, 4):
        _pickle_with(path, {"data": array, "labels": [1, 2], "name": b"x"}, protocol)
        loaded = load_restricted(path)
        assert np.array_equal(loaded["data"], array) and loaded["labels"] == [1, 2]
    _pickle_with(path, {"f": eval}, 4)
    with pytest.raises(UserError, match=r"builtins\.eval is not allowed"):
        load_restricted(path)


def _pickle_with(path: Path, obj: object, protocol: int) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def test_missing_cifar_names_expected_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cifar-10-batches-py") as err:
        load_dataset("cifar10", tmp_path)
    message = str(err.value)
    assert "data_batch_1" in message and "batches.meta" in message
    assert "cifar-10-python.tar.gz" in message and "\n" not in message
    with pytest.raises(UserError, match=r"train_32x32\.mat"):
        load_dataset("svhn", tmp_path)


def test_cifar_md5_check_is_live(tmp_path: Path, real_rgb: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = real_rgb
    write_cifar10(tmp_path, images, labels, n_test=20)
    with pytest.raises(UserError, match="corrupted"):
        load_dataset("cifar10", tmp_path, val_size=6)


# --------------------------------------------------------------------------- digits, folder


def test_digits() -> None:
    ds = load_dataset("digits", val_size=None)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 1_797
    assert (len(ds.val), len(ds.test)) == (300, 360)
    assert (ds.num_classes, ds.channels) == (10, 1)
    assert ds.train.images.shape[1:] == (1, 8, 8) and int(ds.train.images.max()) == 255
    full_train = torch.cat([ds.train.images, ds.val.images])
    assert channel_stats(full_train) == (ds.mean, ds.std)  # the table's constants are exact
    assert torch.equal(load_dataset("digits", seed=9).test.images, ds.test.images)


def test_folder_dataset(tmp_path: Path) -> None:
    write_folder(tmp_path, {"cat": (5, 2), "dog": (5, 2), "owl": (10, 3)})
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.num_classes == 3 and ds.channels == 3
    assert (len(ds.train), len(ds.val), len(ds.test)) == (18, 2, 7)  # val: 10 % of 20
    assert ds.train.images.shape[1:] == (3, 32, 32)
    assert ds.test.labels.tolist() == [0, 0, 1, 1, 2, 2, 2]
    assert ds.name == f"folder:{tmp_path}" and len(ds.mean) == 3
    x, y = next(iter(ds.batches("train", 32, 4)))
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64


@pytest.mark.parametrize(
    ("layout", "pattern"),
    [
        ("missing", "does not exist"),
        ("no_test", "no test/ subfolder"),
        ("mismatch", "class folders differ"),
        ("empty_class", "at least one image"),
    ],
)
def test_folder_errors(tmp_path: Path, layout: str, pattern: str) -> None:
    if layout != "missing":
        write_folder(tmp_path, {"a": (2, 1), "b": (2, 1)})
    if layout == "no_test":
        for path in sorted((tmp_path / "test").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (tmp_path / "test").rmdir()
    elif layout == "mismatch":
        (tmp_path / "test" / "b").rename(tmp_path / "test" / "c")
    elif layout == "empty_class":
        (tmp_path / "train" / "z").mkdir()
        (tmp_path / "test" / "z").mkdir()
    root = tmp_path / "nope" if layout == "missing" else tmp_path
    with pytest.raises(UserError, match=pattern) as err:
        load_dataset(f"folder:{root}")
    assert "\n" not in str(err.value)


def test_names_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="choose one of: cifar10, cifar100, digits"):
        load_dataset("imagenet")
    with pytest.raises(UserError, match="folder:PATH"):
        load_dataset("folder")
    with pytest.raises(UserError, match="val_size"):
        load_dataset("digits", val_size=5_000)
    assert dataset_info("cifar10").resolutions == tuple(range(32, 73, 4))
    assert dataset_info("fashion-mnist").resolutions == (28, 32, 36, 40)
    assert dataset_info("folder:/x").name == "folder"
    assert (dataset_info("svhn").val_size, dataset_info("svhn").flip) == (7325, False)
    assert dataset_info("cifar100").default_target_macs == 17.0
    assert dataset_info("digits").lr == 0.05 and dataset_info("cifar10").lr == 0.01
    monkeypatch.setenv("AEBNAS_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("AEBNAS_DATA")
    assert default_data_root().name == "datasets"


# --------------------------------------------------------------------------- BatchLoader


def test_batches_shapes_and_normalisation(fmnist: Dataset) -> None:
    loader = fmnist.batches("val", 28, 512)
    assert isinstance(loader, BatchLoader) and len(loader) == 10  # ceil(5000 / 512)
    xs, ys = zip(*loader, strict=True)
    assert xs[0].shape == (512, 1, 28, 28) and xs[-1].shape == (392, 1, 28, 28)
    assert xs[0].dtype == torch.float32 and ys[0].dtype == torch.int64
    x = torch.cat(xs)
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05
    expected = (fmnist.val.images.float() / 255 - 0.2860) / 0.3530
    torch.testing.assert_close(x, expected)
    assert torch.equal(torch.cat(ys), fmnist.val.labels)  # no shuffle: original order


def test_batches_resize_and_cache() -> None:
    ds = synthetic()
    x, _ = next(iter(ds.batches("train", 40, 8)))
    assert x.shape == (8, 3, 40, 40)
    assert ds.resized("train", 40) is ds.resized("train", 40)  # resized once
    assert ds.resized("train", 32).images is ds.train.images  # native size: no copy
    reference = F.interpolate(ds.train.images[:8].float(), size=(40, 40), mode="bilinear",
                              antialias=True, align_corners=False).round()
    got = ds.resized("train", 40).images[:8].float()
    assert float((got - reference).abs().max()) <= 1.0


def test_shuffle_is_reproducible_and_changes_per_epoch() -> None:
    ds = synthetic()

    def labels(loader: BatchLoader) -> list[int]:
        return torch.cat([y for _, y in loader]).tolist()

    a, b = ds.batches("train", 32, 16, shuffle=True, seed=4), ds.batches("train", 32, 16,
                                                                          shuffle=True, seed=4)
    epoch0 = labels(a)
    assert epoch0 == labels(b)
    assert sorted(epoch0) == sorted(ds.train.labels.tolist()) and epoch0 != ds.train.labels.tolist()
    assert labels(a) != epoch0  # next epoch, new order
    a.set_epoch(0)
    assert labels(a) == epoch0
    assert labels(ds.batches("train", 32, 16, shuffle=True, seed=5)) != epoch0


def test_augment_keeps_shapes_and_is_reproducible() -> None:
    ds = synthetic()
    kwargs = {"shuffle": True, "seed": 2, "augment": True}
    x1 = torch.cat([x for x, _ in ds.batches("train", 36, 16, **kwargs)])
    x2 = torch.cat([x for x, _ in ds.batches("train", 36, 16, **kwargs)])
    plain = torch.cat([x for x, _ in ds.batches("train", 36, 16, shuffle=True, seed=2)])
    assert x1.shape == plain.shape == (50, 3, 36, 36)
    assert torch.equal(x1, x2) and not torch.equal(x1, plain)


def test_shift_and_flip_is_a_padded_crop_with_optional_flip() -> None:
    images = torch.randint(1, 256, (12, 2, 8, 8), dtype=torch.uint8)
    out = shift_and_flip(images, torch.Generator().manual_seed(0), flip=True, max_shift=2)
    padded = F.pad(images, (2, 2, 2, 2))
    flips = 0
    for i in range(len(images)):
        candidates = {(f, dy, dx): padded[i, :, dy:dy + 8, dx:dx + 8]
                      for dy in range(5) for dx in range(5) for f in (False, True)}
        matches = [k for k, c in candidates.items()
                   if torch.equal(out[i], c.flip(-1) if k[0] else c)]
        assert matches, f"image {i} is not a shifted/flipped crop"
        flips += any(k[0] for k in matches)
    assert 0 < flips < len(images)
    unflipped = shift_and_flip(images, torch.Generator(), flip=False, max_shift=0)
    assert torch.equal(unflipped, images)


def test_channels_last_subset_and_drop_last() -> None:
    ds = synthetic()
    x, _ = next(iter(ds.batches("train", 32, 8, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    x, _ = next(iter(ds.batches("train", 32, 8)))
    assert x.is_contiguous()
    sub = ds.batches("train", 32, 8, subset=20, seed=3)
    assert len(sub) == 3 and sum(len(y) for _, y in sub) == 20
    same = ds.batches("train", 32, 8, subset=20, seed=3)
    assert torch.equal(torch.cat([y for _, y in sub]), torch.cat([y for _, y in same]))
    assert len(ds.batches("train", 32, 8, subset=20, drop_last=True)) == 2
    assert len(ds.batches("test", 32, 64)) == 1


def test_batch_preparation_restores_thread_count() -> None:
    ds = synthetic()
    before = torch.get_num_threads()
    loader = iter(ds.batches("train", 36, 8, shuffle=True, augment=True))
    next(loader)
    assert torch.get_num_threads() == before  # also while the epoch is suspended
    for _ in loader:
        pass
    assert torch.get_num_threads() == before


def test_class_count_without_loading_the_images(tmp_path: Path) -> None:
    from aebnas.data import dataset_classes
    from aebnas.errors import UserError

    for split in ("train", "test"):
        for name in ("cat", "dog", "eel"):
            (tmp_path / split / name).mkdir(parents=True)  # no image: nothing is read
    assert dataset_classes(f"folder:{tmp_path}") == 3
    assert dataset_classes("digits") == 10 and dataset_classes("cifar100") == 100
    (tmp_path / "test" / "eel").rmdir()
    with pytest.raises(UserError, match="class folders differ"):
        dataset_classes(f"folder:{tmp_path}")


def test_every_registered_dataset_is_one_complete_entry() -> None:
    for name in DATASETS:
        info = DATASETS.get(name)
        assert info.name == name and callable(info.loader) and info.help
        if info.class_names is not None:
            assert len(info.class_names) == info.num_classes
        assert info.val_size is None or info.split_sizes is None or (
            info.val_size < info.split_sizes[0]
        )
    assert DATASETS.get("digits").split_sizes == (1437, 360)


def test_an_unregistered_name_is_a_one_line_error_everywhere() -> None:
    for call in (dataset_info, dataset_classes, load_dataset):
        with pytest.raises(UserError, match="unknown dataset 'mnist'; choose one of") as err:
            call("mnist")
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("module", ["aebnas.evaluate", "aebnas.bo_search"])
def test_an_unregistered_name_exits_2_from_the_command_lines(module: str) -> None:
    args = ["--arch", "x"] if module == "aebnas.evaluate" else []
    result = subprocess.run(
        [sys.executable, "-m", module, *args, "--dataset", "mnist"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown dataset 'mnist'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_help_lists_every_dataset() -> None:
    text = dataset_help()
    assert all(name in text for name in DATASETS if name != "folder") and "folder:PATH" in text
