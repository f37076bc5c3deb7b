"""The comparison dynamic convs (CondConv, DY-Conv, DCD, ODConv, KernelWarehouse) without their
authors' code: drop-in behaviour of nn.Conv2d, the batched per-sample conv against a loop over
samples, gradients by gradcheck, attention normalisation, temperatures, KernelWarehouse's
shared warehouses and its temperature-1 promise (a plain conv of its assigned cells), and clear
errors for bad options. Against the authors' code: tests/test_dynconv_reference_parity.py."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmfreq.layers import (CondConv2d, DCDConv2d, DynamicConv2d, KernelWarehouseManager,
                           KWConv2d, ODConv2d)
from mmfreq.layers.dynamic_conv_base import per_sample_conv
from torch_capabilities import skip_without_cpu_kernels

METHODS = {'CondConv2d': CondConv2d, 'DynamicConv2d': DynamicConv2d, 'DCDConv2d': DCDConv2d,
           'ODConv2d': ODConv2d, 'KWConv2d': KWConv2d}
# conv kwargs; DCD takes groups=1 and centred padding only
GEOMETRIES = {
    '3x3': dict(kernel_size=3, padding=1),
    '3x3-stride2': dict(kernel_size=3, stride=2, padding=1),
    '3x3-dilation2': dict(kernel_size=3, padding=2, dilation=2),
    '1x1-stride2-no-bias': dict(kernel_size=1, stride=2, bias=False),
    '3x3-same': dict(kernel_size=3, padding='same'),
    '3x3-groups4': dict(kernel_size=3, padding=1, groups=4),
    '1x3-valid': dict(kernel_size=(1, 3), padding='valid'),
}


def supported(method: str, geometry: dict) -> bool:
    if method != 'DCDConv2d':
        return True
    return geometry.get('groups', 1) == 1 and geometry.get('padding') != 'valid'


def build(method, in_channels=32, out_channels=48, seed=0, **kwargs):
    torch.manual_seed(seed)
    return METHODS[method](in_channels, out_channels, **kwargs)


CASES = [(m, g) for m in METHODS for g in GEOMETRIES if supported(m, GEOMETRIES[g])]


@pytest.mark.parametrize('method, geometry', CASES)
def test_output_shape_unbatched_and_empty_batch_as_nn_conv2d(method, geometry):
    kwargs = GEOMETRIES[geometry]
    layer, plain = build(method, **kwargs), nn.Conv2d(32, 48, **kwargs)
    x = torch.randn(3, 32, 13, 10)
    out = layer(x)
    assert out.shape == plain(x).shape
    assert torch.allclose(layer.eval()(x[1]), layer(x[1:2])[0], atol=1e-5)
    empty = torch.randn(0, 32, 13, 10, requires_grad=True)
    out = layer.train()(empty)
    assert out.shape == plain(empty).shape
    out.sum().backward()
    assert all(p.grad is not None and not p.grad.any() for p in layer.parameters())


@pytest.mark.parametrize('method', METHODS)
def test_half_precision_channels_last_and_bad_inputs(method):
    layer = build(method, kernel_size=3, padding=1).eval()
    x = torch.randn(2, 32, 9, 9)
    reference = layer(x)
    assert torch.allclose(layer(x.contiguous(memory_format=torch.channels_last)), reference,
                          atol=1e-5)
    skip_without_cpu_kernels(torch.float16)
    half = layer.half()(x.half())
    assert half.dtype == torch.float16
    assert torch.allclose(half.float(), reference, atol=5e-2, rtol=5e-2)
    with pytest.raises(ValueError, match='expected input.*32 channels'):
        layer(torch.randn(2, 16, 9, 9).half())
    with pytest.raises(ValueError, match='3-D .* or 4-D'):
        layer(torch.randn(32, 9).half())


def per_sample_kernels(layer, x):
    """Each method's kernel and bias of every sample, as its paper writes them (no grouped
    conv): ``(B, out, in/groups, kh, kw)``, ``(B, out)`` or None."""
    batch = x.shape[0]
    if isinstance(layer, CondConv2d):
        routing = layer.routing_weights(x)
        weight = torch.einsum('be,eoikl->boikl', routing, layer.weight)
        return weight, None if layer.bias is None else routing @ layer.bias
    if isinstance(layer, DynamicConv2d):
        attention = layer.kernel_attention(x)
        weight = torch.einsum('bk,koihw->boihw', attention, layer.weight)
        return weight, None if layer.bias is None else attention @ layer.bias
    if isinstance(layer, ODConv2d):
        channel, filter_, spatial, kernel = layer.attentions(x)
        weight = torch.einsum('bk,koihw->boihw', kernel, layer.weight) \
            * spatial.view(batch, 1, 1, *layer.kernel_size) \
            * filter_[:, :, None, None, None]
        weight = weight * channel.view(batch, layer.groups, 1, -1, 1, 1).expand(
            -1, -1, layer.out_channels // layer.groups, -1, -1, -1).reshape(
            batch, layer.out_channels, -1, 1, 1)
        return weight, layer.bias
    if isinstance(layer, KWConv2d):
        attention = layer.cell_attention(x).view(batch, layer.groups_spatial,
                                                 layer.groups_out, layer.groups_in, -1)
        cells = layer.cells[..., 0, 0]  # (M, cell_out, cell_in)
        cell_out, cell_in = cells.shape[1:]
        weight = torch.zeros(batch, layer.out_channels, layer.in_channels // layer.groups,
                             layer.kernel_size[0] * layer.kernel_size[1])
        for s in range(layer.groups_spatial):
            for o in range(layer.groups_out):
                for i in range(layer.groups_in):
                    weight[:, o * cell_out:(o + 1) * cell_out, i * cell_in:(i + 1) * cell_in,
                           s] = torch.einsum('bm,mpq->bpq', attention[:, s, o, i], cells)
        return weight.view(batch, *weight.shape[1:3], *layer.kernel_size), layer.bias
    raise TypeError(type(layer))


@pytest.mark.parametrize('method', ['CondConv2d', 'DynamicConv2d', 'ODConv2d', 'KWConv2d'])
@pytest.mark.parametrize('geometry', ['3x3-stride2', '3x3-groups4', '3x3-dilation2'])
def test_batched_conv_equals_each_sample_convolved_with_its_own_kernel(method, geometry):
    kwargs = GEOMETRIES[geometry]
    layer = build(method, **kwargs).eval()
    if isinstance(layer, (DynamicConv2d, ODConv2d)):
        layer.update_temperature(3.0)  # attentions away from uniform
    x = torch.randn(4, 32, 11, 12)
    with torch.no_grad():
        weight, bias = per_sample_kernels(layer, x)
        expected = torch.cat([
            F.conv2d(x[b:b + 1], weight[b], None if bias is None else
                     (bias if bias.dim() == 1 else bias[b]), layer.stride, layer.padding,
                     layer.dilation, layer.groups) for b in range(4)])
        assert torch.allclose(layer(x), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('stride, padding, dilation, size', [
    (1, 1, 1, (6, 5)), (2, 1, 1, (13, 12)), (1, 2, 2, (7, 7)), (2, 0, 1, (9, 8))])
def test_unfolded_per_sample_conv_equals_each_sample_convolved(stride, padding, dilation, size):
    """Many channels on a small map (unfold_is_faster): the batched matrix product over the
    unfolded input gives each sample's conv with its per-sample bias, and the same gradients."""
    from mmfreq.layers.dynamic_conv_base import UNFOLD_MIN_CHANNELS, unfold_is_faster
    x = torch.randn(3, UNFOLD_MIN_CHANNELS, *size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 8, UNFOLD_MIN_CHANNELS, 3, 3, dtype=torch.float64,
                         requires_grad=True)
    bias = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    reference = torch.stack([F.conv2d(x[b:b + 1], weight[b], bias[b], stride, padding,
                                      dilation)[0] for b in range(3)])
    out_size = tuple(reference.shape[-2:])
    assert unfold_is_faster(x, UNFOLD_MIN_CHANNELS, out_size)
    assert not unfold_is_faster(x, UNFOLD_MIN_CHANNELS // 2, out_size)
    assert not unfold_is_faster(x[:1], UNFOLD_MIN_CHANNELS, out_size)
    out = per_sample_conv(x, weight, bias, (stride,) * 2, (padding,) * 2, (dilation,) * 2, 1)
    torch.testing.assert_close(out, reference)
    grad = torch.randn_like(reference)
    for got, want in zip(torch.autograd.grad(out, (x, weight, bias), grad),
                         torch.autograd.grad(reference, (x, weight, bias), grad)):
        torch.testing.assert_close(got, want)


def test_per_sample_conv_with_shared_and_per_sample_bias():
    x, weight = torch.randn(3, 4, 6, 6), torch.randn(3, 6, 2, 3, 3)
    for bias in (torch.randn(6), torch.randn(3, 6), None):
        out = per_sample_conv(x, weight, bias, (1, 1), (1, 1), (1, 1), 2)
        for b in range(3):
            b_bias = None if bias is None else (bias if bias.dim() == 1 else bias[b])
            assert torch.allclose(out[b:b + 1], F.conv2d(x[b:b + 1], weight[b], b_bias,
                                                         1, 1, 1, 2), atol=1e-5)


GRADCHECK_OPTIONS = dict(CondConv2d=dict(num_experts=2), DynamicConv2d=dict(kernel_num=2),
                         ODConv2d=dict(kernel_num=2), DCDConv2d={}, KWConv2d={})


@pytest.mark.parametrize('method', METHODS)
def test_gradcheck_float64(method):
    """Input and parameter gradients (train mode, batch statistics) at a tiny size."""
    layer = build(method, 16, 4, kernel_size=3, stride=2, padding=1,
                  **GRADCHECK_OPTIONS[method]).double()
    if isinstance(layer, (DynamicConv2d, ODConv2d)):
        layer.update_temperature(2.0)
    if isinstance(layer, KWConv2d):
        layer.update_temperature(0.3)
    x = torch.randn(2, 16, 4, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in layer.named_parameters()]

    def function(inp, *weights):
        return torch.func.functional_call(layer, dict(zip(names, weights)), (inp,))

    weights = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    assert torch.autograd.gradcheck(function, (x, *weights), eps=1e-6, atol=1e-5,
                                    fast_mode=True)


def test_attentions_are_normalised_as_each_method_defines():
    x = torch.randn(5, 32, 8, 8)
    routing = build('CondConv2d', kernel_size=3, num_experts=6).routing_weights(x)
    assert routing.shape == (5, 6) and ((routing > 0) & (routing < 1)).all()
    assert not torch.allclose(routing.sum(1), torch.ones(5))  # a sigmoid, not a softmax
    dy = build('DynamicConv2d', kernel_size=3, kernel_num=5, temperature=2.0)
    assert torch.allclose(dy.kernel_attention(x).sum(1), torch.ones(5))
    od = build('ODConv2d', kernel_size=3, kernel_num=4)
    channel, filter_, spatial, kernel = od.attentions(x)
    assert (channel.shape, filter_.shape, spatial.shape, kernel.shape) == (
        (5, 32), (5, 48), (5, 9), (5, 4))
    assert torch.allclose(kernel.sum(1), torch.ones(5))
    assert all(((a > 0) & (a < 1)).all() for a in (channel, filter_, spatial))
    # the heads a layer does not need are absent (the reference's "skip")
    assert build('ODConv2d', kernel_size=1, kernel_num=1).attentions(x)[2:] == (None, None)
    depthwise = ODConv2d(32, 32, 3, padding=1, groups=32)
    assert depthwise.attention.filter_fc is None and depthwise.attentions(x)[1] is None
    kw = build('KWConv2d', kernel_size=3)
    attention = kw.cell_attention(x)
    assert attention.shape == (5 * kw.attention.num_mixtures, kw.cells.shape[0])
    # at t = 0: each mixture's weights over its cells and the zero cell have an L1 norm < 1
    assert (attention.abs().sum(1) < 1).all() and (attention.abs().sum(1) > 0.5).all()


def test_temperature_flattens_softmax_and_sigmoid_attentions():
    x = torch.randn(3, 32, 7, 7)
    dy = build('DynamicConv2d', kernel_size=3, padding=1, temperature=1e9)
    assert torch.allclose(dy.kernel_attention(x), torch.full((3, 4), 0.25))
    # at a huge temperature DY-Conv is the conv with the mean kernel and bias
    plain = F.conv2d(x, dy.weight.mean(0), dy.bias.mean(0), padding=1)
    assert torch.allclose(dy(x), plain, atol=1e-5)
    od = build('ODConv2d', kernel_size=3, padding=1, temperature=1e9)
    channel, filter_, spatial, kernel = od.attentions(x)
    assert torch.allclose(kernel, torch.full((3, 4), 0.25))
    assert all(torch.allclose(a, torch.full_like(a, 0.5)) for a in (channel, filter_, spatial))
    assert torch.allclose(od(x), F.conv2d(x, od.weight.mean(0) * 0.5 ** 3, padding=1),
                          atol=1e-5)
    for layer in (dy, od):
        with pytest.raises(ValueError, match='temperature=0.*> 0'):
            layer.update_temperature(0)


@pytest.mark.parametrize('cell_num_ratio', [1, 2])
def test_kernel_warehouse_at_temperature_one_is_a_plain_conv_of_its_assigned_cells(
        cell_num_ratio):
    """KW's temperature initialisation: at t = 1 every mixture is exactly its assigned cell, so
    the layer is an input-independent conv; the cells of a layer are consecutive, in the
    layout's mixture order (spatial, output block, input block)."""
    layer = KWConv2d(16, 24, 3, padding=1, temperature=1.0, cell_num_ratio=cell_num_ratio)
    x = torch.randn(3, 16, 6, 7)
    cells = layer.cells[..., 0, 0]
    num_mixtures = layer.attention.num_mixtures
    assigned = cells[::cell_num_ratio][:num_mixtures].view(
        layer.groups_spatial, layer.groups_out, layer.groups_in, *cells.shape[1:])
    kernel = assigned.permute(1, 3, 2, 4, 0).reshape(24, 16, 3, 3)
    assert torch.allclose(layer(x), F.conv2d(x, kernel, layer.bias, padding=1), atol=1e-5)
    layer.update_temperature(0.5)
    assert not torch.allclose(layer(x), F.conv2d(x, kernel, layer.bias, padding=1), atol=1e-3)
    with pytest.raises(ValueError, match=r'temperature=1.5.*\[0, 1\]'):
        layer.update_temperature(1.5)


def test_kernel_warehouse_layers_share_one_warehouse():
    manager = KernelWarehouseManager(cell_num_ratio=1, sharing_range=('layer',))
    net = nn.ModuleDict(dict(
        a=KWConv2d(16, 32, 3, padding=1, warehouse_manager=manager,
                   warehouse_name='stage0_layer0_conv1'),
        b=KWConv2d(32, 32, 3, padding=1, warehouse_manager=manager,
                   warehouse_name='stage0_layer1_conv1'),
        c=KWConv2d(32, 64, 1, warehouse_manager=manager, warehouse_name='stage0_layer1_conv2')))
    net.manager = manager
    manager.store()
    manager.allocate(net)
    assert manager.warehouse_names == ['stage0_layer_conv1', 'stage0_layer_conv2']
    assert net.a.cells is net.b.cells and net.a.cells is not net.c.cells
    # cells of (gcd(32, 32) = 32 out, gcd(16, 32) = 16 in) channels; one per mixture (1x)
    assert net.a.cells.shape == (9 * 1 * 1 + 9 * 1 * 2, 32, 16, 1, 1)
    assert net.c.cells.shape == (1, 64, 32, 1, 1)
    keys = set(net.state_dict())
    assert {'manager.weights.0', 'manager.weights.1'} <= keys
    assert not any(k.startswith(('a.warehouse', 'b.warehouse')) for k in keys)
    net.b(net.a(torch.randn(2, 16, 5, 5))).sum().backward()
    assert net.a.cells.grad is not None and net.c.cells.grad is None
    with pytest.raises(RuntimeError, match='store\\(\\) has run'):
        KWConv2d(16, 16, 1, warehouse_manager=manager)


def test_kernel_warehouse_nonlocal_basis_equals_direct_logits_through_the_composed_map():
    """nonlocal_basis_ratio < 1: the logits of the other layers' cells come from a basis (fc3);
    the attention equals that of a direct layer whose fc2 is the composed map (identity on the
    layer's own cells and the zero cell, fc3 on the basis) and whose bias is basis_bias."""
    def shared_pair(ratio):
        manager = KernelWarehouseManager(cell_num_ratio=1, nonlocal_basis_ratio=ratio,
                                         sharing_range=('layer',))
        net = nn.ModuleDict(dict(
            a=KWConv2d(16, 32, 3, padding=1, warehouse_manager=manager,
                       warehouse_name='stage0_layer0_conv1'),
            b=KWConv2d(32, 32, 3, padding=1, warehouse_manager=manager,
                       warehouse_name='stage0_layer1_conv1')))
        net.manager = manager
        manager.store()
        manager.allocate(net)
        return net

    basis, direct = shared_pair(0.0625), shared_pair(1.0)
    layer, plain = basis.b.attention, direct.b.attention
    # b's 18 cells follow a's 9 in the warehouse of 27; 9 other cells -> max(int(9/16), 16) basis
    assert (layer.start, layer.num_local_cells, layer.num_basis) == (9, 18, 16)
    assert layer.fc2.bias is None and layer.fc3.weight.shape == (9, 16)
    assert layer.basis_bias.shape == plain.fc2.bias.shape == (28 * 18,)
    assert 'nonlocal_basis_ratio=0.0625' in repr(basis.manager)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
        local, width = layer.num_local_cells, layer.num_local_cells + layer.num_basis + 1
        composed = torch.zeros(28, width)
        composed[:9, local:local + 16] = layer.fc3.weight  # a's cells, before b's own
        composed[9:27, :local] = torch.eye(local)
        composed[27, -1] = 1
        weight = layer.fc2.weight.view(18, width, -1)
        plain.fc2.weight.copy_(torch.einsum('cw,mwh->mch', composed, weight).reshape(28 * 18, -1))
        plain.fc2.bias.copy_(layer.basis_bias)
        for name in ('fc1.weight', 'norm1.weight', 'norm1.bias'):
            plain.get_parameter(name).copy_(layer.get_parameter(name))
    direct.manager.weights[0].data.copy_(basis.manager.weights[0])
    x = torch.randn(3, 32, 6, 5)
    for mode in (True, False):
        basis.train(mode), direct.train(mode)
        torch.testing.assert_close(basis.b.cell_attention(x), direct.b.cell_attention(x))
        torch.testing.assert_close(basis.b(x), direct.b(x), rtol=1e-4, atol=1e-5)
    basis.b(x).sum().backward()
    assert all(p.grad is not None for p in (layer.fc3.weight, layer.basis_bias))


@pytest.mark.parametrize('method, options, message', [
    ('CondConv2d', dict(num_experts=0), 'num_experts=0 .* an int >= 1'),
    ('DynamicConv2d', dict(kernel_num=0), 'kernel_num=0 .* an int >= 1'),
    ('DynamicConv2d', dict(reduction=0), r'reduction=0 .* \(0, 1\]'),
    ('DynamicConv2d', dict(temperature=-1), 'temperature=-1 .* > 0'),
    ('ODConv2d', dict(kernel_num=2.5), 'kernel_num=2.5 .* an int >= 1'),
    ('ODConv2d', dict(min_channel=0), 'min_channel=0'),
    ('KWConv2d', dict(cell_num_ratio=0), 'cell_num_ratio=0 .* > 0'),
    ('KWConv2d', dict(cell_num_ratio=0.5), 'cell_num_ratio=0.5 .* whole number'),
    ('KWConv2d', dict(temperature=2), r'temperature=2 .* \[0, 1\]'),
    ('KWConv2d', dict(nonlocal_basis_ratio=0), 'nonlocal_basis_ratio=0 .* > 0'),
    ('DCDConv2d', dict(groups=2), 'groups=2 .* 1 \\(DCD has no grouped form\\)'),
    ('DCDConv2d', dict(padding=0), "padding=0 .*'same'"),
])
def test_bad_options_are_refused_at_build_naming_the_option(method, options, message):
    kwargs = dict(kernel_size=3, padding=1)
    kwargs.update(options)
    with pytest.raises(ValueError, match=f'(?:{method}|KernelWarehouseManager): {message}'):
        build(method, **kwargs)


@pytest.mark.parametrize('method', METHODS)
def test_conv_arguments_are_checked_as_nn_conv2d_does(method):
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        build(method, kernel_size=3, padding=1, padding_mode='reflect')
    if method != 'DCDConv2d':
        with pytest.raises(ValueError, match='groups=5 .* divisor'):
            build(method, kernel_size=3, padding=1, groups=5)
    with pytest.raises(ValueError, match="padding='same' .* stride > 1"):
        build(method, kernel_size=3, padding='same', stride=2)


def test_dcd_refuses_too_few_input_channels():
    with pytest.raises(ValueError, match='in_channels=8 .* >= 16'):
        DCDConv2d(8, 16, 3, padding=1)
