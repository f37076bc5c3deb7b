"""What FDConv keeps for backward (docs/fdconv.md, "Memory"): with ``recompute=True`` (the default)
at most 3x what ``nn.Conv2d`` / ``nn.Linear`` of the same shape keeps, at ResNet-50's shapes; and
the recomputing node's gradients are those of the recording path, bit for bit."""
import pytest
import torch
from torch import nn

from mmfreq.layers import FDConv, FDLinear


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps from one training forward, each storage once
    (parameters included, as they are kept alive for backward too)."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x)
    return sum(storages.values())


# (in, out, kernel, stride, map size, batch): the measured shapes and the other ResNet-50 convs
RESNET50_SHAPES = [
    (64, 64, 3, 1, 56, 8), (256, 256, 3, 1, 14, 8), (512, 512, 3, 1, 7, 8), (256, 256, 3, 1, 32, 2),
    (128, 128, 3, 1, 28, 2), (128, 128, 3, 2, 56, 2), (256, 256, 3, 2, 28, 2),
    (512, 512, 3, 2, 14, 2), (256, 64, 1, 1, 56, 2), (64, 256, 1, 1, 56, 2),
    (1024, 256, 1, 1, 14, 2), (256, 1024, 1, 1, 14, 2), (2048, 512, 1, 1, 7, 2),
    (512, 2048, 1, 1, 7, 2),
    # batch 8 where FBM keeps its output: small maps, and the dense-prediction stages
    (128, 128, 3, 1, 28, 8), (64, 64, 3, 1, 128, 8), (128, 128, 3, 1, 64, 8),
    (256, 256, 3, 1, 32, 8), (512, 512, 3, 1, 16, 8),
]


@pytest.mark.parametrize('shape', RESNET50_SHAPES,
                         ids=[f'{s[0]}-{s[1]}-k{s[2]}-s{s[3]}@{s[4]}-b{s[5]}'
                              for s in RESNET50_SHAPES])
def test_fdconv_keeps_at_most_three_times_a_plain_conv(shape):
    in_channels, out_channels, k, stride, size, batch = shape
    x = torch.randn(batch, in_channels, size, size, requires_grad=True)
    conv = dict(stride=stride, padding=k // 2)
    plain = nn.Conv2d(in_channels, out_channels, k, **conv)
    layer = FDConv(in_channels, out_channels, k, **conv, kernel_num=64).train()
    assert layer.is_fdconv
    ratio = saved_bytes(layer, x) / saved_bytes(plain, x)
    assert ratio <= 3, ratio
    recording = FDConv(in_channels, out_channels, k, **conv, kernel_num=64, recompute=False)
    assert saved_bytes(recording, x) > saved_bytes(layer, x)


@pytest.mark.parametrize('tokens,in_features,out_features,batch',
                         [(3136, 96, 384, 2), (49, 768, 3072, 8), (196, 384, 1536, 8)])
def test_fdlinear_keeps_at_most_three_times_a_plain_linear(tokens, in_features, out_features,
                                                           batch):
    x = torch.randn(batch, tokens, in_features, requires_grad=True)
    plain = nn.Linear(in_features, out_features)
    layer = FDLinear(in_features, out_features, kernel_num=64).train()
    ratio = saved_bytes(layer, x) / saved_bytes(plain, x)
    assert ratio <= 3, ratio


CASES = [
    (FDConv, (32, 48, 3), dict(padding=1, kernel_num=8), (3, 32, 11, 9)),
    (FDConv, (48, 32, 3), dict(padding=2, dilation=2, stride=2, kernel_num=4, param_ratio=2,
                               ksm_local_act='tanh', fbm_cfg=dict(k_list=[2, 4], lowfreq_att=True,
                                                                  spatial_group=4)),
     (2, 48, 12, 12)),
    (FDConv, (64, 32, 1), dict(kernel_num=16, bias=False), (2, 64, 7, 7)),
    (FDConv, (32, 32, 3), dict(padding=1, kernel_num=4, convert_param=False,
                               ksm_only_kernel_att=True, ksm_global_act='softmax'),
     (2, 32, 6, 6)),
    (FDLinear, (40, 24), dict(kernel_num=8), (3, 50, 40)),
    (FDLinear, (40, 24), dict(kernel_num=8, param_reduction=0.5), (3, 5, 40)),
]


@pytest.mark.parametrize('case', range(len(CASES)))
def test_recomputed_gradients_equal_the_recorded_ones(case):
    cls, args, options, shape = CASES[case]
    torch.manual_seed(0)
    layers = [cls(*args, **options, recompute=recompute).train() for recompute in (True, False)]
    with torch.no_grad():
        for param in layers[0].parameters():
            param.add_(torch.randn_like(param) * 0.3)
    layers[1].load_state_dict(layers[0].state_dict())
    x = torch.randn(shape)
    grad = None
    results = []
    for layer in layers:
        x_in = x.clone().requires_grad_()
        out = layer(x_in)
        grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        out.backward(grad)
        results.append([out, x_in.grad, *(p.grad for p in layer.parameters())])
    for got, expected in zip(*results):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6 * expected.abs().max().item())


def test_recomputed_node_gradcheck():
    """float64 gradcheck through the recomputing node (input, every parameter)."""
    torch.manual_seed(0)
    layer = FDConv(18, 20, 3, padding=1, kernel_num=3, param_ratio=2,
                   fbm_cfg=dict(k_list=[2, 4]), dtype=torch.float64).eval()
    with torch.no_grad():
        for param in layer.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    names, params = zip(*layer.named_parameters())
    x = torch.randn(2, 18, 5, 6, dtype=torch.float64, requires_grad=True)

    def function(x, *values):
        return torch.func.functional_call(layer, dict(zip(names, values)), (x,))

    assert torch.autograd.gradcheck(function, (x, *params), atol=1e-6, rtol=1e-4, fast_mode=True)
