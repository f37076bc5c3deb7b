"""The fast paths of FDConv (docs/fdconv.md, "Memory and speed") compute what the plain forms
compute: FBM's separable low-passes equal the FFT form, the channels-first band-map conv equals
``F.conv2d``, a batch processed in chunks equals the batch processed at once, and the layer with
``kernel_num=1`` (one weight for the whole batch) writes no resized ``out=`` tensor."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from mmfreq.layers import FDConv, FDLinear
from mmfreq.layers import batch_chunks
from mmfreq.layers import frequency_band_modulation as fbm
from mmfreq.layers.narrow_conv import _NarrowConv2d, is_narrow, same_conv2d
from mmfreq.layers.separable_band_pass import separable_low_pass


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _fft_band_modulate(x, maps, masks, lowfreq_att):
    """FBM's bands by full-size FFTs, written out from the spec (module docstring of FBM)."""
    spectrum = torch.fft.rfft2(x, norm='ortho')
    batch, channels, h, w = x.shape
    groups = maps.shape[2]
    prev, out = x, 0
    for band, mask in enumerate(masks):
        low = torch.fft.irfft2(spectrum * mask, s=(h, w), norm='ortho')
        out = out + ((prev - low).reshape(batch, groups, -1, h, w)
                     * maps[:, band].unsqueeze(2)).reshape(x.shape)
        prev = low
    if lowfreq_att:
        return out + (prev.reshape(batch, groups, -1, h, w)
                      * maps[:, -1].unsqueeze(2)).reshape(x.shape)
    return out + prev


# even, odd, small, non-square, and larger than the 64x64 grid the masks are defined on
SIZES = [(64, 64), (7, 7), (9, 13), (13, 9), (2, 3), (1, 1), (100, 160), (130, 70)]


@pytest.mark.parametrize('h, w', SIZES)
@pytest.mark.parametrize('k_list, lowfreq_att, groups', [([2, 4, 8], False, 1),
                                                         ([2, 4, 8], True, 4), ([4], False, 2)])
def test_separable_band_modulation_equals_the_fft_form(h, w, k_list, lowfreq_att, groups):
    masks = fbm.resize_masks(fbm.low_pass_masks(64, 64, k_list), (h, w // 2 + 1))
    assert separable_low_pass(masks, w, torch.float32, torch.device('cpu')) is not None
    x = torch.randn(2, 8, h, w, requires_grad=True)
    maps = torch.rand(2, len(k_list) + lowfreq_att, groups, h, w, requires_grad=True)
    got = fbm.band_modulate(x, maps, masks, lowfreq_att)
    ref = _fft_band_modulate(x, maps, masks, lowfreq_att)
    grad = torch.randn_like(ref)
    got_grads = torch.autograd.grad(got, (x, maps), grad)
    ref_grads = torch.autograd.grad(ref, (x, maps), grad)
    for a, b in ((got, ref), *zip(got_grads, ref_grads)):
        scale = b.abs().max().clamp(min=1e-30)
        assert float((a - b).abs().max() / scale) <= 1e-5


def test_separable_band_modulation_gradcheck():
    masks = fbm.resize_masks(fbm.low_pass_masks(64, 64, [2, 4, 8]), (6, 4))
    x = torch.randn(1, 4, 6, 7, dtype=torch.float64, requires_grad=True)
    maps = torch.rand(1, 4, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: fbm.band_modulate(a, b, masks, True), (x, maps))


def test_masks_that_are_not_outer_products_use_the_fft_form():
    masks = fbm.resize_masks(fbm.low_pass_masks(64, 64, [2, 4]), (16, 9)).clone()
    masks[0, 0, 0] = False  # a hole: no longer a box
    assert separable_low_pass(masks, 16, torch.float32, torch.device('cpu')) is None
    x, maps = torch.randn(1, 3, 16, 16), torch.rand(1, 2, 1, 16, 16)
    torch.testing.assert_close(fbm.band_modulate(x, maps, masks, False),
                               _fft_band_modulate(x, maps, masks, False), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('batch, channels, h, w, out, groups, size', [
    (2, 32, 5, 7, 3, 1, 3), (2, 96, 6, 6, 8, 4, 3), (1, 32, 9, 4, 1, 1, 5), (1, 32, 1, 1, 2, 1, 3),
    (2, 64, 2, 9, 2, 2, 5)])
def test_narrow_conv_equals_conv2d(batch, channels, h, w, out, groups, size):
    x = torch.randn(batch, channels, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(out, channels // groups, size, size, dtype=torch.float64,
                         requires_grad=True)
    bias = torch.randn(out, dtype=torch.float64, requires_grad=True)
    assert is_narrow(weight, groups)
    torch.testing.assert_close(same_conv2d(x, weight, bias, groups),
                               F.conv2d(x, weight, bias, padding=size // 2, groups=groups))
    assert torch.autograd.gradcheck(lambda *a: _NarrowConv2d.apply(*a, groups), (x, weight, bias))


def test_wide_conv_is_left_to_conv2d():
    assert not is_narrow(torch.empty(16, 4, 3, 3), groups=1)  # 16 * 9 mixed > 4 channels


def _randomize(layer):
    with torch.no_grad():
        for name, param in layer.named_parameters():
            if name != 'dft_weight':
                param.normal_(0, 0.3)


@pytest.mark.parametrize('recompute', [True, False])
@pytest.mark.parametrize('layer', ['conv', 'linear'])
def test_chunked_batch_equals_the_whole_batch(monkeypatch, recompute, layer):
    if layer == 'conv':
        module = FDConv(24, 20, 3, padding=1, kernel_num=8, recompute=recompute)
        x = torch.randn(5, 24, 9, 9, requires_grad=True)
    else:
        module = FDLinear(24, 20, kernel_num=8, recompute=recompute)
        x = torch.randn(5, 6, 24, requires_grad=True)
    _randomize(module)
    module.train()

    def run(chunk_bytes):
        monkeypatch.setattr(batch_chunks, 'CHUNK_BYTES', chunk_bytes)
        module.zero_grad()
        x.grad = None
        out = module(x)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        return [out.detach(), x.grad.clone()] + [p.grad.clone() for p in module.parameters()]

    whole = run(1 << 40)
    per_sample = run(1)
    for a, b in zip(per_sample, whole):  # one conv per sample vs one grouped conv: rounding
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max()))


def test_samples_per_chunk_rule():
    cpu, meta = torch.device('cpu'), torch.device('meta')
    assert batch_chunks.samples_per_chunk(8, 1 << 20, cpu, chunk_bytes=4 << 20) == 4
    assert batch_chunks.samples_per_chunk(8, 64 << 20, cpu, chunk_bytes=4 << 20) == 1
    assert batch_chunks.samples_per_chunk(8, 1, cpu, chunk_bytes=4 << 20) == 8
    assert batch_chunks.samples_per_chunk(8, 64 << 20, meta, chunk_bytes=4 << 20) == 8


def test_kernel_num_one_backward_resizes_no_out_tensor():
    """With kernel_num=1 one FDW weight serves the whole batch; its gradient is summed over the
    batch instead of being written into a resized ``out=`` tensor (a warning today, an error in
    future torch)."""
    layer = FDConv(20, 20, 3, padding=1, kernel_num=1, recompute=False)
    _randomize(layer)
    x = torch.randn(2, 20, 6, 6, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        layer(x).square().sum().backward()
    assert layer.dft_weight.grad is not None and torch.isfinite(layer.dft_weight.grad).all()


@pytest.mark.parametrize('batch, size, stride', [(2, 7, 1), (1, 9, 2)])
def test_filter_factor_on_the_output_equals_it_on_the_weight(batch, size, stride, monkeypatch):
    """Small maps: the filter factor multiplies the output (the kept output is at most half a
    weight), which by linearity is the weight folded with it; outputs and gradients agree in
    float64, in training (recomputing node) and in eval."""
    layer = FDConv(32, 32, 3, stride=stride, padding=1, kernel_num=4).double()
    x = torch.randn(batch, 32, size, size, dtype=torch.float64, requires_grad=True)
    out_size = ((size - 1) // stride + 1) ** 2
    assert layer._filter_to_output(out_size, size * size, 3, batch)
    if stride == 1:  # kept output larger than half the input: it is the batch's that counts
        assert not layer._filter_to_output(out_size, size * size, 3, 64)
    for mode in ('train', 'eval'):
        getattr(layer, mode)()
        results = []
        for folded in (False, True):
            if folded:
                monkeypatch.setattr(layer, '_filter_to_output', lambda *sizes: False)
            out = layer(x)
            grads = torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])
            results.append((out, *grads))
            monkeypatch.undo()
        for got, want in zip(*results):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
