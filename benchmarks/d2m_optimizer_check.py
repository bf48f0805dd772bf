"""Small check of D2M's generator optimiser readings: Adam (Table 11) vs SGD lr 1e-6 (text).

A tiny BigGAN-style generator is pre-trained on 3 CIFAR-10 classes at 16x16, then distilled
for the same number of iterations with each optimiser from the same start. Reported: the D2M
loss on a fixed evaluation set of (pool network, real batch, noise) before and after, and the
relative change of the generator's weights.

    PYTHONPATH=. python benchmarks/d2m_optimizer_check.py OUT_DIR [ITERATIONS]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from nas import api
from nas.core.data import DataConfig, resolve_data_path
from proxies.d2m.checkpoint import load_generator
from proxies.d2m.distill import D2MConfig, distill
from proxies.d2m.generator import GeneratorConfig
from proxies.d2m.images import unit_to_standardized
from proxies.d2m.losses import d2m_loss, embedding_matching_loss, prediction_matching_loss
from proxies.d2m.model_pool import ModelPool
from proxies.d2m.pretrain import PretrainConfig, pretrain

CLASSES = ("airplane", "automobile", "bird")
READINGS = {"adam-1e-4": ("adam", 1e-4), "sgd-1e-6": ("sgd", 1e-6)}


@torch.no_grad()
def fixed_loss(path: Path, data, draws: int = 8) -> float:
    g = load_generator(path, "cpu").eval()
    pool = ModelPool.for_data(data.channels, data.num_classes, data.im_size, width=32)
    rng, total = torch.Generator().manual_seed(123), 0.0
    for _ in range(draws):
        idx = torch.randint(len(data.train_labels), (128,), generator=rng)
        labels = data.train_labels[idx]
        real = data.normalize(data.train_images[idx])
        z = torch.randn(128, g.config.z_dim, generator=rng)
        syn = unit_to_standardized(g(z, labels), data.mean, data.std)
        net = pool.draw(rng)
        fr, fs = net(real), net(syn)
        em = embedding_matching_loss(fr.maps, fs.maps, fr.embedding, fs.embedding, labels,
                                     labels)
        total += float(d2m_loss(em, prediction_matching_loss(fr.logits, fs.logits)))
    return total / draws


def main(out: Path, iterations: int) -> None:
    torch.set_num_threads(1)
    data = api.load_data(DataConfig(path=str(resolve_data_path()), resize=16,
                                    classes=CLASSES, per_class=500, test_per_class=10))
    start = time.perf_counter()
    gan = pretrain(data.train_images, data.train_labels,
                   GeneratorConfig(num_classes=3, im_size=16, width=16),
                   PretrainConfig(iterations=400, batch_size=64, d_steps=1, ema_start=0,
                                  checkpoint_every=400, standing_batches=4),
                   seed=0, workdir=out / "pretrain", progress=False).generator_path
    report = {"pretrain_seconds": time.perf_counter() - start, "iterations": iterations,
              "before": fixed_loss(gan, data)}
    w0 = torch.cat([p.flatten() for p in load_generator(gan, "cpu").parameters()])
    for name, (optimizer, lr) in READINGS.items():
        start = time.perf_counter()
        cfg = D2MConfig(iterations=iterations, optimizer=optimizer, lr=lr, pool_width=32,
                        checkpoint_every=max(1, iterations // 4))
        res = distill(data, gan, cfg, seed=0, workdir=out / name, progress=False)
        w = torch.cat([p.flatten() for p in load_generator(res.generator_path,
                                                           "cpu").parameters()])
        report[name] = {"after": fixed_loss(res.generator_path, data),
                        "last_interval_mean_loss": res.mean_loss,
                        "relative_weight_change": float((w - w0).norm() / w0.norm()),
                        "seconds": time.perf_counter() - start}
        print(json.dumps(report), flush=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 200)
