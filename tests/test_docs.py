"""The README and docs/ stand alone: every relative link reaches a file (and, for ``#anchor``, a
heading of it), every ``docs/<page>.md#anchor`` the code cites exists, and every ``nas``
command in their shell blocks is accepted by the command line's parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nas.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "benchmarks" / "results" / "README.md"]
CODE_DIRS = ("nas", "proxies", "storage", "search_spaces", "benchmarks", "tests")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CITED = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")
REPO_PATH = re.compile(r"(?<![\w/.-])((?:nas|proxies|storage|search_spaces|benchmarks|tests|docs)"
                       r"/[\w./-]+\.(?:py|sh|md|json|csv|gz))(?![\w/-])")


def _prose_and_blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Lines outside fenced code blocks, and each block as (language, lines)."""
    prose, blocks, block = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if block is None:
                block = (line[3:].strip(), [])
            else:
                blocks.append(block)
                block = None
        elif block is None:
            prose.append(line)
        else:
            block[1].append(line)
    return prose, blocks


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in _prose_and_blocks(page.read_text(encoding="utf-8"))[0]:
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            slug = _slug(match.group(1))
            n = 0
            while (slug if n == 0 else f"{slug}-{n}") in found:  # repeats get -1, -2, ...
                n += 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def test_slug_follows_github() -> None:
    assert _slug("The space (`search_spaces/nb201.py`)") == "the-space-search_spacesnb201py"
    assert _slug("`cpu-full`: all 45,000 images") == "cpu-full-all-45000-images"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    broken = []
    for line in _prose_and_blocks(page.read_text(encoding="utf-8"))[0]:
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(target)
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_named_in_text_exist(page: Path) -> None:
    named = REPO_PATH.findall(page.read_text(encoding="utf-8"))
    assert [path for path in named if not (ROOT / path).exists()] == []


def test_docs_anchors_cited_in_code_exist() -> None:
    broken = []
    for folder in CODE_DIRS:
        for source in sorted((ROOT / folder).rglob("*.py")) + sorted(
                (ROOT / folder).rglob("*.sh")):
            for name, anchor in CITED.findall(source.read_text(encoding="utf-8")):
                page = ROOT / "docs" / name
                if not page.exists() or (anchor and anchor not in anchors(page)):
                    broken.append(f"{source.relative_to(ROOT)}: docs/{name}#{anchor}")
    assert broken == []


def _nas_commands(page: Path) -> list[str]:
    """``nas ...`` lines of the page's bash blocks, continuations joined; placeholder lines
    (``...`` or ``[optional]``) are left out."""
    commands = []
    for language, lines in _prose_and_blocks(page.read_text(encoding="utf-8"))[1]:
        if language != "bash":
            continue
        joined = "\n".join(lines).replace("\\\n", " ")
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            while words and "=" in words[0]:  # leading VAR=value assignments
                words = words[1:]
            if words[:1] == ["nas"] and not any(w == "..." or w[:1] == "[" for w in words):
                commands.append(shlex.join(words))
    return commands


COMMANDS = [(page, command) for page in PAGES for command in _nas_commands(page)]


def test_readme_shows_the_pipeline() -> None:
    shown = {shlex.split(c)[1] for page, c in COMMANDS if page.name == "README.md"}
    assert {"data", "proxy", "search", "ground-truth", "report"} <= shown


@pytest.mark.parametrize("page,command", COMMANDS,
                         ids=[f"{p.relative_to(ROOT)}: {c}" for p, c in COMMANDS])
def test_documented_commands_parse(page: Path, command: str) -> None:
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as exc:
        pytest.fail(f"{page.name}: `{command}` is refused by the parser (exit {exc.code})")
