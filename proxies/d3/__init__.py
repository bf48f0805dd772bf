"""D3, Distributional Dataset Distillation with subtask decomposition (arXiv 2403.00999)."""

from proxies.d3 import artifact as _artifact  # noqa: F401  (registers the "d3" proxy)
