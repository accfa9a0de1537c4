"""Every table of docs/results.md and docs/reproducing.md is what `tools.report` regenerates from the
records committed under docs/runs/ (the figures are redrawn by the same command but not compared: PNG
bytes vary by platform), and every figure that docs/reproducing.md shows is drawn by one of its blocks."""
import re
from pathlib import Path

import pytest

from tools import report

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = {path: (REPO / path).read_text() for path in report.DOCUMENTS}
RESULTS = DOCUMENTS[Path("docs/results.md")]
TABLES = [(path, block) for path, text in DOCUMENTS.items() for block in report.blocks(text) if not block.draws_only]


def test_both_documents_have_generated_tables():
    commands = {path: " ".join(b.command for p, b in TABLES if p == path) for path in DOCUMENTS}
    assert "tools.study docs/runs/smax_study/3m" in commands[Path("docs/results.md")]
    assert "tools.tables search" in commands[Path("docs/reproducing.md")]


@pytest.mark.parametrize("path, block", TABLES, ids=lambda x: x.name if isinstance(x, Path) else " ".join(x.argv[1][:3]))
def test_a_table_regenerates_from_the_committed_records(path, block, monkeypatch):
    monkeypatch.chdir(REPO)
    assert report.run(block, figures=False) == block.body


def test_every_figure_of_reproducing_md_is_drawn_from_committed_records():
    shown = set(re.findall(r"\]\(figures/([\w.-]+)\.png\)", DOCUMENTS[Path("docs/reproducing.md")]))
    drawn = set()
    for text in DOCUMENTS.values():
        for block in report.blocks(text):
            argv = block.argv[1]
            assert not [word for word in argv if word.startswith("results")], f"reads uncommitted runs: {block.command}"
            drawn |= {Path(argv[i + 1]).name for i, word in enumerate(argv[:-1]) if word in report.FIGURE_FLAGS}
    assert shown and shown <= drawn, f"shown but drawn by no report block: {sorted(shown - drawn)}"


def test_check_reports_a_table_that_differs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    block = next(b for p, b in TABLES if p == Path("docs/results.md"))
    tampered = RESULTS[:block.start] + block.body.replace("|", "¦", 1) + RESULTS[block.end:]
    document = tmp_path / "results.md"
    document.write_text(tampered)
    with pytest.raises(SystemExit) as exit_:
        report.main(["--document", str(document), "--check"])
    assert exit_.value.code == 1
    assert block.command in capsys.readouterr().out
    report.main(["--document", str(document), "--no-figures"])
    assert document.read_text() == RESULTS


def test_a_block_may_only_run_a_report_tool():
    block = report.blocks("<!-- report: rm -rf / -->\nx\n<!-- /report -->")[0]
    with pytest.raises(ValueError, match="expected `python -m"):
        block.argv


def test_a_check_draws_no_figure():
    assert report.without_figure(["a", "--figure", "docs/x", "--out=y", "b"]) == ["a", "b"]


def test_a_block_without_its_end_line_is_refused():
    """A missing `<!-- /report -->` would make a block reach to the next block's end line and
    silently take that block (and its table) out of the regeneration and of these tests."""
    text = ("<!-- report: python -m tools.plots --out x -->\n![x](x.png)\n\n"
            "<!-- report: python -m tools.tables runs --results-dir y -->\n| a |\n<!-- /report -->\n")
    with pytest.raises(ValueError, match="without its <!-- /report --> line: python -m tools.plots"):
        report.blocks(text)
    fixed = text.replace("![x](x.png)\n", "![x](x.png)\n<!-- /report -->\n")
    assert [b.command.split()[2] for b in report.blocks(fixed)] == ["tools.plots", "tools.tables"]
