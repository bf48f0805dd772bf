"""One registry type behind proxies, search spaces, strategies and distillers: the same
listing, the same error for an unknown name, and a refusal of a taken name."""

from __future__ import annotations

import pytest

from nas.distillers import get_distiller, list_distillers
from nas.engines.strategies import get_strategy, list_strategies
from nas.errors import UnknownNameError, UserError
from nas.registry import DuplicateNameError, Registry
from proxies import get_proxy, list_proxies
from search_spaces import get_space, list_spaces


def test_names_are_sorted_and_filtered_by_shell_pattern():
    registry = Registry[int]("colour")
    for name, value in (("red", 1), ("rose", 2), ("blue", 3)):
        registry.add(name, value)
    assert registry.names() == ["blue", "red", "rose"]
    assert registry.names("r*") == ["red", "rose"]
    assert registry.names("?ed") == ["red"]
    assert list(registry) == [1, 2, 3] and "rose" in registry and "pink" not in registry


def test_a_taken_name_is_refused_and_the_first_entry_kept():
    registry = Registry[int]("colour")
    registry.add("red", 1)
    with pytest.raises(DuplicateNameError, match="colour 'red' is already registered"):
        registry.add("red", 2)
    assert registry.get("red") == 1


def test_an_unknown_name_is_a_user_error_listing_the_valid_ones():
    registry = Registry[int]("colour")
    registry.add("red", 1)
    registry.add("blue", 2)
    with pytest.raises(UnknownNameError) as raised:
        registry.get("pink")
    assert str(raised.value) == "unknown colour 'pink'; available: blue, red"
    assert isinstance(raised.value, UserError) and isinstance(raised.value, KeyError)


@pytest.mark.parametrize(("get", "names", "kind"), [
    (get_proxy, list_proxies, "proxy method"),
    (get_space, list_spaces, "search space"),
    (get_strategy, list_strategies, "strategy"),
    (get_distiller, list_distillers, "distillation method"),
], ids=["proxies", "spaces", "strategies", "distillers"])
def test_every_extension_point_lists_and_refuses_alike(get, names, kind):
    every = names()
    assert every and every == sorted(every)
    assert names(f"{every[0][0]}*") == [n for n in every if n.startswith(every[0][0])]
    assert all(get(name) is not None for name in every)
    with pytest.raises(UnknownNameError) as raised:
        get("no-such-name")
    assert str(raised.value) == f"unknown {kind} 'no-such-name'; available: {', '.join(every)}"
