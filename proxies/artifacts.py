"""Kinds of stored artifacts that proxies sample their sets from, each named once here.

An artifact is a stored row without an IPC (a generator, latent priors); a proxy method that
``consumes`` a kind builds sets of any IPC from one artifact of that kind.
"""

GAN_GENERATOR = "gan-generator"  # pre-trained (or imported) class-conditional generator
D2M_GENERATOR = "d2m-generator"  # a GAN generator refined by D2M distillation
D3_PRIORS = "d3-priors"  # D3's per-class latent priors + decoder

MADE_BY = {  # the command that stores an artifact of each kind
    GAN_GENERATOR: "nas pretrain",
    D2M_GENERATOR: "nas distill --method d2m",
    D3_PRIORS: "nas distill --method d3",
}
