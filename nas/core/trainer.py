"""In-memory training of one network on tensors (the literature's evaluation protocol).

The whole training set lives on the device as one tensor; each step indexes a batch,
augments it with batched DSA ops and takes an SGD step. No DataLoader, no per-sample work.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.core.augment import DEFAULT_STRATEGY, DSA, DSAConfig
from nas.core.outcome import RunStatus
from nas.errors import InputError

EpochCallback = Callable[[int, float], None]


_EXECUTION_ONLY = ("eval_batch_size", "report_every", "compile")


def protocol_of(train: dict) -> dict:
    """The result-defining fields of a stored ``TrainConfig.to_dict()`` (see ``protocol``)."""
    return {k: v for k, v in train.items() if k not in _EXECUTION_ONLY}


@dataclass(frozen=True)
class TrainConfig:
    """Protocol of the dataset-condensation literature (docs/papers.md#training-protocol)."""

    epochs: int = 200  # D2M trains 200 epochs on proxies (100 on full data)
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_decay_at: float = 0.5  # lr x0.1 after half the epochs, momentum restarted
    augment: str = DEFAULT_STRATEGY  # DSA strategy; "none" disables
    eval_batch_size: int = 2048  # GPU; on CPU capped at CPU_EVAL_BATCH
    report_every: int = 0  # evaluate val every k epochs for pruning callbacks; 0 = only at the end
    amp: bool = True  # bf16 autocast where the device computes bf16 natively (``uses_bf16``)
    # torch.compile the training step: True, False, or None = when the run's training FLOPs
    # reach COMPILE_MIN_FLOPS and a C++ compiler is present. Compiling costs ~20 s per
    # architecture on 2 CPU cores (less with inductor's on-disk cache warm) and then trains
    # ConvNet-3 ~1.4x faster: it pays off for long runs of big networks, not for short runs.
    compile: bool | None = None

    def __post_init__(self) -> None:
        """Raises InputError naming the field and value (the CLI's flag of the same name)."""
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if not self.lr > 0:
            raise InputError(f"--lr must be positive, got {self.lr}")
        if self.momentum < 0 or self.weight_decay < 0:
            raise InputError(f"momentum and weight decay must be >= 0, got {self.momentum} "
                             f"and {self.weight_decay}")
        if not 0 < self.lr_decay_at <= 1:
            raise InputError(f"lr_decay_at must be in (0, 1], got {self.lr_decay_at}")
        if self.report_every < 0:
            raise InputError(f"--report-every must be >= 0 (0: only at the end), "
                             f"got {self.report_every}")
        DSAConfig(self.augment).families  # noqa: B018  (raises for an unknown DSA family)

    def to_dict(self) -> dict:
        return asdict(self)

    def protocol(self) -> dict:
        """The fields that define a run's result (its cache key): execution details such as
        evaluation batch size, reporting cadence and compilation are left out."""
        return protocol_of(self.to_dict())


@dataclass(frozen=True)
class TrainResult:
    status: RunStatus  # FINISHED or DIVERGED
    accuracies: dict[str, float]  # eval-set name -> accuracy in [0, 1]; empty when diverged
    train_loss: float
    epochs_done: int
    wall_seconds: float
    images_per_second: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (epoch, val accuracy)
    compiled: bool = False  # whether the training step ran under torch.compile
    bf16: bool = False  # whether it trained and scored under bf16 autocast (``uses_bf16``)
    losses: list[float] = field(default_factory=list)  # mean training loss of every epoch
    curve_val: list[tuple[int, float]] = field(default_factory=list)  # see curve_every
    fresh_seconds: float = 0.0  # of ``wall_seconds``, spent drawing ``fresh_set``'s images
    compile_error: str = ""  # why a run asked to compile trained eagerly instead ("": it didn't)

    @property
    def curve(self) -> dict:
        """The learning curve a run stores: the training loss of every epoch, and (epoch,
        accuracy on the first CURVE_IMAGES validation images) every ``curve_every`` epochs
        and at the last."""
        return {"train_loss": list(self.losses), "val_acc": [list(p) for p in self.curve_val],
                "val_images": CURVE_IMAGES}


TensorPair = tuple[torch.Tensor, torch.Tensor]
CPU_EVAL_BATCH = 512  # measured on 2 cores: 256-512 score 10-40% faster than 2048 (cache)
# ~1 min of eager training on 2 CPU cores, where ~20 s of compiling starts to pay off; e.g.
# ConvNet-3 on IPC 50 of CIFAR-10 for 200 epochs is 3.0e13, at 16x16 7.6e12 (not compiled)
COMPILE_MIN_FLOPS = 1e13
# The learning curve's validation points: validating 1,000 images every epoch of a 100-image
# proxy would cost more than training on it, so the curve scores the first CURVE_IMAGES
# validation images at a cadence that keeps them to CURVE_IMAGES_PER_TRAINED images per
# trained image (a forward pass is about a third of a training step: ~15% of the training)
CURVE_IMAGES = 256
CURVE_IMAGES_PER_TRAINED = 0.5


def curve_every(train_images: int, val_images: int) -> int:
    """Epochs between the learning curve's validation points (1 for large training sets)."""
    return max(1, math.ceil(min(val_images, CURVE_IMAGES)
                            / (CURVE_IMAGES_PER_TRAINED * max(train_images, 1))))


def training_flops(net: nn.Module, images: torch.Tensor, epochs: int) -> float:
    """FLOPs of training ``net`` for ``epochs`` on ``images`` (forward + 2x for backward),
    counted on one image (convolutions and matmuls, 2 per multiply-accumulate)."""
    was_training = net.training
    net.eval()  # no batch-norm statistics are updated by the counting pass
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(images[:1])
    net.train(was_training)
    return 3.0 * counter.get_total_flops() * len(images) * epochs


def uses_bf16(config: TrainConfig, device: torch.device) -> bool:
    """Whether ``config.amp`` trains and scores under bf16 autocast on ``device``: on CUDA,
    and on CPUs with native bf16 instructions (AVX512-BF16 or AMX), where oneDNN's bf16
    convolutions measured 1.2-2x faster training on the speed benchmark's networks
    (docs/speed.md#this-machine). Elsewhere bf16 is emulated and slower: float32."""
    if not config.amp:
        return False
    if device.type == "cpu":  # torch has no public query for these instructions
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return device.type == "cuda"


def should_compile(config: TrainConfig, train_flops: float, device: torch.device) -> bool:
    """Resolve ``config.compile`` (None = auto) for a run of ``train_flops`` training FLOPs.
    Auto compiles on a CPU only, where it was measured to pay off; on CUDA it stays eager
    unless asked for (compiling costs tens of seconds per architecture, more than a proxy
    run's eager training there, and ground-truth runs compiled on an H200 failed in inductor).
    A compile that fails falls back to eager (``train``)."""
    if config.compile is not None:
        return config.compile
    compiler = os.environ.get("CXX", "g++")  # what inductor's C++ backend invokes
    return (device.type == "cpu" and train_flops >= COMPILE_MIN_FLOPS
            and shutil.which(compiler) is not None)


# Norms whose CPU kernels are slow on channels_last tensors (GroupNorm, which also serves
# instance norm here, measured ~11x slower than on NCHW)
_NCHW_LAYERS = (nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def memory_format_for(net: nn.Module, fused: bool) -> torch.memory_format:
    """channels_last for AMP on CUDA and compiled code (``fused``), and for eager CPU
    networks without group, layer or instance norm: there it measured 1.1-1.4x faster
    training for ConvNets and 1.2-3.4x for NAS-Bench-201 cells, while those norms' NHWC
    kernels made ConvNets up to 3x slower (docs/speed.md#this-machine)."""
    if fused or not any(isinstance(m, _NCHW_LAYERS) for m in net.modules()):
        return torch.channels_last
    return torch.contiguous_format


@torch.inference_mode()
def evaluate(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
             batch_size: int = 2048, amp: bool = False,
             memory_format: torch.memory_format = torch.contiguous_format) -> float:
    """Top-1 accuracy in large no-grad batches; the model is left in eval mode.

    ``images`` may live on another device than ``net``; each batch is moved before scoring
    and laid out in ``memory_format`` (the network's).
    """
    net.eval()
    correct = 0
    device = next(net.parameters()).device
    for start in range(0, len(labels), batch_size):
        x = images[start:start + batch_size].to(device, non_blocking=True).contiguous(
            memory_format=memory_format)
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            logits = net(x)
        correct += int((logits.argmax(1) == labels[start:start + batch_size].to(device)).sum())
    return correct / max(len(labels), 1)


# The first torch.compile failure of this process: later runs here train eagerly at once
# instead of failing again (a failed compile costs about as much as a successful one)
_COMPILE_FAILURE: list[str] = []


def _compile_failed(error: Exception) -> str:
    """Remember ``error`` as this process's compile failure; returns how a run records it."""
    message = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
    _COMPILE_FAILURE[:1] = [message]
    return message


_GLOBAL_RNG = threading.Lock()  # build_seeded borrows torch's global RNG; one thread at a time


def build_seeded(make_net: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build a network whose initial weights depend only on ``seed`` (global RNG untouched).
    Thread-safe: concurrent calls from this module never interleave on the global RNG."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_net()


def train(
    make_net: Callable[[], nn.Module],
    train_set: TensorPair,
    config: TrainConfig,
    *,
    seed: int,
    eval_sets: dict[str, TensorPair] | None = None,
    device: torch.device | str = "cpu",
    on_epoch: EpochCallback | None = None,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    extra_modules: Sequence[nn.Module] = (),
    fresh_set: Callable[[int], TensorPair] | None = None,
) -> TrainResult:
    """Train ``make_net()`` on ``train_set`` = (float images (N, C, H, W), int64 labels).

    Deterministic on CPU for a given ``seed`` (init, batch order, augmentation). Stops at the
    first epoch whose loss is NaN/inf and returns status "diverged" instead of raising.
    ``eval_sets`` ("val", "test", ...) are scored after the last epoch; ``on_epoch(epoch,
    val_acc)`` is called every ``config.report_every`` epochs (it may raise to stop, e.g. to
    prune). ``loss_fn(net, x, y)`` replaces cross-entropy (e.g. for extra supervision);
    ``extra_modules`` (e.g. its adapter heads) are moved to ``device``, put in train mode and
    optimised with the network. ``fresh_set(epoch)``, when given, is called at the start of
    every epoch after the first and returns that epoch's training set (as many images as
    ``train_set``, e.g. drawn afresh from a generator); the time it takes is part of
    ``wall_seconds`` and reported as ``fresh_seconds``. Inputs other than ``extra_modules``
    are not mutated.
    A compiled step that raises is taken again eagerly and the run goes on eagerly, the
    error in ``compile_error``; later runs of this process then skip compiling.
    """
    device = torch.device(device)
    use_amp = uses_bf16(config, device)
    generator = torch.Generator().manual_seed(seed)
    net = build_seeded(make_net, seed).to(device)
    eval_batch = config.eval_batch_size if device.type == "cuda" else min(
        config.eval_batch_size, CPU_EVAL_BATCH)
    images, labels = (t.to(device) for t in train_set)
    compiled = should_compile(config, 0.0 if config.compile is not None else
                              training_flops(net, images, config.epochs), device)
    compile_error = ""
    if compiled and _COMPILE_FAILURE:
        compiled, compile_error = False, f"failed earlier in this process: {_COMPILE_FAILURE[0]}"
    memory_format = memory_format_for(net, (use_amp and device.type == "cuda") or compiled)
    net = net.to(memory_format=memory_format)
    model = torch.compile(net) if compiled else net  # trains; scoring runs ``net`` eagerly
    eval_sets = {k: (x.to(device), y.to(device)) for k, (x, y) in (eval_sets or {}).items()}
    dsa = DSA(DSAConfig(config.augment))
    for module in extra_modules:
        module.to(device).train()
    params = [*net.parameters(), *(p for m in extra_modules for p in m.parameters())]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    decay_epoch = int(config.epochs * config.lr_decay_at)
    criterion = nn.CrossEntropyLoss()
    loss_fn = loss_fn or (lambda model, x, y: criterion(model(x), y))
    n, history, losses, curve_val = len(labels), [], [], []
    subset = ((eval_sets["val"][0][:CURVE_IMAGES], eval_sets["val"][1][:CURVE_IMAGES])
              if "val" in eval_sets else None)
    every = curve_every(n, len(subset[1])) if subset else 0
    start, epoch, epoch_loss, fresh_seconds = time.perf_counter(), 0, 0.0, 0.0
    for epoch in range(1, config.epochs + 1):
        if fresh_set is not None and epoch > 1:
            drawn = time.perf_counter()
            images, labels = (t.to(device) for t in fresh_set(epoch))
            fresh_seconds += time.perf_counter() - drawn
            if len(labels) != n:
                raise ValueError(f"fresh_set({epoch}) gave {len(labels)} images, not {n}")
        if epoch == decay_epoch + 1 and decay_epoch > 0:  # lr x0.1 with a fresh optimiser
            # (momentum buffers dropped), as the reference evaluation loop does
            optimizer = torch.optim.SGD(params, lr=config.lr * 0.1, momentum=config.momentum,
                                        weight_decay=config.weight_decay)
        net.train()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        for begin in range(0, n, config.batch_size):
            idx = order[begin:begin + config.batch_size]
            x = dsa(images[idx], generator).contiguous(memory_format=memory_format)
            if compiled and n > config.batch_size and n % config.batch_size:  # one graph for
                # the full and the short last batch instead of compiling twice
                torch._dynamo.maybe_mark_dynamic(x, 0)  # a backend may still specialise
            try:
                loss = _forward_backward(model, loss_fn, x, labels[idx], optimizer, use_amp)
            except Exception as error:
                if not compiled:
                    raise
                compiled, model, compile_error = False, net, _compile_failed(error)
                loss = _forward_backward(net, loss_fn, x, labels[idx], optimizer, use_amp)
            optimizer.step()
            loss_sum += loss.detach() * len(idx)
        epoch_loss = float(loss_sum) / n
        losses.append(epoch_loss)
        if not math.isfinite(epoch_loss):
            seconds = time.perf_counter() - start
            return TrainResult(RunStatus.DIVERGED, {}, epoch_loss, epoch, seconds,
                               epoch * n / seconds, history, compiled, use_amp, losses,
                               curve_val, fresh_seconds, compile_error)
        if subset and (epoch % every == 0 or epoch == config.epochs):
            curve_val.append((epoch, evaluate(net, *subset, batch_size=eval_batch, amp=use_amp,
                                              memory_format=memory_format)))
        if config.report_every and epoch % config.report_every == 0 and epoch < config.epochs:
            val = evaluate(net, *eval_sets["val"], batch_size=eval_batch, amp=use_amp,
                           memory_format=memory_format)
            history.append((epoch, val))
            if on_epoch:
                on_epoch(epoch, val)
    train_seconds = time.perf_counter() - start
    accuracies = {name: evaluate(net, x, y, batch_size=eval_batch, amp=use_amp,
                                 memory_format=memory_format)
                  for name, (x, y) in eval_sets.items()}
    if "val" in accuracies:
        history.append((epoch, accuracies["val"]))
        if on_epoch and config.report_every:
            on_epoch(epoch, accuracies["val"])
    return TrainResult(RunStatus.FINISHED, accuracies, epoch_loss, epoch,
                       time.perf_counter() - start, epoch * n / train_seconds, history, compiled,
                       use_amp, losses, curve_val, fresh_seconds, compile_error)


def _forward_backward(model: Callable, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                      optimizer: torch.optim.Optimizer, use_amp: bool) -> torch.Tensor:
    """One step's loss with fresh gradients (the optimizer step is the caller's)."""
    with torch.autocast(x.device.type, torch.bfloat16, enabled=use_amp):
        loss = loss_fn(model, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return loss
