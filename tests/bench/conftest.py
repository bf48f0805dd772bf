import sys

import pytest


@pytest.fixture
def fresh_modules():
    """Modules a test adds to ``sys.modules`` (a stand-in checkout of the authors' code, the
    torchvision stand-in) and entries it adds to ``sys.path`` are removed after it."""
    before, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    sys.path[:] = path
