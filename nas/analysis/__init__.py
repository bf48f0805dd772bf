"""Proxy-quality analysis: fidelity metrics, zero-cost baselines, reports."""
