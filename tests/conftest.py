import pytest

from mmfreq.demo_data import make_demo_data


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """Demo ADE20K / COCO / DOTA data in the real formats, written once per test session."""
    root = tmp_path_factory.mktemp('demo_data')
    make_demo_data(root, num_train=8, num_val=4, size=128, seed=0)
    return root
