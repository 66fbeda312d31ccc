import pytest
import torch
from torch import nn

from aebnas.errors import UserError
from aebnas.space import get_space, parse_architecture, sample_architectures
from aebnas.supernet import EarlyExitSupernet, slice_like

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))

#: Every branch op, depth and pooling, backbone depths 2-4, kernels 3/5/7, 1-4 exits.
ARCHS = [
    "r28|k3e3,k3e3|k5e4,k7e6|k3e3,k3e3|k7e6,k5e4|k3e3,k3e6|x1:r8_conv3_c1_pnone",
    "r40|k7e6,k7e6,k7e6,k7e6|k7e6,k7e6,k7e6,k7e6|k7e6,k7e6,k7e6,k7e6|k7e6,k7e6,k7e6,k7e6|"
    "k7e6,k7e6,k7e6,k7e6|x1:r10_conv5_c2_pmax+r10_conv5_c2_pmax+r10_conv5_c2_pmax|"
    "x2:r10_dw5_c2_pavg+r10_dw5_c2_pavg+r10_dw5_c2_pavg|x3:r8_dw3_c1_pmax+r8_conv3_c2_pnone|"
    "x4:r8_conv5_c2_pavg+r10_dw3_c1_pmax",
    "r32|k5e3,k3e4,k7e3|k5e6,k3e3,k3e4|k3e6,k5e6,k7e4,k3e3|k5e3,k5e3|k7e4,k3e3,k5e6|"
    "x2:r8_dw5_c2_pnone|x4:r10_conv3_c1_pavg+r8_dw5_c2_pnone+r10_conv5_c1_pmax",
    "r36|k3e6,k5e4|k7e3,k5e3,k3e6,k5e4|k3e3,k3e3,k3e3|k5e6,k7e6,k3e3,k5e4|k3e4,k3e4|"
    "x3:r10_dw3_c1_pavg+r8_dw3_c1_pnone",
]


@pytest.fixture(scope="module")
def supernet() -> EarlyExitSupernet:
    torch.manual_seed(0)
    net = EarlyExitSupernet(SPACE, in_channels=1, num_classes=10)
    for module in net.modules():  # non-trivial running statistics, so eval mode means something
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return net


def test_slice_like_takes_kernel_centres_and_leading_channels():
    weight = torch.arange(2 * 3 * 7 * 7, dtype=torch.float32).reshape(2, 3, 7, 7)
    part = slice_like(weight, torch.Size((1, 2, 3, 3)))
    assert torch.equal(part, weight[:1, :2, 2:5, 2:5])
    assert torch.equal(slice_like(weight[0, 0, 0], torch.Size((4,))), weight[0, 0, 0, :4])
    with pytest.raises(ValueError):
        slice_like(weight, torch.Size((3, 3, 7, 7)))


@pytest.mark.parametrize("text", ARCHS)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_extracted_network_equals_the_supernet_forward(supernet, text, mode):
    arch = parse_architecture(text, SPACE)
    supernet.train(mode == "train")
    extracted = supernet.extract(arch)
    assert extracted.training == (mode == "train")
    size = (6, 1, arch.resolution, arch.resolution)
    x = torch.randn(size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        state = {k: v.clone() for k, v in supernet.state_dict().items()}
        shared = supernet(arch, x)
        supernet.load_state_dict(state)  # train mode updated the running statistics
        alone = extracted(x)
    assert len(shared) == len(arch.exits) + 1
    for a, b in zip(shared, alone, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_extraction_copies_the_weights(supernet):
    arch = parse_architecture(ARCHS[0], SPACE)
    extracted = supernet.extract(arch)
    with torch.no_grad():
        next(extracted.parameters()).add_(1.0)
    assert not torch.equal(next(extracted.parameters()), next(supernet.parameters()))


def test_gradients_reach_only_the_slices_a_subnetwork_uses(supernet):
    arch = parse_architecture(ARCHS[3], SPACE)  # one exit at stage 3: dw, dw
    supernet.train().zero_grad(set_to_none=True)
    x = torch.randn(4, 1, 36, 36)
    sum(z.sum() for z in supernet(arch, x)).backward()
    branch = supernet.branches["3"]
    assert branch.slots[0]["dw"].layer[0].weight.grad.abs().sum() > 0
    assert branch.slots[0]["conv"].layer.weight.grad is None
    assert supernet.branches["1"].classifiers[0][2].weight.grad is None
    dw = supernet.stages[0][0].block[1][0].weight.grad  # stage 1 block 1: kernel 3 of 7
    assert dw[:, :, 2:5, 2:5].abs().sum() > 0 and dw[:, :, 0].abs().sum() == 0
    expand = supernet.stages[0][0].block[0][0].weight.grad  # expansion 6 of 6: 16 * 6 channels
    assert expand.abs().sum(dim=(1, 2, 3)).gt(0).sum() == 16 * 6
    supernet.zero_grad(set_to_none=True)


def test_architectures_outside_the_space_are_refused_by_gene():
    narrow = EarlyExitSupernet(get_space("aebnas", (32,)), in_channels=1, num_classes=10)
    arch = sample_architectures(get_space("aebnas-plus", (32,)), 40, seed=0)
    with_dw = next(a for a in arch if any(m.op == "dw" for e in a.exits for m in e.modules))
    with pytest.raises(UserError, match=r"\.op=dw"):
        narrow.extract(with_dw)
