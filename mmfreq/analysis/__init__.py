"""Analyses of the FDConv and FDAM papers as small tested functions (the ``tools/analysis``
scripts, ``tools/get_flops.py`` and ``tools/paper_tables.py`` are thin wrappers around them).

* :mod:`.spectral` — spectra, global (``|F(Y)| / |F(V)|``) and local (``|F(W_pq)|``) frequency
  responses of attention (FDAM supplementary A, B), radial profiles, high-frequency energy.
* :mod:`.representation` — effective rank (supplementary eq. 35), mean pairwise token cosine
  similarity (eq. 36), cross-layer similarity (Fig. 5).
* :mod:`.attention` — attention maps, values and AttInv gates recomputed from attention modules.
* :mod:`.modulation` — FreqScale modulation (Fig. 8), FBM band maps (FDConv Fig. 6), Fourier
  Disjoint Weight diversity (FDConv Fig. 5).
* :mod:`.hooks` — forward hooks recording every block of a backbone.
* :mod:`.complexity` — parameter / FLOP counting around ``mmengine.analysis`` (needs mmengine).
* :mod:`.logs` — metrics from ``work_dirs`` evaluation logs.
* :mod:`.paper_tables` — the papers' tables and their markdown rendering.
* :mod:`.layerwise` — the per-block computations behind the plots.
* :mod:`.runner` — model / image loading and figure saving for the scripts.

Scripts (``tools/analysis``, each ``CONFIG CHECKPOINT [IMAGES]``, PNGs under
``work_dirs/analysis``, numbers printed):

=============================  ==============================================================
``attention_frequency.py``     FDAM supp. A and Fig. 6: local / global attention response and
                               whole-layer response, layer by layer (baseline vs FDAM)
``rank_similarity.py``         FDAM supp. Fig. 4 (effective rank, token similarity per layer)
                               and Fig. 5 (cross-layer similarity)
``feature_spectrum.py``        FDAM supp. Fig. 9: feature maps and their spectra
``attinv_maps.py``             FDAM supp. Fig. 7: AttInv modulation (gate) maps
``freqscale_maps.py``          FDAM supp. Fig. 8: learned FreqScale frequency modulation
``fbm_maps.py``                FDConv Fig. 6: FBM band modulation maps, features, spectra
``fdw_diversity.py``           FDConv Fig. 5: cosine similarity and frequency responses of the
                               Fourier-disjoint kernel weights (no image needed)
=============================  ==============================================================
"""
from .attention import (AttentionInternals, attention_internals, attinv_gates, heads_to_maps,
                        is_attention_module)
from .hooks import BlockRecord, BlockRecorder, ModuleRecorder, find_blocks, infer_token_grid
from .modulation import (fbm_band_decomposition, fbm_band_maps, fdw_kernel_weights,
                         freq_scale_map, freq_scale_weight, kernel_groups_to_show,
                         pairwise_cosine_similarity, spectral_centroid, weight_matrix_spectra)
from .representation import (cross_layer_similarity, effective_rank,
                             mean_token_cosine_similarity, normalized_singular_values)
from .spectral import (amplitude_spectrum, attention_kernels, band_mean, frequency_grid,
                       global_frequency_response, high_frequency_energy_ratio,
                       local_frequency_response, log_amplitude_spectrum,
                       mean_local_frequency_response, radial_frequency,
                       radial_profile, rfft2_to_full, tokens_to_maps)

__all__ = [
    'AttentionInternals', 'attention_internals', 'attinv_gates', 'heads_to_maps',
    'is_attention_module',
    'BlockRecord', 'BlockRecorder', 'ModuleRecorder', 'find_blocks', 'infer_token_grid',
    'fbm_band_decomposition', 'fbm_band_maps', 'fdw_kernel_weights', 'freq_scale_map',
    'freq_scale_weight', 'kernel_groups_to_show', 'pairwise_cosine_similarity',
    'spectral_centroid', 'weight_matrix_spectra', 'cross_layer_similarity', 'effective_rank',
    'mean_token_cosine_similarity', 'normalized_singular_values', 'amplitude_spectrum',
    'attention_kernels', 'band_mean', 'frequency_grid', 'global_frequency_response',
    'high_frequency_energy_ratio', 'local_frequency_response', 'log_amplitude_spectrum',
    'mean_local_frequency_response',
    'radial_frequency', 'radial_profile', 'rfft2_to_full', 'tokens_to_maps',
]
