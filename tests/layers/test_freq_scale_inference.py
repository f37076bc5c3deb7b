"""FreqScale's inference path (no gradient recorded: cached separable resize matrices, explicit
transposes of token maps, in-place spectrum scaling) computes what its training path computes,
and never serves stale weights."""
import pytest
import torch
import torch.nn.functional as F

from mmfreq.layers import FreqScale, freq_scale_residual
from mmfreq.layers.fdam_block import tokens_to_map
from mmfreq.layers.freq_scale import bicubic_resize_matrix, resize_frequency_weight

MODES = ('static', 'dynamic', 'group')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _freq_scale(dim, **options):
    """A FreqScale with every parameter random (nonzero routing, unlike the default init)."""
    module = FreqScale(dim, **options)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return module.eval()


def _relative_error(actual, expected):
    return ((actual - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize('size_in,size_out', [(14, 32), (8, 17), (14, 7), (5, 5), (3, 1)])
def test_resize_matrix_is_torch_bicubic(size_in, size_out):
    """Column j of the matrix is F.interpolate of the j-th unit vector, so matrix products give
    F.interpolate's 2-D bicubic resize (align_corners=True), borders included."""
    weight = torch.randn(3, 4, size_in, size_in + 2, dtype=torch.float64)
    rows = bicubic_resize_matrix(size_in, size_out, dtype=torch.float64)
    cols = bicubic_resize_matrix(size_in + 2, size_out + 1, dtype=torch.float64)
    assert rows.shape == (size_out, size_in)
    expected = F.interpolate(weight, size=(size_out, size_out + 1), mode='bicubic',
                             align_corners=True)
    torch.testing.assert_close(rows @ weight @ cols.t(), expected, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # the inference branch of resize_frequency_weight
        resized = resize_frequency_weight(weight, (size_out, size_out + 1))
    torch.testing.assert_close(resized, expected, rtol=1e-12, atol=1e-12)


def _token_map(batch, height, width, dim, prefix=1):
    tokens = torch.randn(batch, prefix + height * width, dim)
    return tokens, tokens_to_map(tokens[:, prefix:], (height, width))


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('batch,height,width', [(1, 32, 32), (2, 14, 14), (3, 7, 9), (1, 1, 1),
                                                (2, 5, 1)])
def test_inference_equals_training_computation(mode, batch, height, width):
    module = _freq_scale(32, mode=mode, num_filters=3, groups=8)
    tokens, token_map = _token_map(batch, height, width, 32)
    plain_map = torch.randn(batch, 32, height, width)
    for x in (token_map, plain_map):
        expected = module(x)  # autograd on: F.interpolate, out of place
        with torch.no_grad():
            out = module(x)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert _relative_error(out, expected) < 1e-6
    expected = freq_scale_residual(module, tokens, (height, width), 1)
    with torch.inference_mode():
        out = freq_scale_residual(module, tokens, (height, width), 1)
    assert torch.equal(out[:, :1], tokens[:, :1])
    assert _relative_error(out, expected) < 1e-6


def _inference_output(module, x):
    with torch.no_grad():
        return module(x)


def _training_path_output(module, x):
    return module(x).detach()


def test_inference_follows_optimizer_steps_and_loaded_weights():
    """Only parameter-free matrices are cached: after an optimizer step or load_state_dict the
    inference output is that of the new weights."""
    module = _freq_scale(32, mode='group', num_filters=4, groups=8)
    _, x = _token_map(2, 12, 10, 32)
    before = _inference_output(module.eval(), x)  # fills the caches for this size

    optimizer = torch.optim.SGD(module.parameters(), lr=10.0)
    module.train()
    module(torch.randn(2, 32, 12, 10)).square().sum().backward()
    optimizer.step()
    module.eval()
    after_step = _inference_output(module, x)
    assert _relative_error(after_step, before) > 1e-3
    assert _relative_error(after_step, _training_path_output(module, x)) < 1e-6

    other = _freq_scale(32, mode='group', num_filters=4, groups=8)
    module.load_state_dict(other.state_dict())
    loaded = _inference_output(module, x)
    assert _relative_error(loaded, _training_path_output(other.eval(), x)) < 1e-6


def test_matrices_cached_in_inference_mode_serve_autograd_later():
    """A matrix first built under torch.inference_mode is an ordinary tensor: later, with
    autograd on and frozen FreqScale weights (gradients for the input only), it can be saved for
    backward."""
    module = _freq_scale(16, mode='dynamic', num_filters=2)
    with torch.inference_mode():
        module(torch.randn(1, 16, 23, 19))
    x = torch.randn(1, 16, 23, 19, requires_grad=True)
    module(x).square().sum().backward()
    expected = x.grad.clone()
    x.grad = None
    module.requires_grad_(False)  # no gradient for the bases: the cached-matrix resize
    module(x).square().sum().backward()
    torch.testing.assert_close(x.grad, expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_token_map_inference():
    module = _freq_scale(32, mode='group', num_filters=2, groups=8)
    _, x = _token_map(2, 9, 11, 32)
    reference = _inference_output(module, x)
    out = _inference_output(module.bfloat16(), x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.02)
