"""Regenerates every table and figure of docs/results.md and docs/reproducing.md from the run records
committed under docs/runs/.

    python -m tools.report            # rewrite the tables in place, redraw the figures
    python -m tools.report --check    # exit 1 if a committed table differs from what its records give

Run from the repository root. A generated part of a document is a block whose opening comment holds the
command that makes it:

    <!-- report: python -m tools.tables budget --results-dir docs/runs/matrix/value_factorisation ... -->
    | map | mazero | qmix | vdn |
    ...
    <!-- /report -->

Commands of `tools.tables`, `tools.study`, `tools.search_quality --table` and `tools.matrix_model --table` print the block's body (a study's `--figure` and `--forest` are drawn too);
a `tools.plots`, `tools.aggregate` or `tools.bandit` block only draws its figure, and its body (the image link) is left as
written."""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools import aggregate, bandit, matrix_model, plots, search_quality, study, tables

DOCUMENTS = (Path("docs/results.md"), Path("docs/reproducing.md"))
BLOCK = re.compile(r"^<!-- report: (?P<command>.+?) -->\n(?P<body>.*?)^<!-- /report -->", re.S | re.M)
TOOLS: dict[str, Callable[[list[str]], None]] = {"tools.tables": tables.main, "tools.study": study.main,
                                                 "tools.plots": plots.main,
                                                 "tools.search_quality": search_quality.main,
                                                 "tools.matrix_model": matrix_model.main,
                                                 "tools.aggregate": aggregate.main, "tools.bandit": bandit.main}
DRAWING_TOOLS = ("tools.plots", "tools.aggregate", "tools.bandit")  # their printout is not the block's body
FIGURE_FLAGS = ("--figure", "--forest", "--out")


@dataclass(frozen=True)
class Block:
    command: str
    body: str
    start: int
    end: int

    @property
    def argv(self) -> tuple[str, list[str]]:
        """The tool's module and its arguments; anything but `python -m <a report tool>` is refused."""
        words = shlex.split(self.command)
        if len(words) < 3 or words[:2] != ["python", "-m"] or words[2] not in TOOLS:
            raise ValueError(f"report block runs `{self.command}`: expected `python -m <{'|'.join(TOOLS)}> ...`")
        return words[2], words[3:]

    @property
    def draws_only(self) -> bool:
        return self.argv[0] in DRAWING_TOOLS


def blocks(text: str) -> list[Block]:
    found = [Block(m["command"], m["body"], m.start("body"), m.end("body")) for m in BLOCK.finditer(text)]
    for block in found:
        if "<!-- report: " in block.body:  # its end marker is missing: it would swallow the next block
            raise ValueError(f"report block without its <!-- /report --> line: {block.command}")
    return found


def without_figure(argv: list[str]) -> list[str]:
    """The arguments less a figure output, so that a check writes nothing."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in FIGURE_FLAGS:
            skip = True
        elif not word.startswith(tuple(f"{flag}=" for flag in FIGURE_FLAGS)):
            out.append(word)
    return out


def run(block: Block, figures: bool) -> str:
    """The block's regenerated body (its tool's printout less `wrote <path>` lines)."""
    module, argv = block.argv
    if not figures:
        argv = without_figure(argv)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        TOOLS[module](argv)
    lines = [line for line in printed.getvalue().splitlines() if not line.startswith("wrote ")]
    return "\n".join(lines).strip() + "\n"


def regenerate(text: str, figures: bool) -> tuple[str, list[Block]]:
    """The document with every table block's body replaced, and the blocks whose body changed."""
    changed, pieces, cursor = [], [], 0
    for block in blocks(text):
        if block.draws_only:
            if figures:
                run(block, figures=True)
            continue
        body = run(block, figures)
        if body != block.body:
            changed.append(block)
        pieces += [text[cursor:block.start], body]
        cursor = block.end
    return "".join(pieces) + text[cursor:], changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--document", type=Path, nargs="+", default=list(DOCUMENTS))
    parser.add_argument("--check", action="store_true", help="compare the tables only; write nothing")
    parser.add_argument("--no-figures", action="store_true", help="rewrite the tables, do not redraw figures")
    args = parser.parse_args(argv)
    differs = False
    for document in args.document:
        text = document.read_text()
        updated, changed = regenerate(text, figures=not (args.check or args.no_figures))
        for block in changed:
            print(f"{'differs' if args.check else 'updated'} in {document}: {block.command}")
        differs |= bool(changed)
        if not args.check:
            document.write_text(updated)
            print(f"{len(blocks(text))} blocks, {len(changed)} tables updated in {document}")
    if args.check:
        sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()
