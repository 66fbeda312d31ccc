"""Segments of an early-exit network: run in order they give exactly the training forward."""

import torch

from aebnas.confidence import score_margin
from aebnas.models import build_network
from aebnas.models.segments import (
    EXIT,
    FINAL,
    FUSED,
    NETWORK,
    TRUNK,
    fused_segments,
    network_segments,
    network_without_exits,
)
from aebnas.space import get_space, sample_architectures

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))


def test_segments_in_order_reproduce_every_exit_and_share_weights():
    for arch in sample_architectures(SPACE, 3, seed=5):
        net = build_network(arch, SPACE, in_channels=1, num_classes=10).eval()
        segments = network_segments(net)
        k = len(arch.exits)
        assert [s.role for s in segments] == [TRUNK, EXIT] * k + [FINAL]
        assert [s.exit_index for s in segments if s.role != TRUNK] == list(range(k + 1))
        x = torch.randn(3, 1, arch.resolution, arch.resolution)
        logits = []
        with torch.no_grad():
            features = x
            for segment in segments:
                out = segment.module(features)
                features = out if segment.role == TRUNK else features
                if segment.role != TRUNK:
                    logits.append(out)
            expected = net(x)
        assert all(torch.equal(a, b) for a, b in zip(logits, expected, strict=True))
        params = {id(p) for s in segments for p in s.module.parameters()}
        assert params == {id(p) for p in net.parameters()}


def test_fused_segments_and_the_whole_network_give_the_same_logits():
    for arch in sample_architectures(SPACE, 3, seed=6):
        net = build_network(arch, SPACE, in_channels=1, num_classes=10).eval()
        k = len(arch.exits)
        fused = fused_segments(net, "margin")
        assert [(s.role, s.exit_index) for s in fused] == [(FUSED, i) for i in range(k)]
        x = torch.randn(3, 1, arch.resolution, arch.resolution)
        with torch.no_grad():
            expected = net(x)
            features, logits = x, []
            for segment in fused:
                features, exit_logits, confidence = segment.module(features)
                assert torch.equal(confidence, score_margin(exit_logits))
                logits.append(exit_logits)
            logits.append(network_segments(net)[-1].module(features))
            whole = network_without_exits(net)
            assert (whole.role, whole.exit_index) == (NETWORK, k)
            assert torch.equal(whole.module(x), expected[-1])
        assert all(torch.equal(a, b) for a, b in zip(logits, expected, strict=True))
