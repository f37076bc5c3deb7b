"""Tests of mmfreq.analysis (the papers' analyses), tools/paper_tables.py, tools/get_flops.py and
the tools/analysis scripts (CPU, small models)."""
import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mmfreq.analysis import (BlockRecorder, attention_internals, cross_layer_similarity,
                             effective_rank, fbm_band_decomposition, fbm_band_maps,
                             fdw_kernel_weights, find_blocks, freq_scale_map,
                             global_frequency_response, heads_to_maps,
                             high_frequency_energy_ratio, infer_token_grid,
                             local_frequency_response, mean_local_frequency_response,
                             mean_token_cosine_similarity,
                             pairwise_cosine_similarity, radial_profile, rfft2_to_full,
                             spectral_centroid, weight_matrix_spectra)
from mmfreq.analysis.layerwise import (attinv_gate_maps, cross_layer_matrices,
                                       frequency_responses, representation_stats)
from mmfreq.analysis.logs import find_work_dirs, latest_metrics
from mmfreq.analysis.paper_tables import (PAPER_TABLES, MetricColumn, PaperRow, PaperTable,
                                          check_count, compute_table, parse_paper_count,
                                          table_markdown)
from mmfreq.layers import AttInvAttention, FDAMBlock, FDConv, FreqScale, FrequencyBandModulation

REPO = Path(__file__).resolve().parents[2]
TINY_DEIT = 'configs/demo/upernet_deit-s16-fdam-tiny_40it_demo-ade20k-64x64.py'


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _with_singular_values(values, rows=7, cols=5):
    u, _ = torch.linalg.qr(torch.randn(rows, rows, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, dtype=torch.float64))
    s = torch.zeros(rows, cols, dtype=torch.float64)
    s[range(len(values)), range(len(values))] = torch.tensor(values, dtype=torch.float64)
    return u @ s @ v.T


# ------------------------------------------------------------------------------------------------
# representation measures (supplementary F, G)

def test_effective_rank_of_known_singular_values():
    # k equal non-zero singular values: exactly k
    assert effective_rank(_with_singular_values([3.0, 3.0, 3.0])).item() == pytest.approx(3.0)
    assert effective_rank(_with_singular_values([5.0])).item() == pytest.approx(1.0)
    # p = (1/2, 1/4, 1/4): entropy 1.5 ln 2, effective rank 2 ** 1.5
    assert effective_rank(_with_singular_values([2.0, 1.0, 1.0])).item() == \
        pytest.approx(2 ** 1.5)
    batch = torch.stack([_with_singular_values([1.0, 1.0]), _with_singular_values([1.0] * 4)])
    assert effective_rank(batch).tolist() == pytest.approx([2.0, 4.0])


def test_token_cosine_similarity():
    token = torch.tensor([1.0, -2.0, 3.0])
    assert mean_token_cosine_similarity(token.repeat(6, 1)).item() == pytest.approx(1.0)
    assert mean_token_cosine_similarity(torch.eye(4)).item() == pytest.approx(0.0)
    opposite = torch.stack([token, -token])
    assert mean_token_cosine_similarity(opposite).item() == pytest.approx(1.0)  # |cos| (eq. 36)
    assert mean_token_cosine_similarity(opposite, absolute=False).item() == pytest.approx(-1.0)
    # pairs (0,1): 1, (0,2): 0, (1,2): 0 -> mean 1/3
    tokens = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    assert mean_token_cosine_similarity(tokens).item() == pytest.approx(1 / 3)


def test_cross_layer_similarity():
    x = torch.randn(2, 10, 8)
    matrix = cross_layer_similarity([x, 2 * x, torch.randn(2, 10, 8), -x])
    assert torch.allclose(matrix, matrix.T)
    assert torch.allclose(torch.diagonal(matrix), torch.ones(4, dtype=torch.float64))
    assert matrix[0, 1].item() == pytest.approx(1.0)
    assert matrix[0, 3].item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match='one shape'):
        cross_layer_similarity([x, torch.randn(2, 10, 4)])


# ------------------------------------------------------------------------------------------------
# frequency responses (supplementary A, B)

def test_softmax_kernel_is_low_pass():
    """Supplementary eq. 24: |F(W)| = 1 at DC and < 1 at every other frequency."""
    attn = (3 * torch.randn(2, 3, 20, 20)).softmax(dim=-1)
    response = local_frequency_response(attn, (4, 5), shift=False)
    assert response.shape == (2, 3, 20, 4, 5)
    assert torch.allclose(response[..., 0, 0], torch.ones(2, 3, 20, dtype=torch.float64))
    others = response.flatten(-2)[..., 1:]
    assert (others < 1 - 1e-9).all()
    assert torch.allclose(mean_local_frequency_response(attn, (4, 5)),
                          local_frequency_response(attn, (4, 5)).mean(dim=(0, 1, 2)))
    # the degenerate case of eq. 21: all mass on one key -> all-pass
    one_hot = torch.zeros(1, 12)
    one_hot[0, 5] = 1
    assert torch.allclose(local_frequency_response(one_hot, (3, 4)),
                          torch.ones(1, 3, 4, dtype=torch.float64))


def test_local_response_drops_prefix_tokens():
    attn = torch.randn(1, 2, 17, 17).softmax(-1)  # class token + 4x4 grid
    response = local_frequency_response(attn, (4, 4), num_prefix_tokens=1, shift=False)
    spatial_mass = attn[..., 1:, 1:].sum(-1).double()
    assert torch.allclose(response[..., 0, 0], spatial_mass)  # DC = kernel sum < 1
    normalized = local_frequency_response(attn, (4, 4), num_prefix_tokens=1, renormalize=True)
    assert torch.allclose(normalized.amax(dim=(-2, -1)), torch.ones(1, 2, 16, dtype=torch.float64))


def test_global_frequency_response():
    v = torch.randn(2, 4, 8, 8)
    assert torch.allclose(global_frequency_response(v, 3 * v), torch.full((8, 8), 3.0,
                                                                          dtype=torch.float64))
    # a circular box blur: response 1 at DC (centre after fftshift), <= 1 elsewhere
    blurred = (v + v.roll(1, -1) + v.roll(1, -2) + v.roll((1, 1), (-2, -1))) / 4
    response = global_frequency_response(v, blurred)
    assert response[4, 4].item() == pytest.approx(1.0)
    assert (response <= 1 + 1e-9).all()
    per_channel = global_frequency_response(v, blurred, per_channel=True)
    assert per_channel.shape == v.shape
    with pytest.raises(ValueError, match='same shape'):
        global_frequency_response(v, v[..., :4])


def test_spectral_helpers():
    x = torch.randn(3, 6, 10)
    for width in (10, 9):
        y = x[..., :width]
        full = rfft2_to_full(torch.fft.rfft2(y).abs(), width, shift=False)
        assert torch.allclose(full.float(), torch.fft.fft2(y).abs(), atol=1e-5)
    constant = torch.ones(2, 8, 8)
    checkerboard = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1
    assert high_frequency_energy_ratio(constant).tolist() == [0.0, 0.0]
    assert high_frequency_energy_ratio(checkerboard).item() == pytest.approx(1.0)
    centers, profile = radial_profile(torch.ones(16, 16), num_bins=8)
    assert centers.shape == (8,) and torch.allclose(profile, torch.ones(8, dtype=torch.float64))
    tokens = torch.randn(2, 3, 12, 4)  # (B, heads, N, head_dim), 3x4 grid
    maps = heads_to_maps(tokens, (3, 4))
    assert maps.shape == (2, 12, 3, 4)
    assert torch.equal(maps[1, 4 + 2, 1, 3], tokens[1, 1, 7, 2])


# ------------------------------------------------------------------------------------------------
# attention internals, checked against the modules' own forward passes

def test_attention_internals_match_attinv_attention():
    attn = AttInvAttention(32, 4, qkv_bias=True).eval()
    with torch.no_grad():
        attn.lf_gamma.normal_()
        attn.hf_gamma.normal_()
    x = torch.randn(2, 17, 32)
    internals = attention_internals(attn, x, (4, 4))
    out = attn.proj(internals.output_modulated.transpose(1, 2).reshape(2, 17, 32))
    assert torch.allclose(out, attn(x), atol=1e-5)
    assert torch.allclose(internals.attn, attn(x, return_attention=True)[1], atol=1e-6)
    assert internals.hf_gate.shape == (2, 4, 17)
    assert (internals.hf_gate >= 0).all() and (internals.hf_gate < 2).all()


def test_attention_internals_match_mmseg_attention():
    from mmfreq.models.mit_fdam import AttInvEfficientMultiheadAttention
    from mmfreq.models.vit_fdam import AttInvMultiheadAttention
    x = torch.randn(2, 16, 16)
    for attn_inv in (False, True):
        vit = AttInvMultiheadAttention(16, 2, attn_inv=attn_inv, batch_first=True).eval()
        mit = AttInvEfficientMultiheadAttention(16, 2, sr_ratio=2, attn_inv=attn_inv,
                                                qkv_bias=True).eval()
        for module, kwargs in ((vit, {}), (mit, dict(hw_shape=(4, 4)))):
            if attn_inv:
                with torch.no_grad():
                    module.lf_gamma.normal_()
                    module.hf_gamma.normal_()
            internals = attention_internals(module, x, (4, 4))
            y = internals.output_modulated.transpose(1, 2).reshape(x.shape)
            out = torch.nn.functional.linear(y, module.attn.out_proj.weight,
                                             module.attn.out_proj.bias)
            with torch.no_grad():
                expected = module.branch(x, **kwargs)
            assert torch.allclose(out, expected, atol=1e-5), (type(module).__name__, attn_inv)
            assert torch.allclose(internals.attn.sum(-1), torch.ones(2, 2, 16), atol=1e-6)
        assert internals.kv_hw == (2, 2)  # MiT keys on the 2x-reduced grid


# ------------------------------------------------------------------------------------------------
# modulation (FreqScale, FBM, FDW)

def test_fdw_kernels_are_disjoint_and_ordered_by_frequency():
    conv = FDConv(32, 48, 3, padding=1, kernel_num=4)
    weights = fdw_kernel_weights(conv)
    assert weights.shape == (4, 48, 32, 3, 3)
    cos = pairwise_cosine_similarity(weights)
    assert torch.allclose(cos, torch.eye(4, dtype=torch.float64), atol=1e-6)
    # linearity: the kernels add up to the FDW weight of an all-ones kernel attention
    assert torch.allclose(weights.sum(0), conv.fdw_weight(torch.ones(1, 4))[0], atol=1e-6)
    centroids = spectral_centroid(weight_matrix_spectra(weights))
    assert (centroids[1:] > centroids[:-1]).all()
    # a set of identical (redundant) weights, the dynamic-conv case of FDConv Fig. 5(a)
    redundant = weights[:1].repeat(3, 1, 1, 1, 1) * torch.tensor([1.0, 2.0, 0.5])[:, None, None,
                                                                                   None, None]
    assert torch.allclose(pairwise_cosine_similarity(redundant),
                          torch.ones(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match='Fourier Disjoint'):
        fdw_kernel_weights(FDConv(8, 8, 3, padding=1))  # falls back to a plain conv


def test_fbm_bands_and_maps_reproduce_fbm():
    fbm = FrequencyBandModulation(8, spatial_group=2)
    for conv in fbm.freq_weight_conv_list:
        torch.nn.init.normal_(conv.weight, std=0.3)
    x = torch.randn(2, 8, 20, 24)
    bands = fbm_band_decomposition(fbm, x)
    assert len(bands) == 4
    assert torch.allclose(sum(bands), x.double(), atol=1e-10)
    maps = fbm_band_maps(fbm, x)
    assert maps.shape == (2, 3, 2, 20, 24)
    groups = lambda t: t.reshape(2, 2, 4, 20, 24)  # noqa: E731
    recon = sum(groups(b) * maps[:, i, :, None] for i, b in enumerate(bands[:-1]))
    recon = (recon + groups(bands[-1])).reshape(x.shape)
    assert torch.allclose(recon, fbm(x).double(), atol=1e-5)


def test_freq_scale_map():
    fs = FreqScale(8, mode='static', size=4)
    with torch.no_grad():
        fs.complex_weights.fill_(0.25)
    x = torch.randn(2, 8, 6, 10)
    assert torch.allclose(freq_scale_map(fs, x), torch.full((6, 10), 0.25, dtype=torch.float64))
    assert torch.allclose(freq_scale_map(fs, x, gain=True),
                          torch.full((6, 10), 1.25, dtype=torch.float64))
    group = FreqScale(8, mode='group', groups=2, num_filters=3, size=4, reweight_ratio=0.25)
    weight_map = freq_scale_map(group, x)
    assert weight_map.shape == (6, 10) and torch.isfinite(weight_map).all()


# ------------------------------------------------------------------------------------------------
# hooks and layer-wise analyses

class _TinyViT(torch.nn.Module):
    """FDAM blocks on a 4x5 token grid with a class token (like DeiT-S)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Conv2d(3, 16, 4, stride=4)
        self.cls = torch.nn.Parameter(torch.randn(1, 1, 16))
        self.blocks = torch.nn.ModuleList([
            FDAMBlock(16, 2, freq_scale=dict(mode='group', groups=4, num_filters=2, size=4,
                                             reweight_ratio=0.25))
            for _ in range(3)])

    def forward(self, x):
        x = self.embed(x)
        hw = tuple(x.shape[-2:])
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], 1)
        for block in self.blocks:
            x = block(x, hw, num_prefix_tokens=1)
        return x


def test_block_recorder_and_layerwise_analyses():
    model = _TinyViT().eval()
    for block in model.blocks:
        with torch.no_grad():
            block.attn.hf_gamma.fill_(0.5)
    assert [n for n, _ in find_blocks(model)] == ['blocks.0', 'blocks.1', 'blocks.2']
    with BlockRecorder(model, (16, 20)) as recorder, torch.no_grad():
        model(torch.randn(2, 3, 16, 20))
    records = recorder.records
    assert [r.hw_shape for r in records] == [(4, 5)] * 3
    assert [r.num_prefix_tokens for r in records] == [1] * 3
    assert records[0].output_map().shape == (2, 16, 4, 5)
    assert records[0].attn_input.shape == (2, 21, 16)

    responses = frequency_responses(records)
    assert all(r['local'].shape == (4, 5) and r['global_'].shape == (4, 5) for r in responses)
    assert all(r['local'][2, 2].item() <= 1 + 1e-9 for r in responses)  # DC of a softmax kernel
    stats = representation_stats(records)
    assert all(0 <= s['cosine_similarity'] <= 1 and 1 <= s['effective_rank'] <= 16
               for s in stats)
    (group,) = cross_layer_matrices(records)
    assert group['matrix'].shape == (3, 3)
    gates = attinv_gate_maps(records)
    assert len(gates) == 3 and gates[0]['hf'].shape == (2, 2, 4, 5)
    assert gates[0]['hf_gamma'] == pytest.approx(0.5)


def test_infer_token_grid():
    assert infer_token_grid(32 * 128 + 1, (512, 2048)) == ((32, 128), 1)
    assert infer_token_grid(4 * 5, (13, 17)) == ((4, 5), 0)  # ceil(13/4), ceil(17/4)
    with pytest.raises(ValueError):
        infer_token_grid(7, (64, 64), max_prefix=0)


# ------------------------------------------------------------------------------------------------
# work_dirs logs and the paper tables

def _fake_work_dir(root: Path, stem: str, miou: float, test_miou=None):
    run = root / stem / '20250101_000000'
    (run / 'vis_data').mkdir(parents=True)
    lines = [dict(loss=1.0, iter=10, step=10), dict(mIoU=miou - 1, aAcc=50.0, step=10),
             dict(mIoU=miou, aAcc=51.0, step=20)]
    (run / 'vis_data' / 'scalars.json').write_text('\n'.join(json.dumps(x) for x in lines))
    if test_miou is not None:
        later = root / stem / '20250102_000000'
        later.mkdir()
        (later / '20250102_000000.json').write_text(json.dumps(dict(mIoU=test_miou)))


def test_latest_metrics(tmp_path):
    _fake_work_dir(tmp_path, 'cfg_a', 40.0)
    _fake_work_dir(tmp_path, 'cfg_b', 40.0, test_miou=41.5)
    assert find_work_dirs('configs/x/cfg_a.py', str(tmp_path)) == [str(tmp_path / 'cfg_a')]
    assert latest_metrics('cfg_a.py', ['mIoU'], str(tmp_path))['mIoU'] == 40.0
    assert latest_metrics('cfg_b', ['mIoU'], str(tmp_path))['mIoU'] == 41.5
    assert latest_metrics('cfg_a', ['coco/bbox_mAP'], str(tmp_path)) is None
    assert latest_metrics('missing', ['mIoU'], str(tmp_path)) is None


def test_paper_count_parsing_and_check():
    count = parse_paper_count('43.80(23.5)M')
    assert (count.value, count.backbone, count.delta) == (43.80e6, 23.5e6, False)
    assert count.tolerance == pytest.approx(0.005e6)
    assert parse_paper_count('+0.1M').delta
    assert parse_paper_count('70M').tolerance == pytest.approx(0.5e6)
    assert parse_paper_count('260.1', default_unit='G').value == pytest.approx(260.1e9)
    assert check_count(parse_paper_count('52.1M'), 52.09e6) is None
    assert check_count(parse_paper_count('52.1M'), 52.2e6) is not None
    assert check_count(parse_paper_count('+0.5M'), 0.581e6) is not None
    assert 'backbone' in check_count(parse_paper_count('45.4(23.5)M'), 45.4e6, 27.2e6)
    labels = {t.key: [r.label for r in t.rows] for t in PAPER_TABLES}
    for table in PAPER_TABLES:  # every "+x" row names a baseline of its own table
        for row in table.rows:
            assert row.baseline is None or row.baseline in labels[table.key]


def test_paper_table_on_a_small_config(tmp_path):
    from mmfreq.analysis.complexity import model_complexity
    _fake_work_dir(tmp_path, Path(TINY_DEIT).stem, 12.34)
    params = model_complexity(str(REPO / TINY_DEIT), params_only=True).params
    table = PaperTable(
        'demo', 'Demo table', (64, 64), (MetricColumn('mIoU', 'mIoU'),),
        (PaperRow('base', ('configs/demo/does-not-exist*.py',), params='1.0M'),
         PaperRow('tiny', (TINY_DEIT,), params=f'{params / 1e6:.3f}M', metrics={'mIoU': '1.23'}),
         PaperRow('tiny again', (TINY_DEIT,), params='9.9M', baseline='tiny')))
    calls = []

    def complexity(config, hw, params_only):
        calls.append((Path(config).name, tuple(hw), params_only))
        return model_complexity(config, hw, params_only=params_only,
                                cache_file=str(tmp_path / 'cache.json'))

    results = compute_table(table, complexity, work_dirs=str(tmp_path))
    assert results[0].config is None
    assert results[1].params == params and results[1].flops > 0
    assert results[1].metrics == {'mIoU': 12.34}
    text = table_markdown(table, results)
    lines = [line for line in text.splitlines() if line.startswith('| ')]
    assert len(lines) == 4  # header + 3 rows
    assert 'no config' in lines[1]
    assert lines[2].endswith('| ok |') and '| 12.34 |' in lines[2]
    assert '**differs**' in lines[3] and '(+0.00M)' in lines[3]
    assert calls[0] == (Path(TINY_DEIT).name, (64, 64), False)
    # FLOPs come from the cache the second time
    assert model_complexity(str(REPO / TINY_DEIT), (64, 64),
                            cache_file=str(tmp_path / 'cache.json')).cached


def test_two_stage_detector_flops_do_not_depend_on_what_an_untrained_rpn_proposes():
    """The RoI head is counted at the RPN's full number of proposals (max_per_img): the same
    FLOPs when the backbone's features are NaN (as an untrained DCD ResNet's are in eval mode,
    so that NMS keeps no proposal), and the box head's share grows with max_per_img."""
    from mmfreq.analysis.complexity import build_model, flop_analyzer, load_config
    cfg = load_config(str(REPO / 'configs/demo/faster-rcnn_r50-dcd-tiny_fpn_40it_demo-coco-128.py'))

    def flops(model):
        with torch.no_grad():
            analyzer = flop_analyzer(model, 'mmdet', (96, 128))
            try:
                return analyzer.total(), analyzer.total('roi_head')
            finally:
                del model.forward

    model = build_model(cfg)
    total, roi = flops(model)
    assert roi > 0
    with torch.no_grad():
        model.backbone.norm1.running_var.zero_()
        model.backbone.norm1.weight.fill_(float('inf'))
        features = model.extract_feat(torch.randn(1, 3, 96, 128))
        assert not torch.isfinite(features[0]).any()
    assert flops(model) == (total, roi)
    model.rpn_head.test_cfg.max_per_img //= 2
    assert flops(model)[1] == pytest.approx(roi / 2, rel=0.01)


# ------------------------------------------------------------------------------------------------
# the command-line tools, end to end on a tiny config with a saved random checkpoint

def _load_tool(relative: str):
    spec = importlib.util.spec_from_file_location(Path(relative).stem, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    import mmcv

    from mmfreq.analysis.runner import load_model
    root = tmp_path_factory.mktemp('analysis')
    model = load_model(str(REPO / TINY_DEIT)).model
    checkpoint = root / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    rng = np.random.default_rng(0)
    image = (rng.random((48, 60, 3)) * 255).astype(np.uint8)
    image[10:30, 20:40] = 255
    mmcv.imwrite(image, str(root / 'image.png'))
    return root


def test_analysis_scripts_end_to_end(tiny_checkpoint, capsys):
    root = tiny_checkpoint
    out = root / 'out'
    config = str(REPO / TINY_DEIT)
    common = [str(root / 'image.png'), '--size', '64', '64', '--out-dir', str(out)]
    attention = _load_tool('tools/analysis/attention_frequency.py').main(
        [config, str(root / 'tiny.pth'), *common, '--baseline-config', config,
         '--baseline-checkpoint', 'none', '--baseline-label', 'random init'])
    assert set(attention) == {'random init', Path(TINY_DEIT).stem}
    rank = _load_tool('tools/analysis/rank_similarity.py').main(
        [config, str(root / 'tiny.pth'), *common])
    assert len(rank[Path(TINY_DEIT).stem]['stats']) == 4
    gates = _load_tool('tools/analysis/attinv_maps.py').main(
        [config, str(root / 'tiny.pth'), *common])
    assert len(gates) == 4
    scales = _load_tool('tools/analysis/freqscale_maps.py').main(
        [config, str(root / 'tiny.pth'), *common])
    assert len(scales) == 8  # freq_scale_1 and freq_scale_2 of 4 blocks
    printed = capsys.readouterr().out
    assert '| layers.3 |' in printed and 'effective rank' in printed
    pngs = sorted(p.name for p in out.glob('*.png'))
    stem = Path(TINY_DEIT).stem
    for name in ('layer_response.png', 'response_profiles.png', 'rank_similarity.png',
                 f'{stem}_attention_local_response.png', f'{stem}_attinv_hf_maps.png',
                 f'{stem}_cross_layer_similarity.png', f'{stem}_freqscale_maps.png',
                 'random_init_attention_global_response.png'):
        assert name in pngs
    for png in out.glob('*.png'):
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 1000


def test_get_flops_tool(capsys):
    info = _load_tool('tools/get_flops.py').main([str(REPO / TINY_DEIT), '--shape', '64', '64',
                                                  '--max-depth', '1'])
    printed = capsys.readouterr().out
    assert info['flops'] > 0 and math.isfinite(info['params'])
    assert 'backbone' in printed and 'FLOPs:' in printed and 'aten::fft_rfft2' in printed


def test_paper_tables_tool_fast(tmp_path, capsys):
    markdown = tmp_path / 'tables.md'
    text = _load_tool('tools/paper_tables.py').main(
        ['--fast', '--tables', 'fdam-table3', '--markdown', str(markdown),
         '--work-dirs', str(tmp_path)])
    assert markdown.read_text().strip() == text.strip()
    assert '### FDAM supplementary Table 3' in text
    assert text.count('| g = ') == 4 and 'not computed' in text and 'not run' in text
    assert os.path.isfile(markdown)
