"""Search engines: every search is an Optuna study in the project's database.

Strategies register by name (``grid``, ``tpe``, ``rea`` (regularized evolution), ``sh``
(successive halving) and ``nni-*`` when the ``nni`` extra is installed); workers in many
processes or on many hosts share a study through the database.

Example:
    >>> from nas.engines import list_strategies
    >>> "grid" in list_strategies()
    True
"""

from nas.engines import nni_engine  # noqa: F401  (registers the nni-* strategies)
from nas.engines.config import SearchConfig, SearchJob
from nas.engines.results import attach_full_accuracy
from nas.engines.runner import SearchError, SearchSummary, run_search
from nas.engines.session import PRUNERS, SearchSession, open_search
from nas.engines.strategies import (
    Strategy,
    get_strategy,
    list_strategies,
    register_strategy,
)

__all__ = [
    "PRUNERS",
    "SearchConfig",
    "SearchError",
    "SearchJob",
    "SearchSession",
    "SearchSummary",
    "Strategy",
    "attach_full_accuracy",
    "get_strategy",
    "list_strategies",
    "open_search",
    "register_strategy",
    "run_search",
]
