"""benchmarks/authors_eval.py around a checkout of the dataset-condensation code: their
``evaluate_synset`` gets the toolkit's random IPC set (the ``random`` proxy's images), a test
loader over the split's test images with their batch of 256, and ``epoch_eval_train`` set so
that their ``range(Epoch+1)`` loop trains ``--epochs`` epochs.

The checkout here is a stand-in with the interface the script relies on (the real one is not
part of the repository): ``utils`` with ``get_network``, ``TensorDataset``, ``ParamDiffAug``
and an ``evaluate_synset`` that counts its epochs as theirs does and records what it got.
"""

import json
import sys
import textwrap
from pathlib import Path

import torch

from nas import api
from nas.core.data import DataConfig
from proxies import get_proxy
from tests.bench.scripts import STANDIN_TENSOR_DATASET, load_benchmark
from tests.datasets import write_image_folder

UTILS = '''
import os
import torch
from torch import nn
from torchvision import datasets, transforms

HERE = os.path.dirname(__file__)
''' + STANDIN_TENSOR_DATASET + '''

class ParamDiffAug:
    aug_mode = "S"


def get_network(model, channel, num_classes, im_size=(32, 32)):
    return nn.Sequential(nn.Flatten(), nn.Linear(channel * im_size[0] * im_size[1],
                                                 num_classes))


def evaluate_synset(it_eval, net, images_train, labels_train, testloader, args):
    epochs = len(range(int(args.epoch_eval_train) + 1))  # their loop: Epoch + 1 epochs
    torch.save({"images": images_train, "labels": labels_train},
               os.path.join(HERE, "train_set.pt"))
    seen = {"epochs": epochs, "test_images": len(testloader.dataset),
            "test_batch": testloader.batch_size, "batch_train": args.batch_train,
            "lr_net": args.lr_net, "dsa": args.dsa, "dsa_strategy": args.dsa_strategy,
            "aug_mode": args.dsa_param.aug_mode}
    with open(os.path.join(HERE, "seen.json"), "w") as f:
        f.write(__import__("json").dumps(seen))
    return net, 1.0, 0.25
'''


def test_their_loop_gets_the_random_set_and_the_test_split(tmp_path, monkeypatch,
                                                           fresh_modules):
    code = tmp_path / "DatasetCondensation"
    code.mkdir()
    (code / "utils.py").write_text(textwrap.dedent(UTILS))
    data_dir = write_image_folder(tmp_path / "data", n_train=12, n_test=5, size=8)
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "result.json"
    monkeypatch.setattr(sys, "argv", ["authors_eval.py", str(code), "--ipc", "3", "--epochs",
                                      "7", "--seed", "2", "--data", str(data_dir),
                                      "--threads", "1", "--json", str(out)])
    load_benchmark("authors_eval").main()

    seen = json.loads((code / "seen.json").read_text())
    assert seen == {"epochs": 7, "test_images": 15, "test_batch": 256, "batch_train": 256,
                    "lr_net": 0.01, "dsa": True,
                    "dsa_strategy": "color_crop_cutout_flip_scale_rotate", "aug_mode": "S"}
    data = api.load_data(DataConfig(path=str(data_dir)))
    expected = get_proxy("random").build(data, ipc=3, seed=2, options={},
                                         artifacts_dir=Path(tmp_path))
    got = torch.load(code / "train_set.pt")
    assert torch.equal(got["images"], expected.images)
    assert torch.equal(got["labels"], expected.labels)
    result = json.loads(out.read_text())
    assert (result["test_acc"], result["epochs"], result["threads"]) == (0.25, 7, 1)
    assert result["dataset_key"] == data.key
