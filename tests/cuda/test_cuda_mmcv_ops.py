"""mmcv's CUDA ops as the detectors use them (``nms``, ``roi_align``, multi-scale deformable
attention): built with CUDA, and on CUDA tensors equal to mmcv's CPU ops or its pure-torch
reference, forward and backward."""
import pytest
import torch
from torch.testing import assert_close

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason='needs a CUDA GPU (torch.cuda.is_available() is False)')]

TOL = dict(rtol=1e-4, atol=1e-4)


def test_mmcv_ops_built_with_cuda():
    from mmcv.ops import get_compiling_cuda_version
    version = get_compiling_cuda_version()
    assert version != 'not available', (
        'mmcv._ext has no CUDA ops: rebuild it (tools/setup_env.sh on a GPU machine, or with '
        'MMFREQ_CUDA_ARCH set; see the README, "Install on a CUDA machine")')
    assert version.split('.')[0] == torch.version.cuda.split('.')[0], (version, torch.version.cuda)


def test_nms_cuda_keeps_the_expected_boxes():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.],
                          [0., 0., 10., 10.5]], device='cuda')
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95], device='cuda')
    # box 3 (best) suppresses box 0 (IoU 100/105) and box 1 (IoU 85.5/119.5); box 2 overlaps none
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.is_cuda and keep.tolist() == [3, 2]
    assert_close(dets, torch.cat([boxes[[3, 2]], scores[[3, 2], None]], 1))


def test_nms_cuda_matches_cpu():
    from mmcv.ops import nms
    gen = torch.Generator().manual_seed(0)
    corner = torch.rand(300, 2, generator=gen) * 100
    boxes = torch.cat([corner, corner + 5 + torch.rand(300, 2, generator=gen) * 30], 1)
    scores = torch.rand(300, generator=gen)
    dets_cpu, keep_cpu = nms(boxes, scores, iou_threshold=0.5)
    dets_cuda, keep_cuda = nms(boxes.cuda(), scores.cuda(), iou_threshold=0.5)
    assert 10 < len(keep_cpu) < 290  # the case suppresses some boxes and keeps others
    assert torch.equal(keep_cuda.cpu(), keep_cpu)
    assert_close(dets_cuda.cpu(), dets_cpu)


@pytest.mark.parametrize('aligned', [True, False])
def test_roi_align_cuda_matches_cpu_forward_backward(aligned, full_fp32):
    from mmcv.ops import RoIAlign
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 8, 16, 20, generator=gen)
    rois = torch.tensor([[0, 3.0, 4.0, 20.6, 25.4], [1, 0.0, 0.0, 39.0, 31.0],
                         [0, 10.4, 6.2, 15.8, 12.8], [1, 6.0, 8.0, 37.0, 18.0]])
    grad_out = torch.randn(4, 8, 7, 7, generator=gen)
    op = RoIAlign((7, 7), spatial_scale=0.5, sampling_ratio=0, aligned=aligned)
    results = []
    for device in ('cpu', 'cuda'):
        x = feat.to(device).requires_grad_()
        out = op(x, rois.to(device))
        (out * grad_out.to(device)).sum().backward()
        results.append((out.detach().cpu(), x.grad.cpu()))
    (out_cpu, grad_cpu), (out_cuda, grad_cuda) = results
    assert out_cpu.abs().mean() > 0.1 and grad_cpu.abs().sum() > 1
    assert_close(out_cuda, out_cpu, **TOL)
    assert_close(grad_cuda, grad_cpu, **TOL)


def test_multi_scale_deformable_attention_cuda_matches_pytorch_reference(full_fp32):
    from mmcv.ops.multi_scale_deform_attn import (MultiScaleDeformableAttnFunction,
                                                  multi_scale_deformable_attn_pytorch)
    gen = torch.Generator().manual_seed(0)
    batch, queries, heads, head_dim, points = 2, 30, 4, 8, 4
    shapes = torch.tensor([[12, 16], [6, 8], [3, 4]])
    level_start = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    value = torch.randn(batch, int(shapes.prod(1).sum()), heads, head_dim, generator=gen)
    # some points fall outside the maps (zero padding), as learned offsets do
    locations = torch.rand(batch, queries, heads, len(shapes), points, 2, generator=gen) * 1.2 - 0.1
    weights = torch.rand(batch, queries, heads, len(shapes), points, generator=gen)
    weights = weights / weights.sum((-2, -1), keepdim=True)
    grad_out = torch.randn(batch, queries, heads * head_dim, generator=gen)

    inputs = [t.clone().requires_grad_() for t in (value, locations, weights)]
    ref = multi_scale_deformable_attn_pytorch(inputs[0], shapes, inputs[1], inputs[2])
    (ref * grad_out).sum().backward()

    cuda_inputs = [t.cuda().requires_grad_() for t in (value, locations, weights)]
    out = MultiScaleDeformableAttnFunction.apply(cuda_inputs[0], shapes.cuda(), level_start.cuda(),
                                                 cuda_inputs[1], cuda_inputs[2], 64)
    (out * grad_out.cuda()).sum().backward()

    assert ref.abs().mean() > 0.1
    assert_close(out.detach().cpu(), ref.detach(), **TOL)
    for name, cpu_input, cuda_input in zip(('value', 'locations', 'weights'), inputs, cuda_inputs):
        assert cpu_input.grad.abs().sum() > 1, name
        assert_close(cuda_input.grad.cpu(), cpu_input.grad, **TOL, msg=lambda m: f'{name}: {m}')
