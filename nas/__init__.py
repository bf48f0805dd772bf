"""NAS on distilled proxy data: rank architectures by training them on small proxy sets."""

__version__ = "0.1.0"
