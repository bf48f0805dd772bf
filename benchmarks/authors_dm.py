"""Run the dataset-condensation authors' own DM (``main_DM.py`` of VICO-UoE/DatasetCondensation)
on the toolkit's prepared split, and save its result file for ``nas proxy import``.

    PYTHONPATH=. python benchmarks/authors_dm.py CODE_DIR OUT_DIR --ipc 10 --seed 0 \
        [--iterations 200] [--batch-real 64] [--resize 16] [--per-class 500] \
        [--test-per-class 100] [--threads 1]

CODE_DIR is a checkout of that repository (its ``main_DM.py``, ``utils.py``, ``networks.py``);
nothing of it is copied here: this script imports it and calls its ``main()`` with its own
command line, so their ConvNet, DiffAugment/ParamDiffAug, loss, SGD update on the pixels and
real-image initialisation run unchanged. Three things are replaced around it:

- ``get_dataset`` (looked up by ``main_DM``): returns the toolkit's standardised training
  tensors (``nas.api.load_data``: the same split, resize and mean/std as every toolkit run) in
  their own ``TensorDataset``, instead of downloading CIFAR-10 through torchvision.
- ``torchvision``: not installable beside this machine's torch build, and used by their code
  only for the download above and for ``save_image`` of progress pictures. A stand-in module
  is registered in ``sys.modules`` before their import: ``torchvision.utils.save_image`` does
  nothing (no pictures are written), and ``torchvision.datasets`` / ``transforms`` have no
  attributes (using anything of them raises).
- Evaluation inside their loop is switched off (``--num_eval 0``): the toolkit evaluates the
  imported set with its own protocol, the same as for its own DM.

Their loop makes ``Iteration + 1`` updates (``for it in range(args.Iteration + 1)``), so
``--iterations N`` passes ``--Iteration N-1``: N updates, as the toolkit's ``iterations=N``.
Their code seeds nothing: this entry script seeds NumPy (the real images they draw, with
``np.random.permutation``) and torch's global RNG (the initial noise tensor they overwrite)
with ``--seed``; their ``get_network`` and DiffAugment reseed torch's global RNG from the
wall clock, so two runs with one seed draw different networks and augmentations.

Writes OUT_DIR/res_DM_CIFAR10_ConvNet_<ipc>ipc.pt (their layout: ``{'data': [[images,
labels]], 'accs_all_exps': ...}``, images standardised with the split's mean/std) and
OUT_DIR/run.json (settings, data key, wall time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from nas import api
from nas.core.data import DataConfig, PreparedData, resolve_data_path


def _unavailable(module: str) -> types.ModuleType:
    """A module without attributes: their code imports it but must not use it."""
    stub = types.ModuleType(module)

    def missing(name: str):
        raise AttributeError(f"{module}.{name} is not available here (torchvision stand-in)")
    stub.__getattr__ = missing  # type: ignore[method-assign]
    return stub


def install_torchvision_stand_in() -> None:
    """Register ``torchvision`` with the names their modules import: ``datasets`` and
    ``transforms`` (utils.py) and ``utils.save_image`` (main_DM.py, progress pictures)."""
    root = types.ModuleType("torchvision")
    pictures = types.ModuleType("torchvision.utils")
    pictures.save_image = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    parts = {"datasets": _unavailable("torchvision.datasets"),
             "transforms": _unavailable("torchvision.transforms"), "utils": pictures}
    for name, module in parts.items():
        setattr(root, name, module)
        sys.modules[f"torchvision.{name}"] = module
    sys.modules["torchvision"] = root


def dataset_from_toolkit(data: PreparedData, tensor_dataset: type):
    """A ``get_dataset`` replacement returning ``data``'s standardised training split in the
    shape of theirs; the test loader is unused (their evaluation is off)."""
    def get_dataset(dataset: str, data_path: str):
        train = tensor_dataset(data.normalize(data.train_images), data.train_labels)
        test = tensor_dataset(data.normalize(data.test_images), data.test_labels)
        size = (data.im_size, data.im_size)
        return (data.channels, size, data.num_classes, list(data.class_names),
                list(data.mean), list(data.std), train, test, None)
    return get_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code", type=Path, help="checkout of VICO-UoE/DatasetCondensation")
    parser.add_argument("out", type=Path, help="folder for their result file and run.json")
    parser.add_argument("--ipc", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=200,
                        help="updates of the synthetic images (the cpu preset's DM: 200)")
    parser.add_argument("--batch-real", type=int, default=64,
                        help="real images per class per update (the cpu preset's DM: 64)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--resize", type=int, default=16)
    parser.add_argument("--per-class", type=int, default=500, help="0: every image")
    parser.add_argument("--test-per-class", type=int, default=100, help="0: every image")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not (args.code / "main_DM.py").is_file():
        parser.error(f"{args.code} has no main_DM.py; give a checkout of "
                     "VICO-UoE/DatasetCondensation")
    if args.iterations < 1 or args.ipc < 1:
        parser.error("--iterations and --ipc must be at least 1")

    torch.set_num_threads(args.threads)
    data = api.load_data(DataConfig(path=str(resolve_data_path(args.data)),
                                    resize=args.resize, per_class=args.per_class or None,
                                    test_per_class=args.test_per_class or None))
    install_torchvision_stand_in()
    sys.path.insert(0, str(args.code.resolve()))
    import main_DM  # noqa: PLC0415  (their module, importable only after the two lines above)
    import utils  # noqa: PLC0415

    main_DM.get_dataset = dataset_from_toolkit(data, utils.TensorDataset)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.argv = ["main_DM.py", "--dataset", "CIFAR10", "--model", "ConvNet",
                "--ipc", str(args.ipc), "--num_exp", "1", "--num_eval", "0",
                "--Iteration", str(args.iterations - 1), "--batch_real", str(args.batch_real),
                "--init", "real", "--data_path", str(args.out), "--save_path", str(args.out)]
    np.random.seed(args.seed)  # entry script: their code draws from the global RNGs
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    main_DM.main()
    seconds = time.perf_counter() - start
    run = {"code": str(args.code), "argv": sys.argv[1:], "seed": args.seed,
           "iterations": args.iterations, "dataset_key": data.key,
           "data": data.config.to_dict(), "mean": data.mean, "std": data.std,
           "wall_seconds": round(seconds, 1), "threads": args.threads}
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    print(f"{args.out}/res_DM_CIFAR10_ConvNet_{args.ipc}ipc.pt in {seconds:.0f} s")


if __name__ == "__main__":
    main()
