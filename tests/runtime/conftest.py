"""A deployed (exported and checkpointed) 4-exit network whose exits are all taken."""

from __future__ import annotations

import pytest
import torch

from aebnas.confidence import score_margin
from aebnas.data import load_dataset
from aebnas.export import export_network
from aebnas.models import checkpoint_metadata, save_checkpoint
from tests.export.export_fixtures import ARCHS, SPACE, calibrate, real_images, untrained


@pytest.fixture(scope="package")
def digits():
    return load_dataset("digits")


GAP = 1e-6  # no confidence this close to a threshold (ONNX logits differ from torch by ~1e-8)


def _thresholds_with_gaps(confidences: torch.Tensor, quantile: float) -> float:
    """A threshold near ``quantile`` of ``confidences`` with no value within GAP of it."""
    values = confidences.sort().values
    start = int(quantile * (len(values) - 1))
    for i in range(start, len(values) - 1):
        if values[i + 1] - values[i] > 2 * GAP:
            return float((values[i] + values[i + 1]) / 2)
    raise AssertionError("no gap in the confidences")


@pytest.fixture(scope="package")
def deployed(digits, tmp_path_factory):
    """A 4-exit network (one exit off) whose thresholds send images out at every active exit,
    exported to ONNX and saved as a checkpoint; plus real test images."""
    net, _ = untrained(ARCHS[2], digits)
    calibrate(net, real_images(digits, 36, 256))
    x = real_images(digits, 36, 360, split="test")
    with torch.no_grad():
        margins = [score_margin(lg) for lg in net(x)[:-1]]
    thresholds = [
        _thresholds_with_gaps(margins[0], 0.8),
        None,
        _thresholds_with_gaps(margins[2], 0.6),
        _thresholds_with_gaps(margins[3], 0.5),
    ]
    metadata = checkpoint_metadata(net.arch, SPACE, digits, "margin", thresholds)
    folder = tmp_path_factory.mktemp("deploy")
    export_network(net, metadata, real_images(digits, 36, 32), folder / "onnx")
    checkpoint = save_checkpoint(net, folder / "net.safetensors", metadata)
    return net, metadata, x, folder / "onnx", checkpoint


