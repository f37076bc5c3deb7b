"""How many samples of a batch FDConv processes at once on the CPU.

Every sample has its own weight, so FDConv's weight-sized and map-sized work is independent per
sample. Run over a whole batch at once, its temporaries (per-sample spectra, weights and their
gradients, FBM's spectra and bands) grow with the batch: past a few MB they leave the CPU caches,
and past the allocator's threshold for reusing memory (32 MB in glibc) each one is a fresh
mapping whose pages fault in on first use, so the cost grows faster than the batch
(docs/fdconv.md, "Memory and speed"). Processing the batch in chunks of samples, each small
enough to stay cache- and allocator-friendly, keeps the cost linear in the batch.

On CUDA the whole batch is one chunk (its kernels want the parallelism; its caching allocator
reuses memory), and so it is under ``torch.compile`` / ``torch.export``, where the batch size may
be symbolic.
"""
import torch

from .torch_support import is_compiling

__all__ = ['CHUNK_BYTES', 'samples_per_chunk']

# measured with benchmarks/bench_fdconv.py --chunk-bytes (docs/fdconv.md, "Memory and speed")
CHUNK_BYTES = 4 << 20


def samples_per_chunk(batch: int, sample_bytes: int, device: torch.device,
                      chunk_bytes: int = CHUNK_BYTES) -> int:
    """Samples per chunk for a batch whose weight- and map-sized work takes ``sample_bytes`` per
    sample: as many as fit in ``chunk_bytes`` (at least one) on the CPU, else the whole batch."""
    if device.type != 'cpu' or is_compiling() or batch <= 1:
        return batch
    return max(1, min(batch, chunk_bytes // max(1, sample_bytes)))
