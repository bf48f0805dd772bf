"""Benchmarks that compare the toolkit with plain PyTorch in the same run."""
