"""optuna-dashboard on the project's database (the ``dashboard`` extra)."""

from __future__ import annotations

from optuna.storages import RDBStorage

from nas.engines.nni_engine import MissingExtraError
from storage import optuna_engine_kwargs

LOCALHOST = "127.0.0.1"


def serve_dashboard(url: str, port: int) -> None:
    """Serve optuna-dashboard for the studies in ``url`` on 127.0.0.1:``port`` until
    interrupted; its HTTP API lists studies at ``/api/studies``.

    Raises:
        MissingExtraError: optuna-dashboard is not installed.
    """
    try:
        from optuna_dashboard import run_server
    except ImportError as exc:
        raise MissingExtraError("optuna-dashboard is not installed; run "
                                "`pip install -e .[dashboard]`") from exc
    # optuna-dashboard opens a URL without creating Optuna's tables; a database no search has
    # written yet lacks them, so hand it a storage that creates them.
    run_server(RDBStorage(url, engine_kwargs=optuna_engine_kwargs(url)), host=LOCALHOST, port=port)
