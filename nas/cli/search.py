"""``nas search`` and ``nas dashboard``: flags -> SearchJob -> nas.engines, then print."""

from __future__ import annotations

import argparse
import dataclasses

from rich.table import Table

from nas.analysis.curves import CURVE_SCORES
from nas.cli.common import (
    add_artifact,
    add_dataset,
    add_db,
    add_elf,
    add_selection,
    add_training,
    console,
    data_config,
    elf_config,
    existing_database,
    fmt,
    port_number,
    train_config,
    workers_of,
)
from nas.core.parallel import GPU_WORKERS
from nas.core.selection import select_architectures
from nas.engines import PRUNERS, SearchConfig, SearchJob, get_strategy, list_strategies
from nas.engines.dashboard import serve_dashboard
from nas.engines.evolution import FIDELITY, charged, incumbent
from nas.engines.runner import run_search
from nas.engines.session import MEASURING_STRATEGIES
from nas.errors import InputError
from proxies import is_set_name, list_proxies
from search_spaces import get_space
from storage import default_url, is_sqlite

DEFAULT_DASHBOARD_PORT = 8080  # optuna-dashboard's own default


class SearchCommand:
    help = "search a space on a proxy as an Optuna study (grid, tpe, rea, sh, nni-*)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--proxy", default="random", help=f"one of {list_proxies()}")
        parser.add_argument("--ipc", type=int, default=None,
                            help=f"images per class of the proxy set (default: "
                                 f"{SearchConfig.ipc}; an imported set's own)")
        parser.add_argument("--proxy-seed", type=int, default=None,
                            help="seed of the proxy set (default: 0)")
        add_artifact(parser)
        parser.add_argument("--strategy", default="grid", help=f"one of {list_strategies()}")
        parser.add_argument("--trials", type=int, default=SearchConfig.trials,
                            help="trial budget of tpe, rea, sh and nni-* (grid: the selected "
                                 "archs)")
        parser.add_argument("--prune", choices=sorted(PRUNERS), default=None,
                            help="stop poor trials early on per-epoch validation accuracy")
        parser.add_argument("--report-every", type=int, default=None,
                            help="epochs between validation reports (default: 1 with --prune)")
        parser.add_argument("--study", default=None,
                            help="study name (default: <space>/<proxy>/<strategy>/seed<seed>)")
        parser.add_argument("--workers", type=int, default=None,
                            help=f"local worker processes (default for grid: one per core, one "
                                 f"thread each, on a CPU, {GPU_WORKERS} sharing the GPU on "
                                 "CUDA; else 1)")
        parser.add_argument("--heartbeat", type=int, default=SearchConfig.heartbeat_seconds,
                            help="seconds between worker heartbeats; a worker silent for two "
                                 "is taken for dead and its trial is re-queued")
        parser.add_argument("--score", default=SearchConfig.score, choices=CURVE_SCORES,
                            help="what ranks the trained runs: the final validation accuracy, "
                                 "or a score read from the run's learning curve")
        measuring = parser.add_argument_group(
            "rea and sh: scores they measure (a zero-cost method, ensemble, train, "
            "train:<epochs>, full:<epochs>), each charged its first cost")
        measuring.add_argument("--rea-score", default=SearchConfig.rea_score,
                               help="rea's score")
        measuring.add_argument("--fidelities", nargs="+", default=None,
                               help=f"sh's rungs, cheapest first (default: "
                                    f"{' '.join(SearchConfig.fidelities)})")
        measuring.add_argument("--tournament", type=int, default=SearchConfig.sample,
                               help="rea's sample size S")
        for flag, kind in (("population", int), ("bracket", int), ("eta", int),
                           ("cpu-budget", float), ("train-seed", int)):
            measuring.add_argument(f"--{flag}", type=kind,
                                   default=getattr(SearchConfig, flag.replace("-", "_")))
        add_elf(parser)
        add_selection(parser)
        add_training(parser, epochs=SearchConfig().train.epochs)
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        job = search_job(args)
        strategy = get_strategy(job.search.strategy)
        grid_size = len(job.search.archs) or len(get_space(job.search.space).enumerate())
        workers = args.workers if args.workers is not None else (
            min(workers_of(args), grid_size) if strategy.name == "grid" else 1)
        if workers > 1 and is_sqlite(job.db_url):
            console.print(f"note: {workers} workers share a SQLite file, which serializes "
                          "their writes; for many workers or hosts use PostgreSQL "
                          "(--db postgresql://user@host/db)")
        summary = run_search(job, workers=workers)
        if strategy.name in MEASURING_STRATEGIES:
            return _show_measured(job.search, summary)
        table = Table("trial", "architecture", "state", "val acc", "test acc", "seconds",
                      title=f"study {summary.study_name}")
        ranked = sorted(summary.trials, key=lambda t: -(t.value or 0))
        for t in ranked[:20]:
            table.add_row(str(t.number), t.user_attrs.get("arch_id", "-"), t.state.name,
                          fmt(t.user_attrs.get("val_acc")), fmt(t.user_attrs.get("test_acc")),
                          fmt(t.user_attrs.get("wall_seconds")))
        console.print(table)
        best = summary.best
        console.print(f"{len(summary.trials)} finished trials; best "
                      f"{best.user_attrs.get('arch_id') if best else '-'} "
                      f"(val {fmt(best.value if best else None)}); "
                      f"watch with `nas dashboard --db {job.db_url}`")
        return 0


def search_job(args: argparse.Namespace) -> SearchJob:
    """Validate the flags (before any database work) and turn them into a SearchJob."""
    strategy = get_strategy(args.strategy)
    space = get_space(args.space)
    given = [flag for flag, value in (("--ipc", args.ipc), ("--proxy-seed", args.proxy_seed))
             if value is not None]
    if given and is_set_name(args.proxy):
        flags = " and ".join(given)
        raise InputError(f"{flags}: {args.proxy!r} names an imported set, whose IPC and seed "
                         f"are its file's; drop {flags} or name a proxy method")
    if (args.archs or args.sample is not None) and strategy.name != "grid":
        raise InputError("--archs/--sample choose grid points; use them with --strategy "
                         "grid (or --where to restrict a sampling strategy)")
    archs: tuple[str, ...] = ()
    if args.archs or args.sample is not None or args.where:  # candidates; empty = the whole space
        archs = tuple(select_architectures(space, archs=args.archs, sample=args.sample,
                                           where=args.where, seed=args.seed))
    report_every = args.report_every if args.report_every is not None else (
        1 if args.prune else 0)
    train = dataclasses.replace(train_config(args), report_every=report_every)
    search = SearchConfig(space=args.space, proxy=args.proxy,
                          ipc=SearchConfig.ipc if args.ipc is None else args.ipc,
                          proxy_seed=args.proxy_seed or 0, artifact=args.artifact,
                          strategy=strategy.name, archs=archs, trials=args.trials,
                          seed=args.seed, train=train, prune=args.prune, study=args.study,
                          heartbeat_seconds=args.heartbeat, elf=elf_config(args),
                          score=args.score, rea_score=args.rea_score,
                          population=args.population,
                          sample=args.tournament,
                          bracket=args.bracket, eta=args.eta, cpu_budget=args.cpu_budget,
                          train_seed=args.train_seed,
                          **({"fidelities": tuple(args.fidelities)} if args.fidelities
                             else {}))
    return SearchJob(db_url=args.db or default_url(), data=data_config(args), search=search)


def _show_measured(config: SearchConfig, summary) -> int:
    """rea/sh: trials per fidelity, the charged seconds and the returned architecture."""
    ladder = (config.rea_score,) if config.strategy == "rea" else config.fidelities
    table = Table("fidelity", "trials", "charged seconds", title=f"study {summary.study_name}")
    for name in dict.fromkeys(ladder):
        level = [t for t in summary.trials if t.user_attrs.get(FIDELITY) == name]
        table.add_row(name, str(len(level)), fmt(charged(level)))
    console.print(table)
    console.print(f"returned: {incumbent(summary.trials, ladder) or '-'} after "
                  f"{fmt(charged(summary.trials))} charged seconds")
    return 0


class DashboardCommand:
    help = "serve optuna-dashboard for the project's database on 127.0.0.1"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_db(parser)
        parser.add_argument("--port", type=port_number, default=DEFAULT_DASHBOARD_PORT)

    def take_action(self, args: argparse.Namespace) -> int:
        url = args.db or default_url()
        existing_database(url)  # a missing SQLite file is refused; unreachable: one line
        console.print(f"optuna-dashboard on http://127.0.0.1:{args.port}/ for {url} "
                      "(Ctrl-C stops it)")
        serve_dashboard(url, args.port)
        return 0
