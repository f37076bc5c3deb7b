"""The FDAM release's DeiT-III-B + FDAM UPerNet model, written out independently for the tests:
its checkpoint layout (names and shapes) and a functional forward, both from the description in
docs/fdam.md and the FDAM supplementary, not from any model code. Used to check that the model the
config builds loads that layout with ``strict=True`` and computes the same features and logits.
"""
import math

import torch
import torch.nn.functional as F

HF_OFFSET = 0.3678  # the high-frequency gate's constant (about 1/e)


def release_segmentor_shapes(dim=768, depth=12, heads=12, mlp_ratio=4, grid=32, n=4, g=16,
                             size=14, head_channels=512, aux_channels=256, num_classes=150,
                             pool_scales=(1, 2, 3, 6)):
    """``name -> shape`` of the released segmentor checkpoint (``backbone``, ``neck``,
    ``decode_head`` = UPerHead, ``auxiliary_head`` = FCNHead); ``()`` marks an integer buffer."""
    shapes = {}

    def bn(prefix, channels):
        shapes.update({prefix + 'weight': (channels,), prefix + 'bias': (channels,),
                       prefix + 'running_mean': (channels,), prefix + 'running_var': (channels,),
                       prefix + 'num_batches_tracked': ()})

    def conv_module(prefix, cin, cout, k):  # conv without bias, BN (ReLU has no parameters)
        shapes[prefix + 'conv.weight'] = (cout, cin, k, k)
        bn(prefix + 'bn.', cout)

    b = 'backbone.'
    hidden = int(dim * 0.0625)
    shapes.update({b + 'patch_embed.proj.weight': (dim, 3, 16, 16),
                   b + 'patch_embed.proj.bias': (dim,), b + 'pos_embed': (1, grid * grid, dim)})
    for i in range(depth):
        p = f'{b}blocks.{i}.'
        shapes.update({
            p + 'norm1.weight': (dim,), p + 'norm1.bias': (dim,),
            p + 'attn.qkv.weight': (3 * dim, dim), p + 'attn.qkv.bias': (3 * dim,),
            p + 'attn.proj.weight': (dim, dim), p + 'attn.proj.bias': (dim,),
            p + 'attn.dy_freq_starrelu.scale': (1,), p + 'attn.dy_freq_starrelu.bias': (1,),
            p + 'attn.dy_freq.weight': (heads, dim), p + 'attn.dy_freq.bias': (heads,),
            p + 'attn.dy_freq_2.weight': (heads, dim), p + 'attn.dy_freq_2.bias': (heads,),
            p + 'attn.lf_gamma': (dim,), p + 'attn.hf_gamma': (dim,),
            p + 'norm2.weight': (dim,), p + 'norm2.bias': (dim,),
            p + 'mlp.fc1.weight': (dim * mlp_ratio, dim), p + 'mlp.fc1.bias': (dim * mlp_ratio,),
            p + 'mlp.fc2.weight': (dim, dim * mlp_ratio), p + 'mlp.fc2.bias': (dim,),
            p + 'gamma_1': (dim,), p + 'gamma_2': (dim,)})
        for fs in ('freq_scale_1.', 'freq_scale_2.'):
            shapes.update({
                p + fs + 'complex_weights': (n, dim // g, size, size // 2 + 1),
                p + fs + 'reweight.fc1.weight': (hidden, dim),
                p + fs + 'reweight.act.scale': (1,), p + fs + 'reweight.act.bias': (1,),
                p + fs + 'reweight.fc2.weight': (g * n, hidden)})
    for name in ('neck.fpn1.0.', 'neck.fpn1.3.', 'neck.fpn2.0.'):
        shapes[name + 'weight'] = (dim, dim, 2, 2)
        shapes[name + 'bias'] = (dim,)
    bn('neck.fpn1.1.', dim)
    d = 'decode_head.'
    for j, _ in enumerate(pool_scales):
        conv_module(f'{d}psp_modules.{j}.1.', dim, head_channels, 1)
    conv_module(d + 'bottleneck.', dim + len(pool_scales) * head_channels, head_channels, 3)
    for i in range(3):
        conv_module(f'{d}lateral_convs.{i}.', dim, head_channels, 1)
        conv_module(f'{d}fpn_convs.{i}.', head_channels, head_channels, 3)
    conv_module(d + 'fpn_bottleneck.', 4 * head_channels, head_channels, 3)
    shapes.update({d + 'conv_seg.weight': (num_classes, head_channels, 1, 1),
                   d + 'conv_seg.bias': (num_classes,)})
    conv_module('auxiliary_head.convs.0.', dim, aux_channels, 3)
    shapes.update({'auxiliary_head.conv_seg.weight': (num_classes, aux_channels, 1, 1),
                   'auxiliary_head.conv_seg.bias': (num_classes,)})
    return shapes


def random_state(shapes, seed=0):
    """Random tensors of those shapes, scaled so that every term (AttInv, FreqScale, layer scale)
    changes the output visibly while 12 blocks stay well conditioned."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    state = {}
    for name, shape in shapes.items():
        last = name.rsplit('.', 1)[-1]
        if not shape:
            state[name] = torch.tensor(7)
        elif last == 'running_var':
            state[name] = 0.5 + torch.rand(*shape, generator=gen)
        elif last in ('running_mean', 'bias') or name.endswith('pos_embed'):
            state[name] = 0.1 * randn(*shape)
        elif last == 'scale' or (last == 'weight' and len(shape) == 1):  # StarReLU, norms
            state[name] = 1 + 0.1 * randn(*shape)
        elif last == 'complex_weights':
            state[name] = 0.5 * randn(*shape)
        elif last in ('gamma_1', 'gamma_2', 'lf_gamma', 'hf_gamma'):
            state[name] = 0.5 * randn(*shape)
        else:  # Linear / conv weights: unit gain
            fan_in = math.prod(shape[1:])
            state[name] = randn(*shape) / math.sqrt(fan_in)
    return state


def _linear(s, prefix, x):
    return F.linear(x, s[prefix + 'weight'], s.get(prefix + 'bias'))


def _star_relu(s, prefix, x):
    return s[prefix + 'scale'] * torch.relu(x) ** 2 + s[prefix + 'bias']


def _attinv(s, p, x, heads):
    """AttInv on the normalised tokens x (B, N, C): y' = y + y s_lf g_lf + s_hf (V - y) g_hf."""
    batch, tokens, dim = x.shape
    head_dim = dim // heads
    qkv = _linear(s, p + 'qkv.', x).reshape(batch, tokens, 3, heads, head_dim)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, N, head_dim)
    attn = (q @ k.transpose(-2, -1) / math.sqrt(head_dim)).softmax(-1)
    y = (attn @ v).transpose(1, 2)  # (B, N, heads, head_dim)
    v = v.transpose(1, 2)
    f = _star_relu(s, p + 'dy_freq_starrelu.', x)
    s_lf = torch.tanh(_linear(s, p + 'dy_freq_2.', f))[..., None]
    soft = F.softplus(_linear(s, p + 'dy_freq.', f))[..., None]
    s_hf = 2 * soft ** 2 / (soft ** 2 + HF_OFFSET)
    g_lf = s[p + 'lf_gamma'].view(heads, head_dim)
    g_hf = s[p + 'hf_gamma'].view(heads, head_dim)
    y = y + y * s_lf * g_lf + s_hf * (v - y) * g_hf
    return _linear(s, p + 'proj.', y.reshape(batch, tokens, dim))


def _group_freq_scale(s, p, z, n, g):
    """z (B, C, H, W) -> FreqScale(z): per-sample, per-group mix of the n real frequency bases."""
    batch, channels, height, width = z.shape
    pooled = z.mean(dim=(2, 3))
    hidden = _star_relu(s, p + 'reweight.act.', F.linear(pooled, s[p + 'reweight.fc1.weight']))
    routing = torch.tanh(F.linear(hidden, s[p + 'reweight.fc2.weight'])).view(batch, g, n)
    bases = s[p + 'complex_weights']
    spectrum_hw = (height, width // 2 + 1)
    if tuple(bases.shape[-2:]) != spectrum_hw:
        bases = F.interpolate(bases, size=spectrum_hw, mode='bicubic', align_corners=True)
    weight = torch.einsum('bgn,nchw->bgchw', routing, bases).reshape(batch, channels,
                                                                      *spectrum_hw)
    spectrum = torch.fft.rfft2(z, norm='ortho') * weight
    return torch.fft.irfft2(spectrum, s=(height, width), norm='ortho')


def _to_map(tokens, hw):
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *hw)


def _to_tokens(feature_map):
    return feature_map.flatten(2).transpose(1, 2)


def reference_backbone(s, img, depth, heads, out_indices=(2, 5, 8, 11), n=4, g=16):
    """Maps after blocks ``out_indices``, each (B, C, H/16, W/16)."""
    b = 'backbone.'
    x = F.conv2d(img, s[b + 'patch_embed.proj.weight'], s[b + 'patch_embed.proj.bias'], stride=16)
    hw = tuple(x.shape[-2:])
    dim = x.shape[1]
    pos = s[b + 'pos_embed']
    side = math.isqrt(pos.shape[1])
    pos = F.interpolate(pos.reshape(1, side, side, dim).permute(0, 3, 1, 2), size=hw,
                        mode='bicubic', align_corners=False)
    x = _to_tokens(x + pos)
    outs = []
    for i in range(depth):
        p = f'{b}blocks.{i}.'
        ln = [(p + f'norm{j}.weight', p + f'norm{j}.bias') for j in (1, 2)]
        a = _attinv(s, p + 'attn.', F.layer_norm(x, (dim,), s[ln[0][0]], s[ln[0][1]], 1e-6),
                    heads)
        a_map = _to_map(a, hw)
        a = _to_tokens(a_map + _group_freq_scale(s, p + 'freq_scale_1.', a_map, n, g))
        x = x + s[p + 'gamma_1'] * a
        m = F.layer_norm(x, (dim,), s[ln[1][0]], s[ln[1][1]], 1e-6)
        m = _linear(s, p + 'mlp.fc2.', F.gelu(_linear(s, p + 'mlp.fc1.', m)))
        m_map = _to_map(m, hw)
        m = _to_tokens(m_map + _group_freq_scale(s, p + 'freq_scale_2.', m_map, n, g))
        x = x + s[p + 'gamma_2'] * m
        if i in out_indices:
            outs.append(_to_map(x, hw))
    return outs


def _bn(s, p, x, eps=1e-5):
    return F.batch_norm(x, s[p + 'running_mean'], s[p + 'running_var'], s[p + 'weight'],
                        s[p + 'bias'], training=False, eps=eps)


def reference_neck(s, maps):
    """The release neck: fpn1 (4x up), fpn2 (2x up), identity, max-pool 2x."""
    def up(p, x):
        return F.conv_transpose2d(x, s[p + 'weight'], s[p + 'bias'], stride=2)

    f1 = up('neck.fpn1.3.', F.gelu(_bn(s, 'neck.fpn1.1.', up('neck.fpn1.0.', maps[0]))))
    return [f1, up('neck.fpn2.0.', maps[1]), maps[2], F.max_pool2d(maps[3], 2, 2)]


def _conv_module(s, p, x):
    kernel = s[p + 'conv.weight'].shape[-1]
    return torch.relu(_bn(s, p + 'bn.', F.conv2d(x, s[p + 'conv.weight'], padding=kernel // 2)))


def _resize(x, size):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def _conv_seg(s, p, x):
    return F.conv2d(x, s[p + 'conv_seg.weight'], s[p + 'conv_seg.bias'])


def reference_uper_head(s, feats, pool_scales=(1, 2, 3, 6)):
    """UPerHead (eval): pyramid pooling on the last map, FPN top-down fusion, logits at stride 4."""
    d = 'decode_head.'
    last = feats[3]
    psp = [last] + [_resize(_conv_module(s, f'{d}psp_modules.{j}.1.',
                                         F.adaptive_avg_pool2d(last, scale)), last.shape[2:])
                    for j, scale in enumerate(pool_scales)]
    laterals = [_conv_module(s, f'{d}lateral_convs.{i}.', feats[i]) for i in range(3)]
    laterals.append(_conv_module(s, d + 'bottleneck.', torch.cat(psp, dim=1)))
    for i in range(3, 0, -1):
        laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[2:])
    outs = [_conv_module(s, f'{d}fpn_convs.{i}.', laterals[i]) for i in range(3)]
    outs.append(laterals[3])
    outs = [outs[0]] + [_resize(o, outs[0].shape[2:]) for o in outs[1:]]
    return _conv_seg(s, d, _conv_module(s, d + 'fpn_bottleneck.', torch.cat(outs, dim=1)))


def reference_fcn_head(s, feats, in_index=3):
    """FCNHead (eval): one 3x3 conv module on ``feats[in_index]``, then the classifier."""
    a = 'auxiliary_head.'
    return _conv_seg(s, a, _conv_module(s, a + 'convs.0.', feats[in_index]))
