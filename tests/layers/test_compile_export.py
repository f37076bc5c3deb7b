"""torch.compile and torch.export of FDConv, a small FDConv ResNet stage and an FDAM block: two
spatial sizes and two batch sizes, forward and backward, outputs as in eager mode."""
import pytest
import torch
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend

from mmfreq.layers import FDAMBlock, FDConv
from mmfreq.layers.torch_support import EXPORT_TORCH, TORCH_VERSION

needs_export = pytest.mark.skipif(
    TORCH_VERSION < EXPORT_TORCH, reason=f'torch.export with Dim dynamic shapes needs torch >= '
    f'{EXPORT_TORCH[0]}.{EXPORT_TORCH[1]}; this is torch {torch.__version__}')

SHAPES = [(2, 12, 12), (2, 15, 10), (3, 12, 12), (3, 9, 13), (4, 11, 14)]  # (batch, H, W)


class Bottleneck(nn.Module):
    """A ResNet bottleneck with FDConv in its three convs (as ResNet-FDConv builds it)."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.conv1 = FDConv(channels, width, 1, bias=False, kernel_num=4)
        self.conv2 = FDConv(width, width, 3, padding=1, bias=False, kernel_num=8)
        self.conv3 = FDConv(width, channels, 1, bias=False, kernel_num=4)
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in (width, width, channels))

    def forward(self, x):
        out = torch.relu(self.norms[0](self.conv1(x)))
        out = torch.relu(self.norms[1](self.conv2(out)))
        return torch.relu(self.norms[2](self.conv3(out)) + x)


def _relative_error(got, expected) -> float:
    return ((got - expected).abs().max() / expected.abs().max()).item()


def _compare_compiled(module, channels, report, grad_tolerance=1e-4, tolerance=1e-5):
    torch.manual_seed(0)
    counter = CompileCounterWithBackend('inductor')
    compiled = torch.compile(module, backend=counter)
    counts = []
    for batch, height, width in SHAPES:
        x = torch.randn(batch, channels, height, width)
        inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
        outputs = [compiled(inputs[0]), module(inputs[1])]
        for out in outputs:
            out.square().mean().backward()
        assert _relative_error(*outputs) < tolerance
        assert _relative_error(inputs[0].grad, inputs[1].grad) < grad_tolerance
        counts.append(counter.frame_count)
    report(f'{type(module).__name__}: graphs compiled after each of the input shapes '
           f'{SHAPES}: {counts}')
    return counts


@pytest.fixture
def report(record_property, capsys):
    def write(line):
        record_property('compile', line)
        with capsys.disabled():
            print(f'\n{line}')
    return write


def test_compile_fdconv(report):
    torch.manual_seed(0)
    layer = FDConv(24, 24, 3, padding=1, kernel_num=8).train()
    counts = _compare_compiled(layer, 24, report)
    # once dynamic shapes are on, a new batch and size reuses the graphs: no recompile (before
    # torch 2.6 the layer runs eagerly inside the compiled model, whose graphs recompile)
    assert counts[-1] == counts[-2] or TORCH_VERSION < EXPORT_TORCH


def test_compile_fdconv_resnet_stage(report):
    torch.manual_seed(0)
    stage = nn.Sequential(Bottleneck(32, 20), Bottleneck(32, 20)).train()
    counts = _compare_compiled(stage, 32, report, grad_tolerance=1e-3,
                               tolerance=5e-5)  # two blocks deep
    assert counts[-1] == counts[-2] or TORCH_VERSION < EXPORT_TORCH


def _export_and_run(module, example, dims, inputs):
    from torch.export import export
    program = export(module, (example,), dynamic_shapes={'x': dims})
    for x in inputs:
        x = x.requires_grad_()
        out = program.module()(x)
        out.square().mean().backward()  # outside no_grad
        torch.testing.assert_close(out, module(x), rtol=1e-5, atol=1e-5)
        assert torch.isfinite(x.grad).all()


@needs_export
def test_export_fdconv_dynamic_batch_and_size():
    from torch.export import Dim
    torch.manual_seed(0)
    layer = FDConv(24, 24, 3, padding=1, kernel_num=8).eval()
    dims = {0: Dim('batch', min=1, max=64), 2: Dim('height', min=4, max=512),
            3: Dim('width', min=4, max=512)}
    inputs = [torch.randn(b, 24, h, w) for b, h, w in SHAPES]
    _export_and_run(layer, torch.randn(2, 24, 12, 12), dims, inputs)


class TokenMapBlock(nn.Module):
    """An FDAM block on the tokens of a ``(B, C, H, W)`` map: the map's size is the block's
    ``hw_shape``, so it stays symbolic in an exported program."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x):
        height, width = x.shape[-2:]
        return self.block(x.flatten(2).transpose(1, 2), (height, width))


@needs_export
def test_export_fdam_block_dynamic_batch_and_size():
    from torch.export import Dim
    torch.manual_seed(0)
    block = FDAMBlock(32, num_heads=4, freq_scale=dict(mode='group', num_filters=4, groups=4,
                                                       init_scale=0.1)).eval()
    dims = {0: Dim('batch', min=1, max=64), 2: Dim('height', min=4, max=512),
            3: Dim('width', min=4, max=512)}
    inputs = [torch.randn(b, 32, h, w) for b, h, w in SHAPES]
    _export_and_run(TokenMapBlock(block), torch.randn(2, 32, 12, 12), dims, inputs)
