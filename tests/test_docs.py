"""Docs that cannot drift: every ``mnist-hpo`` command line in README.md and docs/ parses with
today's parser, every relative link resolves, docs/cli.md is what the parsers say, and the
site builds with ``mkdocs build --strict``. Nothing here runs a command: argparse only."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO

from mnist_hpo.search.cli import build_parser
from mnist_hpo.search.cli.reference import REGENERATE, render

DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md"))]

#: Fenced blocks that hold commands to type. ``text`` blocks (usage lines), ``python`` and
#: ``yaml`` do not; an unlabelled block is a command's output, whose "Next:" lines are
#: commands too.
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}

#: Words that stand for "the rest as you like" in an example, never a value argparse sees.
ELLIPSIS = "..."

FENCE = re.compile(r"^```(\w*)\s*$")


def command_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, command) for each ``mnist-hpo`` invocation in the file's shell blocks,
    backslash continuations joined and ``&&``/``;``/``|`` chains split."""
    language: str | None = None
    pending, start = "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line.strip())
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language not in SHELL_BLOCKS:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical, pending = pending + line, ""
        for part in re.split(r"&&|;|\|(?!\|)", logical.split(" #", 1)[0]):
            if re.search(r"(^|\s)mnist-hpo(\s|$)", part):
                yield start, part.strip()


def parse_error(command: str) -> str | None:
    """None when ``command`` parses; else argparse's complaint."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError as err:
        return f"not a shell line: {err}"
    words = words[words.index("mnist-hpo") + 1:]
    words = [w for w in words if w != ELLIPSIS]
    stderr, stdout = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            build_parser().parse_args(words)
    except SystemExit as exit_:
        if exit_.code not in (0, None):  # --help and --version exit 0
            return stderr.getvalue().strip() or f"exit {exit_.code}"
    return None


def every_command() -> list[tuple[str, int, str]]:
    return [(str(path.relative_to(REPO)), number, command)
            for path in DOCS for number, command in command_lines(path)]


def test_the_docs_show_commands_to_check() -> None:
    """The extraction finds the README's commands (an empty list would pass anything)."""
    found = {command.split("mnist-hpo", 1)[1].split()[0]
             for where, _, command in every_command() if where == "README.md"}
    assert {"search", "leaderboard", "report", "export", "resume", "extend"} <= found, found


def test_every_command_line_in_the_docs_parses() -> None:
    failures = [f"{where}:{number}: {command}\n    {error}"
                for where, number, command in every_command()
                if (error := parse_error(command))]
    assert not failures, "\n".join(failures)


def test_a_wrong_flag_in_the_docs_would_be_caught() -> None:
    assert parse_error("mnist-hpo search --trials 6") is None
    assert "unrecognized arguments: --trails" in (parse_error("mnist-hpo search --trails 6")
                                                  or "")
    assert "invalid choice" in (parse_error("mnist-hpo serach") or "")


# --- links ------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """A heading's anchor as MkDocs' toc extension makes it (GitHub's agrees for ours)."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    found, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            found.add(slug(match.group(1)))
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            for match in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
                yield number, match.group(1)


def test_every_relative_link_resolves() -> None:
    broken = []
    for path in DOCS:
        for number, target in links(path):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO)}:{number}: {target}"
            if not linked.exists():
                broken.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{where}: no heading #{anchor} in {linked.name}")
    assert not broken, "\n".join(broken)


# --- the generated reference and the site -----------------------------------------------------

def test_the_cli_reference_is_what_the_parsers_say() -> None:
    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == render(), f"docs/cli.md is out of date; regenerate it: {REGENERATE}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict`` (a broken link, a page missing from nav's files, a bad
    anchor are errors), offline, into a temporary folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})  # Material's banner about MkDocs 2
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()
