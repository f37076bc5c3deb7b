"""OpenMMLab registrations of mmfreq's layers, backbones and necks."""
