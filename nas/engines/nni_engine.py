"""NNI 3.0 strategies (``nni-random``, ``nni-evolution``, ``nni-tpe``), an optional extra.

NNI drives the search (sequential engine, 'simplified' model format); each sample it
proposes becomes a trial of the same Optuna study, trained through the same Evaluator, so
results land in the study and the run table like any other strategy's."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from nas.engines.session import SearchSession
from nas.engines.strategies import Strategy, register_strategy
from nas.engines.study import choices, retrying
from nas.engines.worker import FINISHED, TrialDone, ask, claimed, count, evaluate_trial
from nas.errors import UserError
from search_spaces import get_space

EXTRA_HINT = "pip install -e .[nni]"


class MissingExtraError(UserError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def _import_nni():
    """Import NNI and our model space, or explain which extra to install."""
    try:
        return importlib.import_module("nni"), importlib.import_module(
            "nas.engines._nni_space"), importlib.import_module("nni.nas.experiment"), \
            importlib.import_module("nni.nas.evaluator"), \
            importlib.import_module("nni.nas.strategy")
    except ImportError as exc:
        raise MissingExtraError(f"the nni-* strategies need NNI 3.0 with pytorch-lightning and "
                                f"torchmetrics: run `{EXTRA_HINT}` ({exc})") from exc


def _evolution(strategy_module, session: SearchSession):
    # Regularized evolution (Real et al. 2019; NNI defaults population 100, sample 25),
    # shrunk so a small budget still gets past the random initial population.
    population = max(2, min(100, session.config.trials // 2))
    return strategy_module.RegularizedEvolution(
        population_size=population, sample_size=max(1, population // 4),
        seed=session.config.seed)


NNI_STRATEGIES: dict[str, tuple[str, Callable]] = {
    "nni-random": ("NNI random search (no repeats)",
                   lambda s, session: s.Random(dedup=True, seed=session.config.seed)),
    "nni-evolution": ("NNI regularized evolution", _evolution),
    "nni-tpe": ("NNI's TPE tuner", lambda s, session: s.TPE(
        optimize_mode="maximize", seed=session.config.seed)),
}


def _run_nni(name: str, session: SearchSession, on_done: TrialDone | None) -> int:
    """Run the NNI experiment for the budget left in the study; returns trials evaluated."""
    nni, space_module, experiment, evaluator, strategy_module = _import_nni()
    left = session.config.trials - count(session.study, *FINISHED)
    if left <= 0:
        return 0
    errors: list[BaseException] = []
    done = []

    def evaluate(model) -> None:
        try:
            with session.lock():
                retrying(lambda: session.study.enqueue_trial(dict(model.arch)), session.url)
                trial = claimed(session, retrying(lambda: ask(session.study), session.url))
            frozen = evaluate_trial(session, trial)
        except BaseException as exc:  # NNI swallows trial errors; keep the first to re-raise
            errors.append(exc)
            raise
        done.append(frozen)
        if on_done:
            on_done(frozen)
        score = frozen.value if frozen.value is not None else max(
            frozen.intermediate_values.values(), default=0.0)
        nni.report_final_result(score)

    space = space_module.FactorSpace(
        {k: list(v) for k, v in choices(get_space(session.config.space),
                                                session.config.archs).items()})
    config = experiment.NasExperimentConfig("sequential", "simplified")
    config.experiment_working_directory = str(session.db.home / "nni-experiments")
    config.max_trial_number = left
    config.trial_concurrency = 1
    exp = experiment.NasExperiment(space, evaluator.FunctionalEvaluator(evaluate),
                                   NNI_STRATEGIES[name][1](strategy_module, session), config)
    try:
        exp.run(port=None)  # the sequential engine needs no web port
    finally:
        exp.stop()  # saves NNI's checkpoint now rather than at interpreter exit
    if errors:
        raise errors[0]
    return len(done)


for _name, (_description, _) in NNI_STRATEGIES.items():
    register_strategy(Strategy(
        _name, f"{_description}; needs the nni extra ({EXTRA_HINT})",
        run=lambda session, on_done, n=_name: _run_nni(n, session, on_done),
        total=lambda session: session.config.trials, parallel=False))
