"""benchmarks/authors_dm.py around a checkout of the dataset-condensation code: their
``main()`` gets the toolkit's standardised split instead of their download, runs without
torchvision, makes N updates for ``--iterations N``, and its result file imports as a proxy.

The checkout here is a stand-in with the interface the script relies on (the real one is not
part of the repository): ``main_DM.main`` parses their flags, reads ``get_dataset`` from its
own namespace, calls torchvision's ``save_image`` and saves their ``res_DM_*.pt`` layout.
"""

import json
import sys
import textwrap

import pytest
import torch

from nas import api
from nas.cli import main
from nas.core.data import DataConfig
from storage import Database, list_proxy_records
from tests.bench.scripts import STANDIN_TENSOR_DATASET, load_benchmark
from tests.datasets import write_image_folder

MAIN_DM = '''
import argparse, os
import torch
from torchvision.utils import save_image
from utils import get_dataset


def main():
    p = argparse.ArgumentParser()
    for flag in ("--dataset", "--model", "--init", "--data_path", "--save_path"):
        p.add_argument(flag)
    for flag in ("--ipc", "--num_exp", "--num_eval", "--Iteration", "--batch_real"):
        p.add_argument(flag, type=int)
    args = p.parse_args()
    channel, im_size, k, names, mean, std, train, test, loader = get_dataset(args.dataset,
                                                                             args.data_path)
    x = torch.stack([train[i][0] for i in range(len(train))])
    y = torch.stack([train[i][1] for i in range(len(train))])
    keep = torch.cat([torch.nonzero(y == c).flatten()[:args.ipc] for c in range(k)])
    save_image(x[keep], "never written")
    with open(os.path.join(args.save_path, "updates.json"), "w") as f:
        f.write(str(len(range(args.Iteration + 1))))
    torch.save({"data": [[x[keep].clone(), y[keep].clone()]], "accs_all_exps": {}},
               os.path.join(args.save_path, "res_DM_%s_%s_%dipc.pt"
                            % (args.dataset, args.model, args.ipc)))
'''

UTILS = '''
from torchvision import datasets, transforms
''' + STANDIN_TENSOR_DATASET + '''

def get_dataset(dataset, data_path):
    return datasets.CIFAR10(data_path)  # the download the script replaces
'''


@pytest.fixture
def checkout(tmp_path, fresh_modules):
    """A stand-in checkout of the dataset-condensation code."""
    code = tmp_path / "DatasetCondensation"
    code.mkdir()
    (code / "main_DM.py").write_text(textwrap.dedent(MAIN_DM))
    (code / "utils.py").write_text(textwrap.dedent(UTILS))
    return code




def test_their_main_gets_the_toolkit_split_and_its_file_imports(tmp_path, monkeypatch, checkout):
    data_dir = write_image_folder(tmp_path / "data", n_train=30, n_test=6, size=16)
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    flags = ["--resize", "16", "--per-class", "0", "--test-per-class", "0"]
    monkeypatch.setattr(sys, "argv", ["authors_dm.py", str(checkout), str(out), "--ipc", "2",
                                      "--iterations", "7", "--data", str(data_dir), *flags])
    load_benchmark("authors_dm").main()

    assert (out / "updates.json").read_text() == "7"  # --Iteration 6: their loop makes 7
    run = json.loads((out / "run.json").read_text())
    assert run["argv"][run["argv"].index("--Iteration") + 1] == "6"
    data = api.load_data(DataConfig(path=str(data_dir), resize=16))
    assert run["dataset_key"] == data.key
    images, labels = torch.load(out / "res_DM_CIFAR10_ConvNet_2ipc.pt")["data"][0]
    first = torch.nonzero(data.train_labels == labels[0]).flatten()[0]
    assert torch.allclose(images[0], data.normalize(data.train_images[first : first + 1])[0])

    db = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["proxy", "import", str(out / "res_DM_CIFAR10_ConvNet_2ipc.pt"), "--name",
                 "authors-dm", "--values", "standardized", "--data", str(data_dir),
                 "--resize", "16", "--db", db]) == 0
    (stored,) = list_proxy_records(Database(db))
    assert (stored.method, stored.ipc) == ("authors-dm", 2)
    assert torch.equal(api.load_proxy_set(stored).images, images)


def test_torchvision_stand_in_serves_only_the_names_their_code_imports(fresh_modules,
                                                                     monkeypatch):
    for name in ("torchvision", "torchvision.datasets", "torchvision.transforms",
                 "torchvision.utils"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    load_benchmark("authors_dm").install_torchvision_stand_in()
    from torchvision import datasets
    from torchvision.utils import save_image

    assert save_image(torch.zeros(1, 3, 4, 4), "x.png") is None
    with pytest.raises(AttributeError, match="torchvision stand-in"):
        datasets.CIFAR10  # noqa: B018
