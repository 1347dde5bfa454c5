"""What the guides state about the synthesized templates is what synthesis produces: the stack's
outputs, its alarms, and what one more model adds. Each number is derived from the session's
apps (conftest.py), whatever cdk.json and models.toml say."""

from __future__ import annotations

import re
from pathlib import Path

from tests.aws.conftest import Synthesized
from tests.docs.markdown_links import table_names

DOCS = Path(__file__).resolve().parents[2] / "docs"
# CloudFormation's resource quota per stack (docs.aws.amazon.com, "CloudFormation quotas").
RESOURCES_PER_STACK = 500


def stated(guide: str, pattern: str) -> tuple[int, ...]:
    """The numbers `pattern` captures in docs/<guide>, which must state them exactly once."""
    text = " ".join((DOCS / guide).read_text().split())  # sentences may wrap anywhere
    found = re.findall(pattern, text)
    assert len(found) == 1, f"docs/{guide} should state this once: {pattern}"
    match = found[0] if isinstance(found[0], tuple) else (found[0],)
    return tuple(int(n) for n in match)


def alarm_counts(app: Synthesized, prefix: str) -> tuple[int, int]:
    """How many alarms named `<prefix>-...` page, and how many watch one release."""
    names = [name for name in app.alarms() if name.startswith(f"{prefix}-")]
    release = [name for name in names if name.startswith(f"{prefix}-release-")]
    return len(names) - len(release), len(release)


def test_the_outputs_table_names_every_output_of_a_one_model_stack(dev: Synthesized) -> None:
    assert table_names(DOCS / "deploy-aws.md", "Outputs") == set(dev.template["Outputs"])


def test_the_alarm_counts_the_cost_section_bills_are_the_templates(
    dev: Synthesized, prod: Synthesized
) -> None:
    prod_alarms, prod_release, dev_alarms = stated(
        "deploy-aws.md",
        r"prod has (\d+), plus (\d+) per-version release alarms; dev has (\d+)\.",
    )
    assert (prod_alarms, prod_release) == alarm_counts(prod, prod.settings.stack_name)
    assert (dev_alarms, 0) == alarm_counts(dev, dev.settings.stack_name)


def test_what_one_more_model_adds_to_prod_is_what_synthesis_adds(
    prod: Synthesized, two_model_app: Synthesized
) -> None:
    # GIVEN prod serving its models, and the same prod with wine declared as well
    one = len(prod.template["Resources"])
    added = len(two_model_app.template["Resources"]) - one
    wine = f"{two_model_app.settings.stack_name}-wine"
    alarms, release_alarms, resources, first, models = stated(
        "fork.md",
        r"and (\d+) alarms plus (\d+) release alarms \(about \$[\d.]+ a month\)\. "
        r"It also adds (\d+) resources to prod's template \(one model's is (\d+)\): "
        r"CloudFormation's limit of 500 per stack leaves room for about (\d+) models",
    )
    assert (alarms, release_alarms) == alarm_counts(two_model_app, wine)
    assert (resources, first) == (added, one)
    assert models == 1 + (RESOURCES_PER_STACK - one) // added
