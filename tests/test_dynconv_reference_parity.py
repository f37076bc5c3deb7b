"""Opt-in check of the comparison dynamic convs against their authors' PyTorch code
(docs/dynamic-convs.md#reference-parity).

Point ``MMFREQ_DYNCONV_REFERENCE_DIR`` at checkouts (separated by ``os.pathsep``) of
github.com/kaijieshi7/Dynamic-convolution-Pytorch (DY-Conv), github.com/liyunsheng13/dcd (DCD),
github.com/OSVAI/ODConv and github.com/OSVAI/KernelWarehouse; each method is skipped without its
checkout. CondConv's code is TensorFlow: it has property tests only (tests/layers).

Every case builds the reference layer, randomises its parameters and BatchNorm statistics,
loads its state dict strictly into mmfreq's layer and compares, in train and eval mode, the
outputs in float32 and the outputs, input gradients and parameter gradients in float64, within
1e-4. (Float32 gradients in train mode differ by up to ~1e-4 of their magnitude for
KernelWarehouse: a BatchNorm over a batch of two pooled vectors followed by the division by a
sum of absolute values amplifies rounding; in float64 they agree to ~3e-5 or better.)
"""
import pytest
import torch
from torch import nn

from mmfreq.layers import DCDConv2d, DynamicConv2d, KernelWarehouseManager, KWConv2d, ODConv2d
from mmfreq.release_modules import load_dynconv_reference

TOLERANCE = 1e-4


@pytest.fixture(autouse=True)
def seeded():
    """The same inputs whatever ran before: KW's float32 train-mode output, a BatchNorm over two
    pooled vectors divided by a sum of absolute values, is ill-conditioned for some inputs."""
    torch.manual_seed(0)


def reference(method: str):
    module = load_dynconv_reference(method)
    if module is None:
        pytest.skip(f'opt-in: set MMFREQ_DYNCONV_REFERENCE_DIR to a checkout with the '
                    f'reference of {method}')
    return module


def randomise_(module: nn.Module, seed: int = 0) -> None:
    """Random parameters and BatchNorm statistics (a trained layer's, not the initial ones)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in list(module.parameters()) + [
                b for n, b in module.named_buffers() if n.endswith(('running_mean',
                                                                     'running_var'))]:
            values = torch.rand(tensor.shape, generator=generator) * 0.5
            tensor.copy_(values + 0.5 if tensor.dim() <= 1 else values - 0.25)


def max_differences(ours: nn.Module, theirs: nn.Module, x: torch.Tensor,
                    gradients: bool) -> dict:
    """Largest absolute differences of the output (and of the input and parameter gradients)."""
    results = {}
    for mode in ('train', 'eval'):
        outputs, grads = [], []
        for module in (ours, theirs):
            module.train(mode == 'train')
            module.zero_grad()
            inp = x.clone().requires_grad_(gradients)
            out = module(inp)
            if gradients:
                out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out))
                grads.append({'input': inp.grad,
                              **{n: p.grad for n, p in module.named_parameters()}})
            outputs.append(out.detach())
        results[f'{mode} output'] = (outputs[0] - outputs[1]).abs().max().item()
        if gradients:
            results[f'{mode} gradients'] = max(
                (grads[0][n] - grads[1][n]).abs().max().item() for n in grads[1]
                if grads[1][n] is not None)
    return results


def assert_parity(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    randomise_(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    differences = {f'float32 {k}': v
                   for k, v in max_differences(ours, theirs, x, gradients=False).items()}
    ours.load_state_dict(theirs.state_dict())  # the same BatchNorm statistics again
    ours.double(), theirs.double()
    for module in theirs.modules():
        # KW's reference keeps temp_bias as a plain float32 attribute that .double() leaves
        # alone, so its temperature blend would round to float32 in the float64 comparison
        if isinstance(getattr(module, 'temp_bias', None), torch.Tensor):
            module.temp_bias = module.temp_bias.double()
    differences.update({f'float64 {k}': v for k, v in
                        max_differences(ours, theirs, x.double(), gradients=True).items()})
    print({k: f'{v:.1e}' for k, v in differences.items()})
    assert max(differences.values()) < TOLERANCE, differences


# (in, out, kernel, stride, padding, groups, input shape)
GEOMETRIES = {
    '3x3': (32, 48, 3, 1, 1, 1, (3, 32, 11, 9)),
    '3x3-stride2': (32, 32, 3, 2, 1, 1, (2, 32, 13, 12)),
    '1x1': (64, 32, 1, 1, 0, 1, (3, 64, 7, 8)),
    '3x3-groups2': (32, 32, 3, 1, 1, 2, (2, 32, 9, 9)),
}


@pytest.mark.parametrize('case', GEOMETRIES)
@pytest.mark.parametrize('temperature', [1.0, 7.0])
def test_dynamic_conv_matches_the_reference(case, temperature):
    ref = reference('DynamicConv2d')
    cin, cout, k, stride, padding, groups, shape = GEOMETRIES[case]
    theirs = ref.Dynamic_conv2d(cin, cout, k, ratio=0.25, stride=stride, padding=padding,
                                groups=groups, bias=True, K=4, temperature=4)
    theirs.attention.temperature = temperature
    ours = DynamicConv2d(cin, cout, k, stride=stride, padding=padding, groups=groups,
                         kernel_num=4, reduction=0.25, temperature=temperature)
    assert_parity(ours, theirs, torch.randn(shape))


@pytest.mark.parametrize('case', ['3x3', '3x3-stride2', '1x1'])
def test_dcd_matches_the_reference(case):
    ref = reference('DCDConv2d')
    cin, cout, k, stride, padding, _, shape = GEOMETRIES[case]
    theirs = ref.conv_dy(cin, cout, k, stride, padding)
    ours = DCDConv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
    assert_parity(ours, theirs, torch.randn(shape))


@pytest.mark.parametrize('case, kernel_num, temperature', [
    ('3x3', 4, 1.0), ('3x3-stride2', 4, 5.0), ('1x1', 4, 1.0), ('1x1', 1, 1.0),
    ('3x3', 1, 3.0), ('3x3-groups2', 4, 1.0), ('depthwise', 4, 1.0)])
def test_odconv_matches_the_reference(case, kernel_num, temperature):
    ref = reference('ODConv2d')
    if case == 'depthwise':
        cin, cout, k, stride, padding, groups, shape = 32, 32, 3, 1, 1, 32, (2, 32, 8, 8)
    else:
        cin, cout, k, stride, padding, groups, shape = GEOMETRIES[case]
    theirs = ref.ODConv2d(cin, cout, k, stride=stride, padding=padding, groups=groups,
                          reduction=0.0625, kernel_num=kernel_num)
    theirs.update_temperature(temperature)
    ours = ODConv2d(cin, cout, k, stride=stride, padding=padding, groups=groups, bias=False,
                    kernel_num=kernel_num, temperature=temperature)
    assert_parity(ours, theirs, torch.randn(shape))


class _SharedWarehouseNet(nn.Module):
    """Four convs in two shared warehouses, built with either implementation's manager and
    conv class (the layer names map to warehouses as in a KW ResNet stage)."""

    def __init__(self, manager, make_conv):
        super().__init__()
        self.warehouse_manager = manager
        self.convs = nn.ModuleList([
            make_conv(32, 32, 1, 1, 0, 'stage0_layer0_conv0'),
            make_conv(32, 64, 3, 2, 1, 'stage0_layer0_conv1'),
            make_conv(64, 32, 1, 1, 0, 'stage0_layer1_conv0'),
            make_conv(32, 64, 3, 1, 1, 'stage0_layer1_conv1')])

    def forward(self, x):
        x = self.convs[1](self.convs[0](x))
        return self.convs[3](self.convs[2](x))


@pytest.mark.parametrize('cell_num_ratio, nonlocal_basis_ratio', [(1, 1.0), (4, 1.0),
                                                                  (1, 0.0625), (4, 0.0625)])
@pytest.mark.parametrize('temperature', [0.0, 0.4, 1.0])
def test_kernel_warehouse_matches_the_reference(cell_num_ratio, nonlocal_basis_ratio,
                                                temperature):
    ref = reference('KWConv2d')

    def theirs_conv(cin, cout, k, stride, padding, name):
        return theirs_manager.reserve(cin, cout, k, stride=stride, padding=padding, bias=True,
                                      warehouse_name=name)

    def ours_conv(cin, cout, k, stride, padding, name):
        return KWConv2d(cin, cout, k, stride=stride, padding=padding, bias=True,
                        warehouse_manager=ours_manager, warehouse_name=name)

    theirs_manager = ref.Warehouse_Manager(cell_num_ratio=cell_num_ratio,
                                           nonlocal_basis_ratio=nonlocal_basis_ratio,
                                           sharing_range=('layer', 'conv'))
    theirs = _SharedWarehouseNet(theirs_manager, theirs_conv)
    theirs_manager.store()
    theirs_manager.allocate(theirs)
    ours_manager = KernelWarehouseManager(cell_num_ratio=cell_num_ratio,
                                          nonlocal_basis_ratio=nonlocal_basis_ratio,
                                          sharing_range=('layer', 'conv'))
    ours = _SharedWarehouseNet(ours_manager, ours_conv)
    ours_manager.store()
    ours_manager.allocate(ours)
    for layer in theirs.convs:
        layer.attention.update_temperature(temperature)
    for layer in ours.convs:
        layer.update_temperature(temperature)
        # the same fixed assignment of cells at temperature 1
    for mine, their in zip(ours.convs, theirs.convs):
        assert torch.equal(mine.attention.temp_bias, their.attention.temp_bias)
    assert_parity(ours, theirs, torch.randn(2, 32, 10, 9))
