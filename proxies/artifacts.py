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

BUILT_FROM = {  # the artifact kind each kind is made from (d2m refines a pre-trained generator)
    D2M_GENERATOR: GAN_GENERATOR,
}

# What a command costs at the README's CPU budget (CIFAR-10 at 16x16, 4,500 training images,
# one thread), with the recipe that trained best there: a cvae keeping informative codes, its
# decoder refined on its encoder's latent bank (benchmarks/results/README.md, "D2M: latent
# bank and on the fly"; docs/papers.md#d2m-latents)
COST = {
    GAN_GENERATOR: "`nas pretrain --width 16 --iterations 6000 --kl-weight 0.01`, "
                   "about 13 CPU-minutes",
    D2M_GENERATOR: "`nas distill --method d2m --iterations 200 --latents posterior`, "
                   "about 1.5 CPU-minutes",
}


def build_path(kind: str, stored: set[str]) -> list[str]:
    """The commands (with their cost where measured) that make an artifact of ``kind``, in
    order, starting after the last kind of its chain already in ``stored``."""
    chain = [kind]
    while chain[-1] in BUILT_FROM and BUILT_FROM[chain[-1]] not in stored:
        chain.append(BUILT_FROM[chain[-1]])
    return [COST.get(k, f"`{MADE_BY[k]}`") for k in reversed(chain)]
