import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aebnas.models import build_network
from aebnas.models.branches import BicubicResize
from aebnas.models.trimmed import trim_convolutions
from aebnas.space import get_space, parse_architecture, sample_architectures

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))


def test_training_forward_returns_every_exit():
    for arch in sample_architectures(SPACE, 4, seed=0):
        net = build_network(arch, SPACE, in_channels=1, num_classes=7).eval()
        logits = net(torch.randn(3, 1, arch.resolution, arch.resolution))
        assert len(logits) == len(arch.exits) + 1 == net.num_exits
        assert all(lg.shape == (3, 7) for lg in logits)


def test_inference_matches_training_forward_and_skips_work():
    torch.manual_seed(0)
    arch = sample_architectures(SPACE, 1, seed=3)[0]
    net = build_network(arch, SPACE, 1, 10).eval()
    x = torch.randn(64, 1, arch.resolution, arch.resolution)
    with torch.no_grad():
        logits = net(x)
    margins = []
    for lg in logits[:-1]:
        top2 = lg.softmax(-1).topk(2).values
        margins.append(top2[:, 0] - top2[:, 1])
    thresholds = [float(m.median()) for m in margins]
    predictions, exit_index = net.infer(x, thresholds)
    expected_exit = torch.full((64,), len(thresholds))
    for k in reversed(range(len(thresholds))):
        expected_exit[margins[k] >= thresholds[k]] = k
    assert torch.equal(exit_index, expected_exit)
    for k, lg in enumerate(logits):
        taken = exit_index == k
        assert torch.equal(predictions[taken], lg[taken].argmax(-1))

    seen_batch = []
    net.head.register_forward_hook(lambda m, inp, out: seen_batch.append(inp[0].shape[0]))
    net.infer(x, thresholds)
    assert seen_batch == [int((expected_exit == len(thresholds)).sum())]


def test_switched_off_exit_is_not_computed():
    arch = parse_architecture(
        "r32|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|x1:r8_conv3_c1_pnone|x3:r8_dw3_c1_pmax",
        SPACE,
    )
    net = build_network(arch, SPACE, 1, 10).eval()
    called = []
    net.branches["1"].register_forward_hook(lambda *a: called.append(1))
    _, exit_index = net.infer(torch.randn(8, 1, 32, 32), [float("inf"), 0.0])
    assert not called
    assert set(exit_index.tolist()) == {1}


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 16])
def test_bicubic_resize_equals_torch_interpolate(size):
    x = torch.randn(2, 5, size, size, requires_grad=True)
    for out in (8, 10):
        expected = F.interpolate(x, size=(out, out), mode="bicubic", align_corners=False)
        assert torch.allclose(BicubicResize(out)(x), expected, atol=1e-5)


@pytest.mark.parametrize(
    "size, kernel, stride", [(1, 7, 1), (2, 7, 2), (2, 5, 1), (3, 7, 2), (8, 3, 1)]
)
def test_trimmed_convolution_is_exact(size, kernel, stride):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 6, kernel, stride, padding=kernel // 2, groups=6, bias=False)
    x = torch.randn(2, 6, size, size, requires_grad=True)
    reference = conv(x)
    grad = torch.randn_like(reference)
    (reference * grad).sum().backward()
    w_grad, x_grad = conv.weight.grad.clone(), x.grad.clone()
    conv.weight.grad, x.grad = None, None
    trim_convolutions(nn.Sequential(conv))
    trimmed = conv(x)
    (trimmed * grad).sum().backward()
    assert torch.allclose(trimmed, reference, atol=1e-5)
    assert torch.allclose(conv.weight.grad, w_grad, atol=1e-5)
    assert torch.allclose(x.grad, x_grad, atol=1e-5)
