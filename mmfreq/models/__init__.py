"""OpenMMLab registrations of mmfreq's layers, backbones and necks.

``MODULES`` lists, per package, the modules of this folder that need it. :func:`register_installed`
(called by ``import mmfreq``) imports those of every package that is installed and skips the
others, so ``import mmfreq`` works with any subset of mmdet, mmseg, mmrotate and mmpretrain (or
none).
"""
import functools
import importlib
import importlib.util
import warnings

# package -> modules registering into its registries (mmengine: the root registries, all scopes)
MODULES = {
    'mmengine': ('conv_layers', 'layer_decay_optim', 'dynamic_conv_layers', 'temperature_hook',
                 'run_reports'),
    'mmdet': ('resnet_fdconv', 'convnext', 'swin_fdconv', 'det_data_preprocessor',
              'resnet_dynamic', 'fdconv_backbone'),
    'mmseg': ('resnet_fdconv', 'swin_fdconv', 'vit_fdam', 'mit_fdam', 'deit3_fdam',
              'resnet_dynamic', 'fdconv_backbone'),
    'mmrotate': ('lsknet',),
    'mmpretrain': ('resnet_fdconv',),  # the optional extra [cls]; needs a matching torchvision
}

registered = []  # the packages of MODULES whose modules are registered, in order


@functools.lru_cache(maxsize=None)
def usable(package: str) -> bool:
    """Whether ``package`` is installed and imports (warns once when it is installed but does
    not); the modules of this folder register into a codebase only then."""
    if importlib.util.find_spec(package) is None:
        return False  # not installed
    try:
        importlib.import_module(package)
    except (ImportError, AssertionError) as error:
        # installed but unusable: a dependency is missing, or one of the version checks that
        # OpenMMLab packages assert when imported failed
        warnings.warn(f'mmfreq: {package} is installed but cannot be imported ({error}); '
                      f'mmfreq modules for {package} are not registered')
        return False
    return True


def register_installed() -> list:
    """Import the modules of every installed package of ``MODULES`` (once); returns
    :data:`registered`."""
    if registered or not usable('mmengine'):
        return registered
    for package, modules in MODULES.items():
        if package == 'mmengine' or usable(package):
            for module in modules:
                importlib.import_module(f'{__name__}.{module}')
            registered.append(package)
    return registered
