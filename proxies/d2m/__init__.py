"""D2M: distil a dataset into a class-conditional generator, then generate any IPC from it.

Modules by job: ``generator`` (BigGAN-style G and projection D), ``pretrain`` (GAN training),
``model_pool`` (random feature extractors), ``losses`` (L_EM, L_PM), ``distill`` (refinement
loop), ``generate`` (sets of any IPC; registers the ``d2m`` proxy), ``checkpoint`` (files).
"""

from proxies.d2m.checkpoint import load_generator, save_generator
from proxies.d2m.distill import D2MConfig, DistillResult, distill
from proxies.d2m.generate import generate
from proxies.d2m.generator import Discriminator, Generator, GeneratorConfig
from proxies.d2m.model_pool import Features, ModelPool
from proxies.d2m.pretrain import PretrainConfig, PretrainResult, pretrain

__all__ = ["D2MConfig", "Discriminator", "DistillResult", "Features", "Generator",
           "GeneratorConfig", "ModelPool", "PretrainConfig", "PretrainResult", "distill",
           "generate", "load_generator", "pretrain", "save_generator"]
