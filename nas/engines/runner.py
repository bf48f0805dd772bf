"""Running a search: in this process, or in N spawned local worker processes."""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import time
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState
from tqdm.auto import tqdm

from nas import api
from nas.core.data import PreparedData
from nas.core.parallel import placement
from nas.core.runtime import configure, default_device
from nas.engines.config import SearchJob
from nas.engines.results import attach_full_accuracy
from nas.engines.session import SearchSession, open_search
from nas.engines.strategies import get_strategy
from nas.engines.worker import FINISHED, count
from nas.errors import InputError, UserError

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class SearchError(UserError, RuntimeError):
    """A worker process of a local multi-worker search failed."""


@dataclass(frozen=True)
class SearchSummary:
    study_name: str
    search_id: int
    trials: list[optuna.trial.FrozenTrial]  # finished (complete or pruned), by number

    @property
    def best(self) -> optuna.trial.FrozenTrial | None:
        complete = [t for t in self.trials if t.state == TrialState.COMPLETE]
        return max(complete, key=lambda t: t.value) if complete else None


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the launching process dies, so killing
    `nas search --workers N` stops its workers (their trials are then re-queued)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _worker_main(job: SearchJob, threads: int) -> None:
    """Entry point of a spawned worker: ``threads`` torch threads, join the search, work."""
    _die_with_parent()
    configure(threads)
    session = open_search(job)
    get_strategy(job.search.strategy).run(session, None)


def _run_local_workers(job: SearchJob, session: SearchSession, workers: int, bar: tqdm) -> None:
    context = multiprocessing.get_context("spawn")
    threads = placement(default_device(), workers).threads
    procs = [context.Process(target=_worker_main, args=(job, threads), name=f"nas-worker-{i}")
             for i in range(workers)]
    for proc in procs:
        proc.start()
    try:
        while any(proc.is_alive() for proc in procs):
            bar.n = count(session.study, *FINISHED)
            bar.refresh()
            time.sleep(1.0)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    failed = [f"{p.name} (exit {p.exitcode})" for p in procs if p.exitcode != 0]
    if failed:
        raise SearchError(f"worker(s) {', '.join(failed)} failed (see their output above); "
                          "re-run the same command to resume")


def run_search(job: SearchJob, *, workers: int = 1, progress: bool = True,
               data: PreparedData | None = None) -> SearchSummary:
    """Run (or join, or resume) the search ``job`` describes until its study is done.

    Args:
        job: database URL, dataset and search configuration.
        workers: 1 runs here; N > 1 spawns N local worker processes that share the study
            through the database, on the default device (``nas.core.parallel.placement``:
            one torch thread each on a CPU; on CUDA they share the GPU and the cores).
        progress: show a progress bar of finished trials.
        data: ``job.data`` already loaded (a caller running several searches loads it once).

    Returns:
        The study's finished trials, including those other processes or hosts evaluated.

    Raises:
        InputError: workers below 1, an IPC or image size the data cannot serve, unknown
            strategy or pruner, a strategy that cannot run in parallel with
            ``workers`` > 1, or a study that exists with other settings.
        SearchError: a spawned worker failed.
    """
    strategy = get_strategy(job.search.strategy)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and not strategy.parallel:
        raise InputError(f"strategy {strategy.name!r} runs in one process; drop --workers")
    data = data or api.load_data(job.data)
    job.search.check_data(data)  # bad input fails here, before the database is opened
    strategy.check(job.search, data)
    session = open_search(job, data)
    with session.lock():
        strategy.prepare(session)
    total = strategy.total(session)
    with tqdm(total=total, initial=count(session.study, *FINISHED), unit="trial",
              desc=session.study.study_name, disable=not progress) as bar:
        if workers > 1:
            _run_local_workers(job, session, workers, bar)
        else:
            strategy.run(session, lambda trial: bar.update())
    attach_full_accuracy(session.db, session.dataset)
    trials = sorted(session.study.get_trials(states=FINISHED), key=lambda t: t.number)
    return SearchSummary(session.study.study_name, session.search_id, trials)
