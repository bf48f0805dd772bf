"""One trial: suggest an architecture, train it through the Evaluator, record the result."""

from __future__ import annotations

import optuna

from nas import api
from nas.analysis.curves import curve_score
from nas.core.outcome import RunStatus, run_accuracy
from nas.core.trainer import EpochCallback
from nas.engines.session import SearchSession
from nas.engines.study import suggest_arch
from search_spaces import InvalidArchitectureError, get_space
from storage import RunRecord, list_runs


def _pruning_callback(trial: optuna.Trial) -> EpochCallback:
    def on_epoch(epoch: int, val_acc: float) -> None:
        trial.report(val_acc, epoch)
        if trial.should_prune():
            trial.set_user_attr("status", RunStatus.PRUNED)
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (val acc {val_acc:.3f})")

    return on_epoch


def _refuse_outside_space(session: SearchSession, trial: optuna.Trial, arch_id: str) -> None:
    """Prune a sampled combination outside the candidates (``--where``) or too deep for the
    image size: independent categorical factors can combine into such points."""
    space, archs = get_space(session.config.space), session.config.archs
    reason = f"{arch_id} is outside the searched architectures" if archs and \
        arch_id not in archs else None
    try:
        space.check_input_size(space.parse(arch_id), session.data.im_size)
    except InvalidArchitectureError as exc:
        reason = str(exc)
    if reason:
        trial.set_user_attr("status", "invalid")
        raise optuna.TrialPruned(reason)


def full_data_run(session: SearchSession, arch_id: str) -> RunRecord | None:
    """The latest finished full-data run of ``arch_id`` on this dataset, if any."""
    runs = [r for r in list_runs(session.db, dataset_id=session.dataset.id, full_data=True)
            if r.arch_id == arch_id and r.space == session.config.space
            and r.status == RunStatus.FINISHED]
    return runs[-1] if runs else None


def run_trial(session: SearchSession, trial: optuna.Trial) -> float:
    """Train the trial's architecture on the search's proxy; return its validation accuracy.

    A diverged run scores chance accuracy (as in ``api.fidelity_table``). The run is written
    to the toolkit's run table (linked to the search) before this returns.

    Raises:
        optuna.TrialPruned: when pruning is on and the pruner stops the trial (its run is
            then stored with status "pruned", under the trial's ``run_key``).
    """
    config = session.config
    space = get_space(config.space)
    arch_id = suggest_arch(trial, space, config.archs)
    trial.set_user_attr("arch_id", arch_id)
    trial.set_user_attr("proxy", session.source)
    trial.set_user_attr("seed", config.seed)
    _refuse_outside_space(session, trial, arch_id)
    trial.set_user_attr("run_key", api.run_key(session.dataset, session.proxy, config.space,
                                               arch_id, config.seed, config.train, config.elf))
    on_epoch = _pruning_callback(trial) if config.prune else None
    run = session.evaluator.evaluate(config.space, arch_id, config.train, config.seed,
                                     search_id=session.search_id, on_epoch=on_epoch)
    attrs = {"status": run.status, "val_acc": run.val_acc, "test_acc": run.test_acc,
             "wall_seconds": run.wall_seconds, "run_key": run.key, "epochs": run.epochs,
             "num_params": run.num_params, "macs": run.macs}
    full = full_data_run(session, arch_id)
    if full is not None:
        attrs |= {"full_val_acc": full.val_acc, "full_test_acc": full.test_acc}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if run.status != RunStatus.FINISHED or run.val_acc is None:  # chance: nas.core.outcome
        return run_accuracy(run.status, run.val_acc, session.data.num_classes)
    value = curve_score(config.score, run.curve)
    return run.val_acc if value is None else value  # a run stored before curves were kept
