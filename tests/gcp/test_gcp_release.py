"""make release-gcp / rollback-gcp (pulumi_gcp/release.py) against fakes of the Pulumi CLI, the
source bucket and make verify; and their clear failure when the CLI or credentials are absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from program_modules import PROGRAM_DIR, load
from program_runs import REPO_ROOT

release = load("release")

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def bundle(tag: str, day: int, rolled_back: bool = False, function: str = "fn"):
    return release.Bundle(f"{function}/source-{tag}.zip", T0 + timedelta(days=day), rolled_back)


@dataclass
class FakeStack:
    """The Pulumi CLI as the program behaves: `up` serves the pins, else the working tree.

    `tree` is the working tree's bundle of the stack's one model (iris, the primary: function
    `fn`), or each model's (model -> bundle; iris is `fn`, any other `fn-<model>`)."""

    tree: str | dict[str, str]
    deployed: dict = field(default_factory=dict)
    pin_value: str | None = None  # sourceObject: the primary's
    model_pins: dict[str, str] = field(default_factory=dict)  # sourceObjects.<model>
    up_results: list[bool] = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)
    stack: str = "prod"

    def outputs(self):
        return dict(self.deployed)

    def project(self):
        return "acme"

    def pins(self):
        return ({None: self.pin_value} if self.pin_value else {}) | self.model_pins

    def pin(self, name, model=None):
        if model is None:
            self.calls.append(("pin", name))
            self.pin_value = name
        else:
            self.calls.append(("pin", model, name))
            self.model_pins[model] = name

    def unpin(self, model=None):
        if model is None:
            self.calls.append(("unpin",))
            self.pin_value = None
        else:
            self.calls.append(("unpin", model))
            del self.model_pins[model]

    def up(self):
        ok = self.up_results.pop(0) if self.up_results else True
        if isinstance(self.tree, str):
            served = self.pin_value or self.tree
            self.calls.append(("up", served))
            if ok:
                self.deployed = deployed(served)
        else:
            models = {
                m: (self.pin_value if m == "iris" else self.model_pins.get(m)) or b
                for m, b in self.tree.items()
            }
            self.calls.append(("up", models))
            if ok:
                self.deployed = deployed_models(models)
        return ok


@dataclass
class FakeBundles:
    stored: list
    marked: list = field(default_factory=list)

    def list(self, bucket, prefix):
        assert bucket == "b" and prefix.endswith("/source-"), (bucket, prefix)
        return [b for b in self.stored if b.name.startswith(prefix)]

    def mark_rolled_back(self, bucket, name, when):
        self.marked.append(name)


class Verify:
    """make verify's results in order; records (stack, model) of each call."""

    def __init__(self, *results: int):
        self.results, self.calls = list(results), []

    def __call__(self, stack: str, model: str | None = None) -> int:
        self.calls.append((stack, model))
        return self.results.pop(0)

    @property
    def stacks(self) -> list[str]:
        return [stack for stack, _ in self.calls]


def deployed(served: str) -> dict:
    """The outputs of a stack serving iris alone, the primary model."""
    return deployed_models({"iris": served})


def deployed_models(served: dict[str, str]) -> dict:
    """The outputs of a stack serving these models: the primary's (iris) at the top level too."""
    models = {
        m: {"source_object": b, "function_name": function(m), "url": f"https://{function(m)}"}
        for m, b in served.items()
    }
    top = {"primary_model": "iris", **models["iris"]} if "iris" in models else {}
    return {**top, "models": models, "bucket_name": "b"}


def function(model: str) -> str:
    return "fn" if model == "iris" else f"fn-{model}"


def deployed_before_models(served: str) -> dict:
    """The outputs of a one-model stack deployed before the program exported `models`."""
    return {"source_object": served, "bucket_name": "b", "function_name": "fn"}


# --- choosing the previous bundle -------------------------------------------------------------


def test_previous_is_the_newest_bundle_uploaded_before_the_served_one():
    stored = [bundle("z", 0), bundle("a", 1), bundle("c", 3)]
    assert release.previous_bundle(stored, "fn/source-c.zip").name == "fn/source-a.zip"


def test_a_bundle_rolled_back_from_is_never_chosen_again():
    # GIVEN a -> b (bad, rolled back to a) -> c released: b was uploaded after a
    stored = [bundle("a", 1), bundle("b", 2, rolled_back=True), bundle("c", 3)]
    # THEN rolling back from c returns to a, not to the bad b
    assert release.previous_bundle(stored, "fn/source-c.zip").name == "fn/source-a.zip"


def test_rolling_back_twice_steps_further_back():
    stored = [bundle("z", 0), bundle("a", 1), bundle("b", 2, rolled_back=True)]
    # a is served again (pinned); the next rollback goes to what came before a
    assert release.previous_bundle(stored, "fn/source-a.zip").name == "fn/source-z.zip"


def test_nothing_to_choose_when_the_served_bundle_is_the_oldest():
    assert release.previous_bundle([bundle("a", 1), bundle("b", 2)], "fn/source-a.zip") is None


def test_served_bundle_deleted_by_the_lifecycle_rule_falls_back_to_the_newest_stored():
    stored = [bundle("a", 1), bundle("b", 2, rolled_back=True)]
    assert release.previous_bundle(stored, "fn/source-gone.zip").name == "fn/source-a.zip"


# --- rollback ---------------------------------------------------------------------------------


def test_rollback_pins_the_previous_bundle_deploys_marks_and_verifies():
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"))
    bundles = FakeBundles([bundle("a", 1), bundle("c", 3)])
    verify = Verify(0)
    assert release.rollback(stack, lambda project: bundles, verify) == 0
    assert stack.calls == [("pin", "fn/source-a.zip"), ("up", "fn/source-a.zip")]
    assert bundles.marked == ["fn/source-c.zip"]
    assert verify.calls == [("prod", "iris")]


def test_rollback_of_a_stack_of_one_model_takes_it_with_or_without_its_name():
    for model in (None, "iris"):
        stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"))
        bundles = FakeBundles([bundle("a", 1), bundle("c", 3)])
        assert release.rollback(stack, lambda p, b=bundles: b, Verify(0), model=model) == 0
        assert stack.calls == [("pin", "fn/source-a.zip"), ("up", "fn/source-a.zip")]


def test_rollback_of_a_stack_deployed_before_the_models_output(capsys):
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed_before_models("fn/source-c.zip"))
    bundles = FakeBundles([bundle("a", 1), bundle("c", 3)])
    verify = Verify(0)
    assert release.rollback(stack, lambda p: bundles, verify) == 0
    assert stack.calls == [("pin", "fn/source-a.zip"), ("up", "fn/source-a.zip")]
    assert verify.calls == [("prod", None)]


def test_rollback_to_a_named_bundle(capsys):
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"))
    bundles = FakeBundles([bundle("z", 0), bundle("a", 1), bundle("c", 3)])
    assert release.rollback(stack, lambda p: bundles, Verify(0), to="fn/source-z.zip") == 0
    assert ("up", "fn/source-z.zip") in stack.calls
    assert "fn/source-c.zip (served)" in capsys.readouterr().out


def test_rollback_refuses_a_bundle_that_is_not_stored():
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"))
    with pytest.raises(release.Unavailable, match=r"fn/source-x\.zip is not in gs://b"):
        release.rollback(
            stack, lambda p: FakeBundles([bundle("c", 3)]), Verify(), "fn/source-x.zip"
        )
    assert stack.calls == []


def test_rollback_with_nothing_earlier_says_how_to_redeploy_a_commit():
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"))
    with pytest.raises(release.Unavailable, match="git checkout <commit> && make deploy-gcp"):
        release.rollback(stack, lambda p: FakeBundles([bundle("c", 3)]), Verify())
    assert stack.calls == []


def test_rollback_of_a_stack_never_deployed_is_refused():
    with pytest.raises(release.Unavailable, match="has not been deployed"):
        release.rollback(FakeStack(tree="fn/source-a.zip"), lambda p: FakeBundles([]), Verify())


def test_rollback_that_still_fails_verification_says_the_bundle_is_not_the_cause(capsys):
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"))
    bundles = FakeBundles([bundle("a", 1), bundle("c", 3)])
    assert release.rollback(stack, lambda p: bundles, Verify(1)) == 1
    assert "the cause is not in the source bundle" in capsys.readouterr().out


def test_a_failed_rollback_deploy_keeps_the_pin_and_marks_nothing():
    stack = FakeStack(
        tree="fn/source-c.zip", deployed=deployed("fn/source-c.zip"), up_results=[False]
    )
    bundles = FakeBundles([bundle("a", 1), bundle("c", 3)])
    assert release.rollback(stack, lambda p: bundles, Verify()) == 1
    assert stack.pin_value == "fn/source-a.zip"
    assert bundles.marked == []


# --- release ----------------------------------------------------------------------------------


def test_release_deploys_the_tree_and_stops_when_verification_passes():
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-a.zip"))
    bundles = FakeBundles([bundle("a", 1), bundle("c", 3)])
    assert release.release(stack, lambda p: bundles, Verify(0)) == 0
    assert stack.calls == [("up", "fn/source-c.zip")]
    assert bundles.marked == []


def test_release_removes_a_pin_left_by_a_rollback():
    stack = FakeStack(
        tree="fn/source-c.zip", deployed=deployed("fn/source-a.zip"), pin_value="fn/source-a.zip"
    )
    assert release.release(stack, lambda p: FakeBundles([]), Verify(0)) == 0
    assert stack.calls == [("unpin",), ("up", "fn/source-c.zip")]


def test_failed_verification_serves_exactly_the_bundle_served_before():
    # GIVEN a was served (pinned after b was rolled back), and b is the newest upload
    stack = FakeStack(
        tree="fn/source-c.zip", deployed=deployed("fn/source-a.zip"), pin_value="fn/source-a.zip"
    )
    bundles = FakeBundles([bundle("a", 1), bundle("b", 2), bundle("c", 3)])
    verify = Verify(1, 0)
    # WHEN the release of c fails verification
    assert release.release(stack, lambda p: bundles, verify) == 1
    # THEN a, not b, is served again, c is marked, and a is verified
    assert stack.calls == [
        ("unpin",),
        ("up", "fn/source-c.zip"),
        ("pin", "fn/source-a.zip"),
        ("up", "fn/source-a.zip"),
    ]
    assert bundles.marked == ["fn/source-c.zip"]
    assert verify.stacks == ["prod", "prod"]


def test_release_that_cannot_be_verified_rolls_nothing_back(capsys):
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-a.zip"))
    assert release.release(stack, lambda p: FakeBundles([]), Verify(2)) == 2
    assert stack.calls == [("up", "fn/source-c.zip")]
    assert "make rollback-gcp STACK=prod MODEL=iris` serves fn/source-a.zip again" in (
        capsys.readouterr().out
    )


def test_failed_first_release_has_nothing_to_roll_back_to():
    stack = FakeStack(tree="fn/source-c.zip")
    assert release.release(stack, lambda p: FakeBundles([bundle("c", 3)]), Verify(1)) == 1
    assert stack.calls == [("up", "fn/source-c.zip")]


def test_settings_only_release_is_not_rolled_back_by_bundle(capsys):
    stack = FakeStack(tree="fn/source-a.zip", deployed=deployed("fn/source-a.zip"))
    assert release.release(stack, lambda p: FakeBundles([bundle("a", 1)]), Verify(1)) == 1
    assert stack.calls == [("up", "fn/source-a.zip")]
    assert "Revert the settings" in capsys.readouterr().out


def test_failed_store_promotion_is_undone_through_the_pointer_not_a_bundle(capsys):
    # GIVEN a store model whose release changed only the version its pointer names
    class StoreStack(FakeStack):
        def outputs(self):
            outputs = super().outputs()
            outputs["models"]["iris"]["model_store"] = "gs://models/models/iris"
            return outputs

    stack = StoreStack(tree="fn/source-a.zip", deployed=deployed("fn/source-a.zip"))
    older = [bundle("z", 0), bundle("a", 1)]
    assert release.release(stack, lambda p: FakeBundles(older), Verify(1)) == 1
    # THEN no older code bundle is served: the way back is promoting the previous version
    assert stack.calls == [("up", "fn/source-a.zip")]
    out = capsys.readouterr().out
    assert "make promote MODEL=iris VERSION=<previous> PULUMI_STACK=prod" in out


def test_previous_bundle_deleted_by_the_lifecycle_rule_is_reported(capsys):
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-a.zip"))
    assert release.release(stack, lambda p: FakeBundles([bundle("c", 3)]), Verify(1)) == 1
    assert stack.calls == [("up", "fn/source-c.zip")]
    assert "no longer in gs://b" in capsys.readouterr().out


def test_failed_deploy_is_not_verified(capsys):
    stack = FakeStack(tree="fn/source-c.zip", deployed=deployed("fn/source-a.zip"))
    stack.up_results = [False]
    verify = Verify()
    assert release.release(stack, lambda p: FakeBundles([]), verify) == 1
    assert verify.stacks == []
    assert "If the first deploy fails" in capsys.readouterr().out


# --- several models: one function, bundle and pin per model ------------------------------------


def two_models(iris: str = "fn/source-i1.zip", wine: str = "fn-wine/source-w1.zip"):
    return deployed_models({"iris": iris, "wine": wine})


MODEL_BUNDLES = [
    bundle("i1", 1, function="fn"),
    bundle("w1", 1, function="fn-wine"),
    bundle("i2", 3, function="fn"),
    bundle("w2", 3, function="fn-wine"),
]


def test_rollback_of_a_stack_with_several_models_needs_the_model(capsys):
    stack = FakeStack(tree={"iris": "x", "wine": "y"}, deployed=two_models())
    with pytest.raises(release.Unavailable, match=r"serves several models \(iris, wine\)"):
        release.rollback(stack, lambda p: FakeBundles(MODEL_BUNDLES), Verify())
    assert stack.calls == []


def test_rollback_of_one_model_pins_rebuilds_marks_and_verifies_only_that_model():
    # GIVEN i2 and w2 served, each with an earlier bundle
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=two_models("fn/source-i2.zip", "fn-wine/source-w2.zip"),
    )
    bundles = FakeBundles(MODEL_BUNDLES)
    verify = Verify(0)
    # WHEN wine is rolled back
    assert release.rollback(stack, lambda p: bundles, verify, model="wine") == 0
    # THEN only wine's pin is set, to wine's previous bundle; iris keeps serving its tree
    assert stack.calls == [
        ("pin", "wine", "fn-wine/source-w1.zip"),
        ("up", {"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w1.zip"}),
    ]
    assert bundles.marked == ["fn-wine/source-w2.zip"]
    assert verify.calls == [("prod", "wine")]


def test_rollback_lists_and_accepts_only_the_models_own_bundles(capsys):
    stack = FakeStack(tree={"iris": "x", "wine": "y"}, deployed=two_models())
    with pytest.raises(release.Unavailable, match=r"fn/source-i1\.zip is not in gs://b"):
        release.rollback(
            stack,
            lambda p: FakeBundles(MODEL_BUNDLES),
            Verify(),
            to="fn/source-i1.zip",
            model="wine",
        )
    listed = capsys.readouterr().out
    assert "fn-wine/source-w1.zip (served)" in listed and "fn/" not in listed


@pytest.mark.parametrize(
    ("deployment", "model", "message"),
    [
        (deployed("fn/source-a.zip"), "wine", r"serves no model 'wine' \(it serves iris\)"),
        (two_models(), "beer", r"serves no model 'beer' \(it serves iris, wine\)"),
        (
            deployed_before_models("fn/source-a.zip"),
            "wine",
            "serves a single model: roll it back without MODEL",
        ),
    ],
)
def test_rollback_refuses_a_model_the_stack_does_not_serve(deployment, model, message):
    stack = FakeStack(tree="fn/source-a.zip", deployed=deployment)
    with pytest.raises(release.Unavailable, match=message):
        release.rollback(stack, lambda p: FakeBundles([]), Verify(), model=model)


def test_release_of_several_models_unpins_deploys_and_verifies_each():
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=two_models(wine="fn-wine/source-w1.zip"),
        model_pins={"wine": "fn-wine/source-w1.zip"},
    )
    verify = Verify(0, 0)
    assert release.release(stack, lambda p: FakeBundles(MODEL_BUNDLES), verify) == 0
    assert stack.calls == [
        ("unpin", "wine"),
        ("up", {"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"}),
    ]
    assert verify.calls == [("prod", "iris"), ("prod", "wine")]


def test_release_serves_the_previous_bundle_again_only_for_the_model_that_failed(capsys):
    # GIVEN i1 and w1 served, and a working tree with new bundles for both
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=two_models(),
    )
    bundles = FakeBundles(MODEL_BUNDLES)
    verify = Verify(0, 1, 0)  # iris passes, wine fails, wine's rollback passes
    # WHEN the release fails wine's verification
    assert release.release(stack, lambda p: bundles, verify) == 1
    # THEN wine alone serves w1 again, iris keeps its new bundle
    assert stack.calls == [
        ("up", {"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"}),
        ("pin", "wine", "fn-wine/source-w1.zip"),
        ("up", {"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w1.zip"}),
    ]
    assert bundles.marked == ["fn-wine/source-w2.zip"]
    assert verify.calls == [("prod", "iris"), ("prod", "wine"), ("prod", "wine")]
    out = capsys.readouterr().out
    assert "iris: released fn/source-i2.zip" in out
    assert "wine: verification failed: serving the previous bundle fn-wine/source-w1.zip" in out


def test_release_rolls_back_every_failed_model_in_one_deploy():
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=two_models(),
    )
    verify = Verify(1, 1, 0, 0)
    assert release.release(stack, lambda p: FakeBundles(MODEL_BUNDLES), verify) == 1
    assert [c for c in stack.calls if c[0] == "up"] == [
        ("up", {"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"}),
        ("up", {"iris": "fn/source-i1.zip", "wine": "fn-wine/source-w1.zip"}),
    ]


def test_a_model_that_could_not_be_verified_is_not_rolled_back_with_one_that_failed(capsys):
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=two_models(),
    )
    verify = Verify(2, 1, 0)  # iris could not be verified, wine failed
    assert release.release(stack, lambda p: FakeBundles(MODEL_BUNDLES), verify) == 1
    assert ("pin", "wine", "fn-wine/source-w1.zip") in stack.calls
    assert not any(c == ("pin", "fn/source-i1.zip") for c in stack.calls)
    assert "`make rollback-gcp STACK=prod MODEL=iris` serves fn/source-i1.zip" in (
        capsys.readouterr().out
    )


def test_a_model_new_in_this_release_has_nothing_to_roll_back_to(capsys):
    # GIVEN a stack that served iris alone, now releasing iris and wine
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=deployed("fn/source-a.zip"),
    )
    assert release.release(stack, lambda p: FakeBundles([]), Verify(0, 1)) == 1
    assert "wine: the first release failed verification" in capsys.readouterr().out
    assert len(stack.calls) == 1


def test_the_first_release_after_models_were_exported_still_rolls_back(capsys):
    # GIVEN a one-model stack deployed before the program exported `models`
    stack = FakeStack(
        tree={"iris": "fn/source-i2.zip", "wine": "fn-wine/source-w2.zip"},
        deployed=deployed_before_models("fn/source-i1.zip"),
    )
    # WHEN its first release with a second model fails iris's verification
    assert release.release(stack, lambda p: FakeBundles(MODEL_BUNDLES), Verify(1, 0, 0)) == 1
    # THEN iris serves again what the stack served before, pinned by sourceObject as always
    assert ("pin", "fn/source-i1.zip") in stack.calls


def test_a_release_refuses_a_model_before_anything_runs(capsys):
    assert release.main(["release", "--stack", "prod", "--model", "wine"]) == 2
    assert "a release deploys every model of the stack" in capsys.readouterr().err


# --- the Pulumi CLI adapter -------------------------------------------------------------------


FAKE_PULUMI = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
case "$1 $2" in
  "config --json") cat "$(dirname "$0")/config.json" ;;
esac
"""


@pytest.fixture
def fake_pulumi(tmp_path):
    binary = tmp_path / "pulumi"
    binary.write_text(FAKE_PULUMI)
    binary.chmod(0o755)
    return binary


@pytest.mark.parametrize(
    ("key", "entry", "pins"),
    [
        ("sourceObject", {"value": "fn/source-a.zip"}, {None: "fn/source-a.zip"}),
        # `pulumi config --json` gives an object both as JSON text and as objectValue
        (
            "sourceObjects",
            {
                "value": '{"wine": "fn-wine/source-w1.zip"}',
                "objectValue": {"wine": "fn-wine/source-w1.zip"},
            },
            {"wine": "fn-wine/source-w1.zip"},
        ),
    ],
)
def test_pins_are_read_from_the_stack_config(fake_pulumi, key, entry, pins):
    (fake_pulumi.parent / "config.json").write_text(
        json.dumps(
            {
                "gcp:project": {"value": "acme", "secret": False},
                # whatever the project (and so the namespace) is called
                f"any-project:{key}": {**entry, "secret": False},
            }
        )
    )
    assert release.PulumiCli("prod", str(fake_pulumi)).pins() == pins


def test_a_models_pin_is_set_and_removed_by_its_config_path(fake_pulumi):
    cli = release.PulumiCli("prod", str(fake_pulumi))
    cli.pin("fn-wine/source-w1.zip", "wine")
    cli.unpin("wine")
    cli.pin("fn/source-a.zip")
    assert (fake_pulumi.parent / "calls").read_text().splitlines() == [
        "config set --path sourceObjects.wine fn-wine/source-w1.zip --stack prod",
        "config rm --path sourceObjects.wine --stack prod",
        "config set sourceObject fn/source-a.zip --stack prod",
    ]


# --- make verify, by its contract -------------------------------------------------------------


@pytest.mark.parametrize(("exit_status", "result"), [(0, 0), (1, 1), (2, 2), (3, 2)])
def test_verify_runs_make_verify_with_the_pulumi_stack_and_keeps_its_status(
    tmp_path, exit_status, result
):
    # make exits 2 for any failed recipe: the check failed (1) must still be told apart from
    # could not check (2), or a credentials problem would roll a good release back.
    (tmp_path / "Makefile").write_text(
        f'verify:\n\t@echo "$(PULUMI_STACK)" > verified-stack\n\t@exit {exit_status}\n'
    )
    assert release.make_verify("prod", repo_root=tmp_path) == result
    assert (tmp_path / "verified-stack").read_text().strip() == "prod"


def test_verify_of_one_of_several_models_passes_it_to_ops_verify(tmp_path):
    (tmp_path / "Makefile").write_text('verify:\n\t@echo "$(PULUMI_STACK) $(ARGS)" > verified\n')
    assert release.make_verify("prod", "wine", repo_root=tmp_path) == 0
    assert (tmp_path / "verified").read_text().strip() == "prod --model wine"


def test_verify_whose_prerequisite_fails_could_not_run(tmp_path):
    (tmp_path / "Makefile").write_text("verify: venv\n\t@true\nvenv:\n\t@exit 1\n")
    assert release.make_verify("prod", repo_root=tmp_path) == 2


def test_verify_without_a_verify_target_could_not_run(tmp_path, capsys):
    (tmp_path / "Makefile").write_text("test:\n\t@true\n")
    assert release.make_verify("prod", repo_root=tmp_path) == 2
    assert "this checkout has no `make verify`" in capsys.readouterr().out


# --- absent tools and credentials -------------------------------------------------------------


def test_missing_pulumi_cli_is_a_clear_error_before_anything_runs(capsys):
    assert release.main(["rollback", "--stack", "prod", "--pulumi", "no-such-pulumi"]) == 2
    error = capsys.readouterr().err
    assert "the Pulumi CLI ('no-such-pulumi') is not installed or not on PATH" in error
    assert "https://www.pulumi.com/docs/install/" in error


def test_missing_google_credentials_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file there
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # do not probe a metadata server
    with pytest.raises(release.Unavailable, match="gcloud auth application-default login"):
        release.BundleStore("acme")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["release-gcp", "rollback-gcp"])
def test_make_targets_stop_with_a_clear_message_without_the_pulumi_cli(target):
    completed = subprocess.run(
        ["make", "--no-print-directory", target, "STACK=prod", "PULUMI=no-such-pulumi"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "the Pulumi CLI ('no-such-pulumi') is not installed" in completed.stderr


@pytest.mark.parametrize(
    ("variable", "flag"), [("TO=fn/x.zip", "--to 'fn/x.zip'"), ("MODEL=wine", "--model 'wine'")]
)
def test_make_rollback_passes_the_stack_and_the_chosen_bundle_or_model(variable, flag):
    completed = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "rollback-gcp", "STACK=prod", variable],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pulumi_gcp/release.py rollback --stack prod --pulumi pulumi" in completed.stdout
    assert flag in completed.stdout


@pytest.mark.slow
def test_the_script_runs_as_a_file_outside_the_program(tmp_path):
    # Run the way the Makefile does, with no PYTHONPATH and a PATH without pulumi.
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, str(PROGRAM_DIR / "release.py"), "release", "--stack", "dev"],
        cwd=REPO_ROOT,
        env=env | {k: v for k, v in os.environ.items() if k == "SYSTEMROOT"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "the Pulumi CLI ('pulumi') is not installed" in completed.stderr
