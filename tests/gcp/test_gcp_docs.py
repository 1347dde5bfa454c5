"""The outputs the deploy guide lists are the ones the program exports (under mocks)."""

from __future__ import annotations

import re

import pytest
from program_modules import PROGRAM_DIR

GUIDE = PROGRAM_DIR.parent / "docs" / "deploy-gcp.md"


def listed_outputs() -> set[str]:
    section = GUIDE.read_text().split("\n## Outputs\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return {name for cells in rows if len(cells) > 1 for name in re.findall(r"`(\w+)`", cells[0])}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_outputs_table_names_every_output_of_a_one_model_stack(graphs, stack):
    assert listed_outputs() == set(graphs[stack].outputs)
