"""The low-level toolkit: data, augmentation, the training loop, seeding and runtime.

Everything above (proxies, the API, engines, CLI) builds on these modules; nothing here
imports from those layers.
"""
