"""Raw per-dataset loaders: files on disk -> official train/test splits as uint8 tensors.

Each loader has the signature ``load(root: Path) -> RawData`` and is named by its dataset's
registered entry (:data:`aebnas.data.datasets.DATASETS`). For ``folder:PATH`` the root *is*
``PATH``. Nothing here downloads: missing or corrupted files raise one
:class:`~aebnas.errors.UserError` that names the expected files and how to get them.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import datasets as tvd
from torchvision.datasets.utils import check_integrity, extract_archive
from torchvision.transforms import v2

from aebnas.data.images import ImageSplit, seeded_permutation, to_labels, to_nchw_uint8
from aebnas.data.pickles import load_restricted
from aebnas.errors import UserError

#: Where the Debian package ``dataset-fashion-mnist`` installs the gzipped idx files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
#: Size of scikit-learn's digits test split and the fixed seed that draws it.
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0
#: Side length ``folder:`` images are resized to on load.
FOLDER_BASE_SIZE = 32
#: Values per CIFAR image in a batch file's ``data`` rows (3 planes of 32 x 32).
CIFAR_PIXELS = 3 * 32 * 32
#: Class names of the datasets whose labels are the digits 0-9.
DIGIT_NAMES = tuple(str(d) for d in range(10))
#: Fashion-MNIST's class names in label order.
FASHION_MNIST_NAMES = tuple(tvd.FashionMNIST.classes)
#: Errors torchvision raises for missing, truncated or corrupted files.
_FILE_ERRORS = (RuntimeError, OSError, EOFError, ValueError, KeyError)


@dataclass(eq=False)
class RawData:
    """The official splits of a dataset as found on disk.

    Args:
        train: Full official training set (validation not yet carved out).
        test: Official test set.
        num_classes: Number of classes.
        class_names: Name of each class, in label order (``num_classes`` entries).
    """

    train: ImageSplit
    test: ImageSplit
    num_classes: int
    class_names: tuple[str, ...]


SourceLoader = Callable[[Path], RawData]


# --------------------------------------------------------------------------- Fashion-MNIST


def load_fashion_mnist(root: Path) -> RawData:
    """Fashion-MNIST from ``<root>/FashionMNIST/raw/`` (filled from the Debian files if needed).

    Args:
        root: Data root.

    Returns:
        60,000 train and 10,000 test images, ``(N, 1, 28, 28)``.
    """
    raw_dir = root / "FashionMNIST" / "raw"
    _ensure_fashion_mnist_raw(raw_dir)
    splits = [tvd.FashionMNIST(root, train=train, download=False) for train in (True, False)]
    train, test = (ImageSplit(to_nchw_uint8(s.data, "NHW"), to_labels(s.targets)) for s in splits)
    return RawData(train, test, num_classes=10, class_names=FASHION_MNIST_NAMES)


def _ensure_fashion_mnist_raw(raw_dir: Path) -> None:
    """Gunzip the Debian package's idx files into ``raw_dir`` unless all four are already there."""
    missing = [name for name in FASHION_MNIST_FILES if not (raw_dir / name).is_file()]
    if not missing:
        return
    sources = [FASHION_MNIST_SYSTEM_DIR / f"{name}.gz" for name in missing]
    if not all(src.is_file() for src in sources):
        raise UserError(
            f"Fashion-MNIST not found: {', '.join(missing)} missing in {raw_dir} and no "
            f"{FASHION_MNIST_SYSTEM_DIR}; install it: apt-get install dataset-fashion-mnist, "
            f"or place the four idx files in {raw_dir}/"
        )
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, src in zip(missing, sources, strict=True):
        _gunzip_atomic(src, raw_dir / name)


def _gunzip_atomic(src: Path, dest: Path) -> None:
    """Decompress ``src`` to ``dest`` via a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, length=1 << 20)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- CIFAR / SVHN


def _missing_files_error(title: str, root: Path, expected: str, fix: str) -> UserError:
    return UserError(f"{title} not found or corrupted in {root}: expected {expected} "
                     f"(md5-checked); {fix}")


def _cifar_fix(cls: type[tvd.CIFAR10], root: Path) -> str:
    return (f"get them by running torchvision.datasets.{cls.__name__}({str(root)!r}, "
            f"download=True) once on a machine with internet and copying {cls.base_folder}/ "
            f"here, or copy the archive {cls.filename} (md5 {cls.tgz_md5}) into {root}")


def _load_cifar(cls: type[tvd.CIFAR10], root: Path, expected: str) -> RawData:
    """Shared CIFAR-10/100 loader: md5-checked files, read with a restricted unpickler
    (:mod:`aebnas.data.pickles`: nothing in a file is executed).

    Args:
        cls: ``torchvision.datasets.CIFAR10`` or ``CIFAR100`` (file names, md5s, label key).
        root: Data root holding ``cls.base_folder`` (or the genuine archive ``cls.filename``).
        expected: Human-readable list of the expected files, for the error message.

    Returns:
        The splits as ``(N, 3, 32, 32)`` uint8 images.
    """
    _extract_cifar_archive(cls, root)
    folder = root / cls.base_folder
    title = cls.__name__.replace("CIFAR", "CIFAR-")
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    for name, md5 in files:
        if not check_integrity(str(folder / name), md5):
            raise _missing_files_error(title, root, expected, _cifar_fix(cls, root))
    classes = _cifar_entry(folder / cls.meta["filename"], (cls.meta["key"],))[cls.meta["key"]]
    if not isinstance(classes, list) or not classes:
        raise UserError(f"{folder / cls.meta['filename']} lists no class names; replace it with "
                        "the original file")
    train, test = (_cifar_split(folder, [n for n, _ in names], len(classes))
                   for names in (cls.train_list, cls.test_list))
    return RawData(train, test, num_classes=len(classes),
                   class_names=tuple(str(c) for c in classes))


def _cifar_entry(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """One batch file as a dict holding (at least one of) ``keys``."""
    entry = load_restricted(path)
    if not isinstance(entry, dict) or not any(k in entry for k in keys):
        raise UserError(f"{path} is not a CIFAR batch (a dict with {' or '.join(keys)}); "
                        "replace it with the original file")
    return entry


def _check_cifar_batch(path: Path, data: Any, labels: np.ndarray, num_classes: int) -> None:
    """``data`` is an ``(N, 3072)`` uint8 array and ``labels`` N integers below ``num_classes``."""
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == CIFAR_PIXELS):
        raise UserError(f"{path}: 'data' is not an (N, {CIFAR_PIXELS}) uint8 array; replace it "
                        "with the original file")
    integers = labels.shape == (len(data),) and labels.dtype.kind in "iu"
    if not integers or (labels.size and not (labels.min() >= 0 and labels.max() < num_classes)):
        raise UserError(f"{path}: labels are not {len(data)} integers in 0..{num_classes - 1}; "
                        "replace it with the original file")


def _cifar_split(folder: Path, names: list[str], num_classes: int) -> ImageSplit:
    """Concatenate batch files: ``data`` (N, 3072) uint8 planes R, G, B and ``labels`` (CIFAR-10)
    or ``fine_labels`` (CIFAR-100) into ``(N, 3, 32, 32)`` images and ``(N,)`` labels."""
    images, labels = [], []
    for name in names:
        path = folder / name
        entry = _cifar_entry(path, ("labels", "fine_labels"))
        data = entry.get("data")
        label_array = np.asarray(entry.get("labels", entry.get("fine_labels")))
        _check_cifar_batch(path, data, label_array, num_classes)
        images.append(np.asarray(data).reshape(-1, 3, 32, 32))
        labels.append(label_array.astype(np.int64))
    return ImageSplit(to_nchw_uint8(np.concatenate(images), "NCHW"),
                      to_labels(np.concatenate(labels)))


def _extract_cifar_archive(cls: type[tvd.CIFAR10], root: Path) -> None:
    """Unpack the genuine archive if it is in ``root`` and the folder is not (never downloads)."""
    archive = root / cls.filename
    if (root / cls.base_folder).is_dir() or not archive.is_file():
        return
    if check_integrity(str(archive), cls.tgz_md5):
        extract_archive(str(archive), str(root))


def load_cifar10(root: Path) -> RawData:
    """CIFAR-10 from ``<root>/cifar-10-batches-py/``: 50,000 train, 10,000 test, 10 classes."""
    expected = (f"{root}/cifar-10-batches-py/{{data_batch_1..data_batch_5, test_batch, "
                f"batches.meta}}")
    return _load_cifar(tvd.CIFAR10, root, expected)


def load_cifar100(root: Path) -> RawData:
    """CIFAR-100 from ``<root>/cifar-100-python/``: 50,000 train, 10,000 test, 100 classes."""
    expected = f"{root}/cifar-100-python/{{train, test, meta}}"
    return _load_cifar(tvd.CIFAR100, root, expected)


def load_svhn(root: Path) -> RawData:
    """SVHN from ``<root>/{train,test}_32x32.mat`` (label 10 means digit 0; ``extra`` unused).

    Args:
        root: Data root holding the ``.mat`` files directly.

    Returns:
        73,257 train and 26,032 test images, ``(N, 3, 32, 32)``, 10 classes.
    """
    try:
        splits = [tvd.SVHN(root, split=split, download=False) for split in ("train", "test")]
    except _FILE_ERRORS as err:
        fix = (f"get them by running torchvision.datasets.SVHN({str(root)!r}, split=..., "
               "download=True) once on a machine with internet, or download them from "
               "http://ufldl.stanford.edu/housenumbers/ and copy them there")
        raise _missing_files_error("SVHN", root, f"{root}/{{train_32x32.mat, test_32x32.mat}}",
                                   fix) from err
    train, test = (ImageSplit(to_nchw_uint8(s.data, "NCHW"), to_labels(s.labels)) for s in splits)
    return RawData(train, test, num_classes=10, class_names=DIGIT_NAMES)


# --------------------------------------------------------------------------- digits


def load_digits(root: Path) -> RawData:
    """scikit-learn's 1,797 real 8x8 digits (no files needed), split 1,437 train / 360 test.

    Pixel values 0..16 are scaled to 0..255; the test split is drawn with a fixed seed so it never
    depends on the run's seed.

    Args:
        root: Unused (the data ships with scikit-learn).

    Returns:
        Images ``(N, 1, 8, 8)``, 10 classes.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    full = ImageSplit(to_nchw_uint8(pixels, "NHW"), to_labels(bunch.target))
    order = seeded_permutation(len(full), DIGITS_SPLIT_SEED)
    test_idx = order[:DIGITS_TEST_SIZE].sort().values
    train_idx = order[DIGITS_TEST_SIZE:].sort().values
    return RawData(
        full.take(train_idx), full.take(test_idx), num_classes=10, class_names=DIGIT_NAMES
    )


# --------------------------------------------------------------------------- folder:PATH


def load_folder(root: Path, size: int = FOLDER_BASE_SIZE) -> RawData:
    """An ImageFolder tree ``root/{train,test}/<class>/*.png``, resized to ``size x size`` RGB.

    Args:
        root: The tree's top folder (the ``PATH`` of ``folder:PATH``).
        size: Side length images are resized to on load.

    Returns:
        The splits as ``(N, 3, size, size)`` uint8 images; classes are the sorted folder names.
    """
    classes = folder_classes(root)
    train, test = (_read_image_folder(root / split, size) for split in ("train", "test"))
    return RawData(train, test, num_classes=len(classes), class_names=tuple(classes))


def folder_classes(root: Path) -> list[str]:
    """The class names of an ImageFolder tree ``root/{train,test}/<class>/``, without reading
    any image (the layout is checked: one-line :class:`UserError` naming the fix)."""
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist; pass folder:PATH with PATH holding "
                        "train/<class>/*.png and test/<class>/*.png")
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise UserError(f"image folder {root} has no {split}/ subfolder; lay it out as "
                            f"{root}/train/<class>/*.png and {root}/test/<class>/*.png")
    return _matching_classes(root)


def _matching_classes(root: Path) -> list[str]:
    """Class folder names, checked to be the same (and non-empty) in ``train/`` and ``test/``."""
    found = {split: sorted(p.name for p in (root / split).iterdir() if p.is_dir())
             for split in ("train", "test")}
    if not found["train"]:
        raise UserError(f"{root}/train has no class folders; put images in "
                        f"{root}/train/<class>/ and {root}/test/<class>/")
    if found["train"] != found["test"]:
        only_train = sorted(set(found["train"]) - set(found["test"]))
        only_test = sorted(set(found["test"]) - set(found["train"]))
        raise UserError(f"class folders differ between {root}/train and {root}/test "
                        f"(only in train: {only_train or 'none'}, only in test: "
                        f"{only_test or 'none'}); make both hold the same class folders")
    return found["train"]


def _read_image_folder(split_dir: Path, size: int) -> ImageSplit:
    """Read every image of an ImageFolder split into one uint8 ``(N, 3, size, size)`` tensor."""
    transform = v2.Compose([v2.PILToTensor(), v2.Resize((size, size), antialias=True)])
    try:
        folder = tvd.ImageFolder(str(split_dir), transform=transform)
    except FileNotFoundError as err:
        raise UserError(f"{split_dir}: {err}; every class folder needs at least one image") from err
    try:
        images = torch.stack([image for image, _ in folder])
    except OSError as err:
        raise UserError(f"cannot read an image under {split_dir} ({err}); "
                        "remove or fix it") from err
    return ImageSplit(images, to_labels(folder.targets))
