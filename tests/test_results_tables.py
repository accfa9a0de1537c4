"""The study's tables in docs/results.md are what `tools.study` prints from the committed records."""
import re
from pathlib import Path

import pytest

from tools.study import cells, load_evaluations, markdown_table

REPO = Path(__file__).resolve().parents[1]
TABLE = re.compile(r"<!-- smax_study (?P<map>\S+) table: steps (?P<steps>[\d ]+); order (?P<order>[^>]*?) -->\n"
                   r"(?P<table>.*?)\n<!-- /smax_study (?P=map) table -->", re.S)


def study_tables() -> list[re.Match]:
    return list(TABLE.finditer((REPO / "docs" / "results.md").read_text()))


def test_results_md_has_the_study_tables():
    assert {m["map"] for m in study_tables()} >= {"3m"}


@pytest.mark.parametrize("match", study_tables(), ids=lambda m: m["map"])
def test_a_study_table_regenerates_from_the_committed_records(match):
    steps = [int(s) for s in match["steps"].split()]
    order = [name.strip() for name in match["order"].split(",")]
    evaluations = load_evaluations(REPO / "docs" / "runs" / "smax_study" / match["map"])
    assert markdown_table(cells(evaluations, steps), steps, order) == match["table"].strip()
