"""Opt-in check of FDConv against the authors' own module (docs/release-parity.md).

Point ``MMFREQ_RELEASE_DIR`` at a checkout of https://github.com/Linwei-Chen/FDConv (several paths
may be given, separated by ``os.pathsep``; the FDAM checks in ``test_release_parity_fdam.py`` read
the same variable)::

    git clone https://github.com/Linwei-Chen/FDConv /tmp/FDConv
    MMFREQ_RELEASE_DIR=/tmp/FDConv .venv/bin/python -m pytest tests/test_release_parity.py

The release module is imported from that path (nothing of it is in this repository). Each case
builds the release layer, randomises its modulation parameters, loads its state dict strictly into
mmfreq's FDConv and compares outputs, input gradients and parameter gradients in fp32, in train and
eval mode. Its third-party imports that today's stack lacks (mmcv 1.x's ``CONV_LAYERS``, timm's
``trunc_normal_``) are stubbed for the import only.
"""
import pytest
import torch

from mmfreq.layers import FDConv
from mmfreq.release_modules import FDCONV_RELEASE_MODULE, load_release_fdconv, release_checkout

TOLERANCE = 1e-4

pytestmark = pytest.mark.skipif(
    release_checkout(FDCONV_RELEASE_MODULE) is None,
    reason='opt-in: set MMFREQ_RELEASE_DIR to a checkout of github.com/Linwei-Chen/FDConv to '
           "compare FDConv with the authors' module")


@pytest.fixture(scope='module')
def release():
    return load_release_fdconv(release_checkout(FDCONV_RELEASE_MODULE))


# (in, out, kernel, conv kwargs, options, input shape)
CASES = {
    '3x3': (64, 64, 3, dict(padding=1), dict(kernel_num=64), (2, 64, 20, 20)),
    '3x3-k4-odd': (32, 48, 3, dict(padding=1), dict(kernel_num=4), (2, 32, 15, 13)),
    '3x3-stride2-no-bias': (48, 32, 3, dict(padding=1, stride=2, bias=False),
                            dict(kernel_num=4), (3, 48, 18, 22)),
    '3x3-dilation2': (32, 32, 3, dict(padding=2, dilation=2), dict(kernel_num=8),
                      (2, 32, 12, 16)),
    '3x3-larger-than-64': (32, 32, 3, dict(padding=1), dict(kernel_num=16), (2, 32, 72, 80)),
    '1x1': (64, 128, 1, dict(), dict(kernel_num=64), (2, 64, 14, 14)),
    '1x1-k4-stride2': (96, 32, 1, dict(stride=2), dict(kernel_num=4), (2, 96, 9, 10)),
    'param-ratio-2': (32, 32, 3, dict(padding=1), dict(kernel_num=4, param_ratio=2),
                      (2, 32, 10, 10)),
    'param-reduction-0.5': (32, 32, 3, dict(padding=1),
                            dict(kernel_num=4, param_reduction=0.5), (2, 32, 10, 10)),
    'convert-param-false': (32, 32, 3, dict(padding=1),
                            dict(kernel_num=4, convert_param=False), (2, 32, 10, 10)),
    'linear-mode': (32, 64, 1, dict(), dict(kernel_num=4, convert_param=False,
                                            linear_mode=True), (2, 32, 6, 6)),
    'tanh': (32, 32, 3, dict(padding=1),
             dict(kernel_num=4, ksm_local_act='tanh', ksm_global_act='tanh',
                  fbm_cfg=dict(k_list=[2, 4, 8], act='tanh', lowfreq_att=True)),
             (2, 32, 11, 12)),
    'softmax-kernel-only-no-local': (32, 32, 3, dict(padding=1),
                                     dict(kernel_num=8, ksm_global_act='softmax',
                                          ksm_only_kernel_att=True, use_ksm_local=False),
                                     (2, 32, 9, 9)),
    'fbm-groups-softmax': (32, 32, 3, dict(padding=1),
                           dict(kernel_num=4, fbm_cfg=dict(k_list=[2, 4], spatial_group=4,
                                                           act='softmax')), (2, 32, 16, 16)),
    'fbm-for-stride-kernel-none': (32, 32, 1, dict(stride=2),
                                   dict(kernel_num=None, use_fbm_for_stride=True),
                                   (2, 32, 12, 12)),
}


def _relative_error(ours, theirs) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize('case', CASES)
def test_fdconv_equals_the_release_module(release, case):
    in_channels, out_channels, kernel, conv_kwargs, options, shape = CASES[case]
    torch.manual_seed(0)
    theirs = release.FDConv(in_channels, out_channels, kernel, **conv_kwargs, **options)
    with torch.no_grad():  # modulation away from its near-identity init
        for name, param in theirs.named_parameters():
            if 'KSM' in name or 'FBM' in name:
                param.add_(torch.randn_like(param) * 0.5)
    ours = FDConv(in_channels, out_channels, kernel, **conv_kwargs, **options)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(shape)
    grad_output = None
    for mode in (True, False):
        theirs.train(mode)
        ours.train(mode)
        outputs, input_grads, param_grads = [], [], []
        for module in (ours, theirs):
            module.zero_grad()
            x_in = x.clone().requires_grad_(True)
            y = module(x_in)
            if grad_output is None:
                grad_output = torch.randn_like(y)
            (y * grad_output).sum().backward()
            outputs.append(y.detach())
            input_grads.append(x_in.grad)
            param_grads.append({n: p.grad for n, p in module.named_parameters()
                                if p.grad is not None})
        assert _relative_error(*outputs) < TOLERANCE, (case, mode)
        assert _relative_error(*input_grads) < TOLERANCE, (case, mode)
        assert param_grads[0].keys() == param_grads[1].keys()
        for name in param_grads[1]:
            assert _relative_error(param_grads[0][name], param_grads[1][name]) < TOLERANCE, (
                case, mode, name)
