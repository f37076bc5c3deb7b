"""FDConv, FDLinear, AttInvAttention and FreqScale take whatever the torch layers they replace take
(unbatched input, an empty batch, half precision, the meta device), refuse a wrong channel count
clearly, and pass NaN on as documented in docs/fdconv.md ("Drop-in behaviour")."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mmfreq.layers import AttInvAttention, FDConv, FDLinear, FreqScale
from torch_capabilities import skip_without_cpu_kernels

# name -> (constructor taking factory kwargs, batched input shape, channel dimension)
LAYERS = {
    'FDConv': (lambda **f: FDConv(20, 24, 3, padding=1, kernel_num=4, **f), (3, 20, 9, 7), 1),
    'FDConv-1x1-stride2': (lambda **f: FDConv(24, 20, 1, stride=2, kernel_num=4, **f),
                           (3, 24, 8, 8), 1),
    'FDLinear': (lambda **f: FDLinear(20, 24, kernel_num=4, **f), (3, 5, 20), -1),
    'AttInvAttention': (lambda **f: AttInvAttention(16, num_heads=4, **f), (3, 6, 16), -1),
    'FreqScale': (lambda **f: FreqScale(16, mode='group', num_filters=4, groups=4,
                                        init_scale=0.1, **f), (3, 16, 9, 7), 1),
}


def build(name, **factory):
    torch.manual_seed(0)
    layer = LAYERS[name][0](**factory)
    assert getattr(layer, 'is_fdconv', True)  # the dynamic layer, not a fallback
    with torch.no_grad():  # modulation away from its near-identity init
        for param in layer.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return layer


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize('name', LAYERS)
def test_unbatched_input_is_one_sample(name):
    layer = build(name).eval()
    x = torch.randn(LAYERS[name][1])
    if name == 'FDLinear':  # nn.Linear's unbatched input is one vector: one one-token sample
        x = x[:, :1]
        torch.testing.assert_close(layer(x[1, 0]), layer(x[1:2])[0, 0], rtol=1e-5, atol=1e-6)
        return
    torch.testing.assert_close(layer(x[1]), layer(x[1:2])[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', LAYERS)
def test_empty_batch(name):
    layer = build(name).train()
    shape = (0, *LAYERS[name][1][1:])
    x = torch.randn(shape, requires_grad=True)
    out = layer(x)
    expected = layer.eval()(torch.randn(1, *shape[1:])).shape[1:]
    assert out.shape == (0, *expected)
    out.sum().backward()
    assert x.grad.shape == shape
    for param in layer.parameters():  # as a torch layer: zero gradients, not none
        assert param.grad is not None and not param.grad.any()


class _FFTDtypes(TorchDispatchMode):
    """Records the input dtype of every FFT the layer runs."""

    def __init__(self):
        super().__init__()
        self.dtypes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if 'fft' in func.__name__:
            self.dtypes.add(args[0].dtype)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('name', LAYERS)
def test_low_precision_modules_on_cpu(name, dtype):
    skip_without_cpu_kernels(dtype)
    reference = build(name).eval()
    layer = build(name).to(dtype).eval()
    x = torch.randn(LAYERS[name][1])
    with _FFTDtypes() as ffts:
        out = layer(x.to(dtype))
    assert out.dtype == dtype
    assert ffts.dtypes <= {torch.float32, torch.complex64}  # FFTs stay in float32
    expected = reference(x)
    tolerance = 0.05 * expected.abs().max().item()
    torch.testing.assert_close(out.float(), expected, rtol=0, atol=tolerance)
    layer.train()
    x_low = x.to(dtype).requires_grad_()
    layer(x_low).float().square().sum().backward()
    assert torch.isfinite(x_low.grad.float()).all()


@pytest.mark.parametrize('name', LAYERS)
def test_meta_device_then_to_empty_and_reset_parameters(name):
    layer = LAYERS[name][0](device='meta')
    assert all(p.is_meta for p in layer.parameters())
    layer = layer.to_empty(device='cpu')
    torch.manual_seed(1)
    layer.reset_parameters()
    fresh = LAYERS[name][0]()
    for (key, value), (_, expected) in zip(layer.state_dict().items(),
                                           fresh.state_dict().items()):
        assert value.shape == expected.shape and torch.isfinite(value).all(), key
    for (key, value), (_, expected) in zip(layer.named_buffers(), fresh.named_buffers()):
        if value.dtype in (torch.bool, torch.int64):  # derived tables are recomputed
            assert torch.equal(value, expected), key
    out = layer(torch.randn(LAYERS[name][1]))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('name', LAYERS)
def test_wrong_channel_count_is_refused_clearly(name):
    layer = build(name)
    shape = list(LAYERS[name][1])
    channel_dim = LAYERS[name][2]
    expected = shape[channel_dim]
    shape[channel_dim] += 1
    with pytest.raises(ValueError, match=rf'expected input.* {expected} channels .*got '
                                         rf'{expected + 1}'):
        layer(torch.randn(shape))


@pytest.mark.parametrize('name', LAYERS)
def test_nan_input(name):
    """NaN stays in its sample (eval mode): that sample's output has NaN (global pooling, the
    FFTs and attention spread it within the sample), the other samples are untouched."""
    layer = build(name).eval()
    x = torch.randn(LAYERS[name][1])
    clean = layer(x)
    x[0].view(-1)[3] = float('nan')
    out = layer(x)
    assert torch.isnan(out[0]).any()
    torch.testing.assert_close(out[1:], clean[1:])
