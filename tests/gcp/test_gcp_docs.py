"""The outputs the deploy guide lists are the ones the program exports (under mocks)."""

from __future__ import annotations

import pytest
from program_modules import PROGRAM_DIR

from tests.docs.markdown_links import table_names

GUIDE = PROGRAM_DIR.parent / "docs" / "deploy-gcp.md"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_outputs_table_names_every_output_of_a_one_model_stack(graphs, stack):
    assert table_names(GUIDE, "Outputs") == set(graphs[stack].outputs)
