"""Load a script of ``benchmarks/`` (not a package) as a module, for the tests that call it."""

import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The authors' ``utils.TensorDataset`` as the stand-in checkouts of the dataset-condensation
# code define it (tests/bench/test_authors_*.py).
STANDIN_TENSOR_DATASET = '''

class TensorDataset:
    def __init__(self, images, labels):
        self.images, self.labels = images.detach().float(), labels.detach()

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def __len__(self):
        return len(self.images)
'''
