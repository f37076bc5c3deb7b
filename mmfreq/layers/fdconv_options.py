"""The options of FDConv and FDLinear, each declared once: name, release default, meaning and check.

Every option name of the authors' ``FDConv.__init__`` and of its ``fbm_cfg`` is accepted, so a
``conv_cfg`` copied from their configs builds. An option either behaves as in the release or is
refused when the layer is built, with a message naming it and saying why (docs/fdconv.md,
"Options"). :class:`~mmfreq.layers.FDConv`, :class:`~mmfreq.layers.FDLinear`, their docstrings and
signatures, the conversion helpers and mm configs all read these declarations.
"""
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

__all__ = ['Option', 'FDCONV_OPTIONS', 'FBM_OPTIONS', 'FDConvOptions', 'resolve_fdconv_options',
           'resolve_fbm_cfg', 'option_default', 'options_doc', 'options_signature']


@dataclass(frozen=True)
class Option:
    """One option: its release default, a one-line meaning and a check that returns the
    normalised value or raises ``ValueError`` naming the option and what it allows."""
    name: str
    default: Any
    doc: str
    check: Callable[[str, Any], Any]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_number(name, value):
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            or not math.isfinite(value)):
        raise ValueError(f'{name} must be a positive number, got {value!r}')
    return float(value)


def _optional(check):
    def optional(name, value):
        return None if value is None else check(name, value)
    return optional


def _positive_int(name, value):
    if not (_is_int(value) and value >= 1):
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


def _non_negative_int(name, value):
    if not (_is_int(value) and value >= 0):
        raise ValueError(f'{name} must be a non-negative int, got {value!r}')
    return value


def _flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return value


def _one_of(*allowed):
    def check(name, value):
        if value not in allowed:
            raise ValueError(f'{name} must be one of {allowed}, got {value!r}')
        return value
    return check


def _int_list(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
        raise ValueError(f'{name} must be a list of positive ints, got {value!r}')
    values = tuple(value)
    if not all(_is_int(v) and v > 0 for v in values):
        raise ValueError(f'{name} must be a list of positive ints, got {value!r}')
    return values


def _number_list(name, value):
    if (isinstance(value, (str, bytes)) or not hasattr(value, '__len__') or len(value) == 0
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                       for v in value)):
        raise ValueError(f'{name} must be a non-empty list of positive numbers, got {value!r}')
    return list(value)


def _odd_positive_int(name, value):
    if not (_is_int(value) and value >= 1 and value % 2 == 1):
        raise ValueError(f'{name} must be a positive odd int, got {value!r}')
    return value


def _size_pair(name, value):
    if (isinstance(value, (str, bytes)) or not hasattr(value, '__len__') or len(value) != 2
            or not all(_is_int(v) and v >= 1 for v in value)):
        raise ValueError(f'{name} must be a pair of positive ints (h, w), got {value!r}')
    return tuple(value)


def _no_effect(name, value):
    # the release stores these and never reads them: any value does what the release does
    return value


def _only(expected, why):
    def check(name, value):
        if value != expected:
            raise ValueError(f'{name}={value!r} is not supported: {why}; use {expected!r}')
        return value
    return check


FBM_OPTIONS: Tuple[Option, ...] = (
    Option('k_list', (2, 4, 8), 'band cut-offs 0.5 / kk (cycles per sample), highest first',
           _number_list),
    Option('lowfreq_att', False, 'also modulate the lowest band with a map', _flag),
    Option('fs_feat', 'feat', 'accepted, no effect (the release never reads it)', _no_effect),
    Option('act', 'sigmoid', "band map activation: sigmoid * 2, 1 + tanh, or softmax over the "
           "spatial_group maps times spatial_group", _one_of('sigmoid', 'tanh', 'softmax')),
    Option('spatial', 'conv', "how band maps are predicted: 'conv' (the release implements no "
           "other)", _only('conv', "the release implements only spatial='conv'")),
    Option('spatial_group', 1, 'channel groups sharing one band map (values > 64 mean one map per '
           'channel)', _positive_int),
    Option('spatial_kernel', 3, 'kernel size of the band-map convs', _odd_positive_int),
    Option('init', 'zero', "'zero': band-map conv weights ~ N(0, 1e-6), bias 0 (maps start at "
           "1); 'default': PyTorch's init", _one_of('zero', 'default')),
    Option('global_selection', False, 'accepted, no effect (the release never reads it)',
           _no_effect),
    Option('max_size', (64, 64), 'grid on which the band masks are computed before they are '
           'resized (nearest) to each input', _size_pair),
)

FDCONV_OPTIONS: Tuple[Option, ...] = (
    Option('reduction', 0.0625, 'KSM_Global hidden width max(int(in * reduction), 16)',
           _positive_number),
    Option('kernel_num', 4, 'Fourier-disjoint groups, one kernel-attention value each (per '
           'param_ratio copy); None: out // 2, with kernel_temp = sqrt(kernel_num * param_ratio)',
           _optional(_positive_int)),
    Option('use_fdconv_if_c_gt', 16, 'dynamic only if min(in, out) > this; otherwise exactly the '
           'plain layer', _non_negative_int),
    Option('use_fdconv_if_k_in', (1, 3), 'dynamic only for these square kernel sizes',
           _int_list),
    Option('use_fdconv_if_stride_in', (1,), 'accepted, no effect (the release never reads it)',
           _int_list),
    Option('use_fbm_if_k_in', (3,), 'Frequency Band Modulation for these kernel sizes',
           _int_list),
    Option('use_fbm_for_stride', False, 'also FBM when stride[0] > 1', _flag),
    Option('kernel_temp', 1.0, 'temperature of the kernel attention', _positive_number),
    Option('temp', None, 'temperature of the channel, filter and spatial factors; None: '
           'kernel_temp', _optional(_positive_number)),
    Option('att_multi', 2.0, 'scale of the sigmoid factors and of the sigmoid local map',
           _positive_number),
    Option('param_ratio', 1, 'copies of the Fourier weight (dft_weight\'s first axis); the '
           'kernel attention has kernel_num * param_ratio values', _positive_int),
    Option('param_reduction', 1.0, '1: every coefficient, scaled by alpha = min(in, out) // 2 * '
           'kernel_num * param_ratio / param_reduction; < 1: only the int(N * param_reduction) '
           'lowest-frequency coefficients are parameters, unscaled (as the release)',
           _positive_number),
    Option('ksm_only_kernel_att', False, 'KSM_Global predicts only the kernel attention',
           _flag),
    Option('att_grid', 1, 'accepted, no effect (the release never reads it)', _no_effect),
    Option('use_ksm_local', True, 'build KSM_Local, the dense per-element modulation map',
           _flag),
    Option('ksm_local_act', 'sigmoid', 'local map activation: sigmoid * att_multi or 1 + tanh',
           _one_of('sigmoid', 'tanh')),
    Option('ksm_global_act', 'sigmoid', "KSM_Global activations: 'sigmoid', 'tanh', or "
           "'softmax' (kernel attention only: requires ksm_only_kernel_att=True, as in the "
           "release)", _one_of('sigmoid', 'tanh', 'softmax')),
    Option('spatial_freq_decompose', False, 'only False: True doubles the release\'s channel '
           'and filter heads, whose forward then fails',
           _only(False, "the release's forward fails with spatial_freq_decompose=True "
                        "(its channel and filter factors no longer match the weight)")),
    Option('convert_param', True, 'True: the parameter is dft_weight; False: keep the dense '
           'weight and take its Fourier weight in every forward (same function)', _flag),
    Option('linear_mode', False, 'with convert_param=False and a 1x1 kernel: the dense weight is '
           'stored as (out, in), as in the release; no effect otherwise', _flag),
    Option('recompute', True, 'mmfreq only, the function is the same either way: keep only the '
           'input and small per-sample factors for backward and regenerate FBM bands and '
           'per-sample weights there (False: keep them, more memory, less time)', _flag),
    Option('fbm_cfg', None, 'FBM options (below; None: all defaults); a given dict must name '
           'k_list, the other keys default as listed', lambda name, value: resolve_fbm_cfg(value)),
)

_BY_NAME: Dict[str, Option] = {o.name: o for o in FDCONV_OPTIONS}
_FBM_BY_NAME: Dict[str, Option] = {o.name: o for o in FBM_OPTIONS}


def option_default(name: str):
    """The release default of an FDConv option."""
    return _BY_NAME[name].default


def resolve_fbm_cfg(fbm_cfg: Optional[Mapping]) -> Dict[str, Any]:
    """Validate an ``fbm_cfg``; keys not given take the defaults of :data:`FBM_OPTIONS`.

    ``k_list`` must be given: the release's FBM defaults it to ``[2]`` when a config's
    ``fbm_cfg`` omits it, unlike FDConv's own default ``[2, 4, 8]``; asking for it keeps both
    readings of a config from silently differing.
    """
    if fbm_cfg is None:
        return {o.name: o.default for o in FBM_OPTIONS}
    if not isinstance(fbm_cfg, Mapping):
        raise ValueError(f'fbm_cfg must be a dict with keys from {sorted(_FBM_BY_NAME)}, '
                         f'got {fbm_cfg!r}')
    unknown = sorted(set(fbm_cfg) - set(_FBM_BY_NAME))
    if unknown:
        raise ValueError(f'fbm_cfg has unknown keys {unknown}; allowed keys: '
                         f'{sorted(_FBM_BY_NAME)}')
    if 'k_list' not in fbm_cfg:
        raise ValueError("fbm_cfg must give k_list (e.g. k_list=[2, 4, 8]): without it the "
                         "release's FBM uses k_list=[2], not FDConv's default [2, 4, 8]")
    return {o.name: o.check(f'fbm_cfg {o.name}', fbm_cfg.get(o.name, o.default))
            for o in FBM_OPTIONS}


@dataclass(frozen=True)
class FDConvOptions:
    """Validated FDConv options (:func:`resolve_fdconv_options`); ``kernel_num=None`` and
    ``temp=None`` are resolved per layer by :meth:`for_layer`."""
    values: Dict[str, Any]

    def __getattr__(self, name):
        try:
            return self.__dict__['values'][name]
        except KeyError:
            raise AttributeError(name) from None

    def for_layer(self, out_channels: int) -> 'FDConvOptions':
        """Resolve ``kernel_num=None`` (``out // 2``, ``kernel_temp = sqrt(kernel_num *
        param_ratio)``) and ``temp=None`` (``= kernel_temp``) for a layer with ``out_channels``
        outputs."""
        values = dict(self.values)
        if values['kernel_num'] is None:
            values['kernel_num'] = max(out_channels // 2, 1)
            values['kernel_temp'] = math.sqrt(values['kernel_num'] * values['param_ratio'])
        if values['temp'] is None:
            values['temp'] = values['kernel_temp']
        return FDConvOptions(values)


def resolve_fdconv_options(owner: str = 'FDConv', **options) -> FDConvOptions:
    """Validate FDConv options given by name (missing ones take the release defaults).

    An unknown name raises ``TypeError`` listing the options; an invalid value or combination
    raises ``ValueError`` naming the option and what it allows.
    """
    unknown = sorted(set(options) - set(_BY_NAME))
    if unknown:
        raise TypeError(f'{owner} got unexpected option(s) {unknown}; its options are '
                        f'{[o.name for o in FDCONV_OPTIONS]}')
    values = {o.name: o.check(o.name, options.get(o.name, o.default)) for o in FDCONV_OPTIONS}
    if values['ksm_global_act'] == 'softmax' and not values['ksm_only_kernel_att']:
        raise ValueError("ksm_global_act='softmax' requires ksm_only_kernel_att=True: the release "
                         "has a softmax form only for the kernel attention (its channel, filter "
                         "and spatial heads raise NotImplementedError)")
    if not values['convert_param'] and values['param_reduction'] < 1:
        raise ValueError('param_reduction < 1 requires convert_param=True: the release cannot '
                         'reduce a dense weight (its forward fails)')
    return FDConvOptions(values)


def options_doc(indent: str = '    ') -> str:
    """One line per option (and per ``fbm_cfg`` key): name, default, meaning."""
    lines = [f'{indent}{o.name} (default {_show(o.default)}): {o.doc}.'
             for o in FDCONV_OPTIONS if o.name != 'fbm_cfg']
    lines.append(f'{indent}fbm_cfg: {_BY_NAME["fbm_cfg"].doc}:')
    lines += [f'{indent}    {o.name} (default {_show(o.default)}): {o.doc}.'
              for o in FBM_OPTIONS]
    return '\n'.join(lines)


def _show(value) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def options_signature(init: Callable) -> inspect.Signature:
    """``init``'s signature with every option as a keyword-only parameter (for ``help()`` and
    ``inspect.signature``) in place of its ``**options``."""
    signature = inspect.signature(init)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    keyword_only = [p for p in params if p.kind is p.KEYWORD_ONLY]
    positional = [p for p in params if p.kind is not p.KEYWORD_ONLY]
    options = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
               for o in FDCONV_OPTIONS]
    return signature.replace(parameters=positional + keyword_only + options)
