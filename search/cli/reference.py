"""docs/cli.md, written from the parsers themselves, so the reference cannot drift from them.

Regenerate it after changing a flag (``tests/test_docs.py`` fails until then)::

    python -m mnist_hpo.search.cli.reference docs/cli.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeAlias

from mnist_hpo.search.cli.main import build_parser

REGENERATE = "python -m mnist_hpo.search.cli.reference docs/cli.md"

# argparse offers no public way to list a parser's arguments; ``_actions`` and
# ``_choices_actions`` have held them since Python 3.2 and are what its own help formatter reads.


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%(" in text:  # argparse's own placeholders, expanded as its help would
        text = text % {**vars(action), "prog": prog}
    return text


def _signature(action: argparse.Action) -> str:
    """``--trials N`` / ``EXPERIMENT`` / ``-v, --verbose``, as `--help` writes it."""
    if not action.option_strings:
        return str(action.metavar or action.dest)
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or (
        "{" + ",".join(map(str, action.choices)) + "}" if action.choices
        else action.dest.upper())
    return ", ".join(f"{flag} {metavar}" for flag in action.option_strings)


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _subcommands(parser: argparse.ArgumentParser) -> Subcommands | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _commands_table(parser: argparse.ArgumentParser) -> Iterator[str]:
    sub = _subcommands(parser)
    if sub is None:
        return
    summaries = {a.dest: a.help or "" for a in sub._choices_actions}
    yield "| command | what it does |"
    yield "|---|---|"
    for name, command in sub.choices.items():
        anchor = command.prog.replace(" ", "-")
        yield f"| [`{name}`](#{anchor}) | {_cell(summaries.get(name, ''))} |"
    yield ""


def _sections(parser: argparse.ArgumentParser, level: int) -> Iterator[str]:
    """One section per subcommand, and below it one per sub-subcommand (``spaces show``)."""
    sub = _subcommands(parser)
    if sub is None:
        return
    for command in sub.choices.values():
        yield from ("#" * level + " " + command.prog, "")
        if command.description:
            yield from (" ".join(command.description.split()), "")
        yield from ("```text", _usage(command), "```", "", *_arguments_table(command), "")
        yield from _commands_table(command)
        if command.epilog:
            yield from (" ".join(command.epilog.split()), "")
        yield from _sections(command, level + 1)


def _arguments_table(parser: argparse.ArgumentParser) -> Iterator[str]:
    rows = [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
            and a.help != argparse.SUPPRESS]
    if not rows:
        return
    yield "| argument | meaning |"
    yield "|---|---|"
    for action in rows:
        yield f"| `{_cell(_signature(action))}` | {_cell(_help(action, parser.prog))} |"


def _usage(parser: argparse.ArgumentParser) -> str:
    # A fixed width: the page must not depend on the terminal it was generated in.
    formatter = argparse.HelpFormatter(parser.prog, width=100)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference page: the top-level options, then every subcommand and its arguments."""
    parser = parser or build_parser()
    lines = [
        "# Command-line reference",
        "",
        "Generated from the command's own parsers; do not edit by hand. After changing a flag,",
        "regenerate it (the test suite fails until the page matches the parsers):",
        "",
        "```bash",
        REGENERATE,
        "```",
        "",
        parser.description or "",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        *_arguments_table(parser),
        "",
        *_commands_table(parser),
        *_sections(parser, 2),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference to the path given (``docs/cli.md``), or to stdout without one."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
