"""FDConv, FDLinear, AttInvAttention and FreqScale on CUDA: forward and backward (input and every
parameter gradient) equal to the same module on the CPU, in fp32, to 1e-4."""
import copy

import pytest
import torch
from torch.testing import assert_close

from mmfreq.layers import AttInvAttention, FDConv, FDLinear, FreqScale

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason='needs a CUDA GPU (torch.cuda.is_available() is False)')]

TOL = dict(rtol=1e-4, atol=1e-4)


def _attinv(**kwargs):
    module = AttInvAttention(64, num_heads=4, qkv_bias=True, **kwargs)
    with torch.no_grad():  # gammas start at 1e-5; make the inversion branches count
        module.lf_gamma.fill_(0.7)
        module.hf_gamma.fill_(1.3)
    return module


def _freq_scale(mode, **kwargs):
    module = FreqScale(64, mode=mode, init_scale=1.0, **kwargs)  # release init: 1e-5, ~0 output
    if mode != 'static':  # and a routing of ~1e-4 at init; make it count
        for linear in (module.reweight.fc1, module.reweight.fc2):
            torch.nn.init.normal_(linear.weight, std=0.2)
    return module


# name -> (module factory, input shape)
LAYERS = {
    'fdconv_3x3': (lambda: FDConv(32, 48, 3, padding=1, kernel_num=8), (2, 32, 20, 24)),
    'fdconv_3x3_stride2': (lambda: FDConv(32, 48, 3, stride=2, padding=1, kernel_num=8),
                           (2, 32, 21, 17)),
    'fdconv_1x1': (lambda: FDConv(48, 32, 1, kernel_num=8), (2, 48, 12, 10)),
    'fdlinear': (lambda: FDLinear(32, 64, kernel_num=8), (2, 50, 32)),
    'attinv': (_attinv, (2, 50, 64)),  # 1 class token + 7 x 7 patches
    'freq_scale_static': (lambda: _freq_scale('static'), (2, 64, 14, 14)),
    'freq_scale_dynamic': (lambda: _freq_scale('dynamic'), (2, 64, 13, 17)),
    'freq_scale_group': (lambda: _freq_scale('group', groups=16), (2, 64, 16, 16)),
}


def _forward_backward(module, x, grad_out):
    x = x.clone().requires_grad_()
    out = module(x)
    (out * grad_out).sum().backward()
    grads = {name: p.grad for name, p in module.named_parameters() if p.grad is not None}
    return out.detach().cpu(), x.grad.cpu(), {k: v.cpu() for k, v in grads.items()}


@pytest.mark.parametrize('name', list(LAYERS))
def test_layer_on_cuda_matches_cpu(name, full_fp32):
    factory, shape = LAYERS[name]
    torch.manual_seed(0)
    cpu_module = factory().train()
    cuda_module = copy.deepcopy(cpu_module).cuda()
    x = torch.randn(shape) + torch.randn(shape[:2] + (1,) * (len(shape) - 2))  # nonzero means
    out_shape = cpu_module(x).shape
    grad_out = torch.randn(out_shape)

    out_cpu, dx_cpu, grads_cpu = _forward_backward(cpu_module, x, grad_out)
    out_cuda, dx_cuda, grads_cuda = _forward_backward(cuda_module, x.cuda(), grad_out.cuda())

    assert out_cpu.abs().mean() > 1e-2 and dx_cpu.abs().mean() > 1e-4  # a case that can fail
    assert_close(out_cuda, out_cpu, **TOL)
    assert_close(dx_cuda, dx_cpu, **TOL)
    assert grads_cuda.keys() == grads_cpu.keys() and grads_cpu
    for param, grad in grads_cpu.items():
        assert_close(grads_cuda[param], grad, **TOL, msg=lambda m: f'{param}: {m}')
