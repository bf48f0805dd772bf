"""Datasets: decode once into uint8 tensors, cache by content, split deterministically."""

from nas.core.data.loaders import DataError, RawDataset, load_raw
from nas.core.data.prepare import DataConfig, PreparedData, prepare
from nas.core.data.source import portable_path, resolve_data_path

__all__ = [
    "DataConfig",
    "DataError",
    "PreparedData",
    "RawDataset",
    "load_raw",
    "portable_path",
    "prepare",
    "resolve_data_path",
]
