"""Train ConvNet-3 on a random IPC set with the dataset-condensation authors' own evaluation
loop (``utils.evaluate_synset`` of VICO-UoE/DatasetCondensation): the loop the toolkit
trainer's speed is compared against at the literature's protocol.

    PYTHONPATH=. python benchmarks/authors_eval.py CODE_DIR --ipc 50 --epochs 200 --seed 0 \
        [--data DIR] [--resize 32] [--per-class 0] [--test-per-class 0] [--threads N] \
        [--json OUT.json]

CODE_DIR is a checkout of that repository; nothing of it is copied here: this script imports
their ``utils`` and calls ``evaluate_synset`` as their ``main_DM.py`` does, so their ConvNet
(``get_network('ConvNet', ...)``: width 128, depth 3, instance norm, average pooling), their
DataLoader over a ``TensorDataset`` (batch 256, shuffled), DiffAugment with ``ParamDiffAug``
(the six DSA families, one per batch), SGD (lr 0.01, momentum 0.9, weight decay 5e-4, lr x0.1
half-way) and their test pass (batch 256) run unchanged. Around it:

- The images are the toolkit's: its prepared split (``nas.api.load_data``, the same cache,
  resize and mean/std as every toolkit run) and the same class-balanced random IPC set that
  ``nas search --proxy random --ipc N --proxy-seed SEED`` trains on; their test loader
  (batch 256, as their ``get_dataset`` builds it) runs over the split's test images.
- ``torchvision`` (not installable beside this machine's torch build) is replaced by the
  stand-in of ``benchmarks/authors_dm.py``; their evaluation loop uses none of it.
- Their loop trains ``epoch_eval_train + 1`` epochs (``for ep in range(Epoch+1)``), so
  ``--epochs N`` passes ``N - 1``: N epochs, as the toolkit's ``--epochs N``.

The process is left as a plain script leaves it: glibc's default allocator and torch's default
thread count unless ``--threads`` is given. Their ``get_network`` reseeds torch's global RNG
from the wall clock, so initial weights and augmentations differ from run to run; this entry
script seeds torch's and NumPy's global RNGs with ``--seed`` before that. Prints one JSON line
(wall and CPU seconds of the whole process so far, of training, test accuracy, threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from nas import api
from nas.bench.trainers import cpu_seconds
from nas.core.data import DataConfig, resolve_data_path
from proxies import get_proxy

PROCESS_START = time.perf_counter()


def their_args(epochs: int) -> SimpleNamespace:
    """The fields of their ``args`` that ``evaluate_synset`` and ``epoch`` read, with
    ``main_DM.py``'s defaults and ``epoch_eval_train`` set for ``epochs`` epochs."""
    import utils  # noqa: PLC0415  (their module, on sys.path by then)

    return SimpleNamespace(device="cpu", lr_net=0.01, epoch_eval_train=epochs - 1,
                           batch_train=256, dsa=True,
                           dsa_strategy="color_crop_cutout_flip_scale_rotate",
                           dsa_param=utils.ParamDiffAug(), dc_aug_param=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code", type=Path, help="checkout of VICO-UoE/DatasetCondensation")
    parser.add_argument("--ipc", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="the random set's seed "
                        "(nas search --proxy-seed) and the global RNGs' seed")
    parser.add_argument("--data", default=None)
    parser.add_argument("--resize", type=int, default=None)
    parser.add_argument("--per-class", type=int, default=0, help="0: every image")
    parser.add_argument("--test-per-class", type=int, default=0, help="0: every image")
    parser.add_argument("--threads", type=int, default=None, help="default: torch's")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    if not (args.code / "utils.py").is_file():
        parser.error(f"{args.code} has no utils.py; give a checkout of "
                     "VICO-UoE/DatasetCondensation")
    if args.epochs < 1 or args.ipc < 1:
        parser.error("--epochs and --ipc must be at least 1")

    if args.threads:
        torch.set_num_threads(args.threads)
    data = api.load_data(DataConfig(path=str(resolve_data_path(args.data)), resize=args.resize,
                                    per_class=args.per_class or None,
                                    test_per_class=args.test_per_class or None))
    train = get_proxy("random").build(data, ipc=args.ipc, seed=args.seed, options={},
                                      artifacts_dir=Path("."))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from authors_dm import install_torchvision_stand_in  # noqa: PLC0415

    install_torchvision_stand_in()
    sys.path.insert(0, str(args.code.resolve()))
    import utils  # noqa: PLC0415  (their module, importable only after the lines above)

    np.random.seed(args.seed)  # entry script: their code draws from the global RNGs
    torch.manual_seed(args.seed)
    net = utils.get_network("ConvNet", data.channels, data.num_classes,
                            (data.im_size, data.im_size))
    test = utils.TensorDataset(data.normalize(data.test_images), data.test_labels)
    testloader = torch.utils.data.DataLoader(test, batch_size=256, shuffle=False,
                                             num_workers=0)  # as their get_dataset builds it
    start = time.perf_counter()
    _, _, acc_test = utils.evaluate_synset(0, net, train.images, train.labels, testloader,
                                           their_args(args.epochs))
    result = {"code": str(args.code), "ipc": args.ipc, "epochs": args.epochs,
              "seed": args.seed, "dataset_key": data.key, "test_images": len(test),
              "test_acc": acc_test, "threads": torch.get_num_threads(),
              "train_and_test_seconds": round(time.perf_counter() - start, 1),
              "seconds_since_imports": round(time.perf_counter() - PROCESS_START, 1),
              "process_cpu_seconds": round(cpu_seconds(), 1)}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
