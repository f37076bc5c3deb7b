import pytest

from mmfreq.demo_data import make_demo_data


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """Demo ADE20K / COCO / DOTA / Cityscapes data in the real formats, written once per test
    session."""
    root = tmp_path_factory.mktemp('demo_data')
    make_demo_data(root, num_train=8, num_val=4, size=128, seed=0)
    return root


@pytest.fixture(autouse=True)
def no_default_scope():
    """Run every test without an mm default scope left over from an earlier test: a Runner or
    ``init_default_scope`` elsewhere in the session would make ``MODELS.build`` look names up in
    that codebase's registry instead of the one the test asks for."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    DefaultScope._instance_dict.clear()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
