"""Every table of docs/results.md is what `tools.report` regenerates from the records committed under
docs/runs/ (the figures are redrawn by the same command but not compared: PNG bytes vary by platform)."""
from pathlib import Path

import pytest

from tools import report

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = (REPO / "docs" / "results.md").read_text()
TABLES = [b for b in report.blocks(DOCUMENT) if not b.draws_only]


def test_results_md_has_generated_tables():
    commands = " ".join(b.command for b in TABLES)
    assert "tools.study docs/runs/smax_study/3m" in commands
    assert len(TABLES) >= 1


@pytest.mark.parametrize("block", TABLES, ids=lambda b: " ".join(b.argv[1][:3]))
def test_a_table_regenerates_from_the_committed_records(block, monkeypatch):
    monkeypatch.chdir(REPO)
    assert report.run(block, figures=False) == block.body


def test_check_reports_a_table_that_differs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    block = TABLES[0]
    tampered = DOCUMENT[:block.start] + block.body.replace("|", "¦", 1) + DOCUMENT[block.end:]
    document = tmp_path / "results.md"
    document.write_text(tampered)
    with pytest.raises(SystemExit) as exit_:
        report.main(["--document", str(document), "--check"])
    assert exit_.value.code == 1
    assert block.command in capsys.readouterr().out
    report.main(["--document", str(document), "--no-figures"])
    assert document.read_text() == DOCUMENT


def test_a_block_may_only_run_a_report_tool():
    block = report.blocks("<!-- report: rm -rf / -->\nx\n<!-- /report -->")[0]
    with pytest.raises(ValueError, match="expected `python -m"):
        block.argv


def test_a_check_draws_no_figure():
    assert report.without_figure(["a", "--figure", "docs/x", "--out=y", "b"]) == ["a", "b"]
