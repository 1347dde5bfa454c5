"""The pipeline's rules that neither GitHub's schema nor zizmor knows (both run in lint-workflows)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SETUP_ACTION = REPO_ROOT / ".github" / "actions" / "setup" / "action.yml"
LOCAL_SETUP = "./.github/actions/setup"
# The steps that obtain cloud credentials, and those whose dependencies run install-time code.
CREDENTIAL_ACTIONS = (
    "aws-actions/configure-aws-credentials@",
    "google-github-actions/auth@",
    "pulumi/auth-actions@",
)
INSTALLS = re.compile(r"\bmake (?:[a-z-]+ )*(?:venv|npm|model)\b|npm (?:ci|install)|pip install")


def _load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


ALL = {path.name: _load(path.name) for path in sorted(WORKFLOWS.glob("*.yml"))}


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_id, job) for name, wf in ALL.items() for job_id, job in wf["jobs"].items()]


def _steps() -> list[tuple[str, str, dict[str, Any]]]:
    """Every step of every job, and of the composite setup action the jobs share."""
    composite = yaml.safe_load(SETUP_ACTION.read_text())["runs"]["steps"]
    return [
        *((name, job_id, step) for name, job_id, job in _jobs() for step in job.get("steps", [])),
        *(("actions/setup", "composite", step) for step in composite),
    ]


def test_workflow_files_are_the_four_we_document():
    assert sorted(ALL) == ["aws-deploy.yml", "checks.yml", "deploy.yml", "gcp-deploy.yml"]


def test_pull_requests_run_the_tests_and_synthesize_both_environments():
    checks = ALL["checks.yml"]
    assert set(checks["on"]) == {"pull_request", "workflow_call"}
    runs = [step.get("run", "") for step in checks["jobs"]["test"]["steps"]]
    assert "make test" in runs
    synth = checks["jobs"]["synth"]
    assert synth["strategy"]["matrix"]["environment"] == ["dev", "prod"]
    assert synth["steps"][-1]["run"] == 'make synth ENV="$TARGET_ENV"'
    assert synth["steps"][-1]["env"]["TARGET_ENV"] == "${{ matrix.environment }}"


def test_main_promotes_each_cloud_from_checks_to_dev_to_prod():
    deploy = ALL["deploy.yml"]
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/checks.yml"
    for cloud in ("aws", "gcp"):
        dev, prod = jobs[f"{cloud}-dev"], jobs[f"{cloud}-prod"]
        assert dev["needs"] == "checks"
        assert dev["if"] == f"vars.DEPLOY_{cloud.upper()} == 'true'"
        assert prod["needs"] == f"{cloud}-dev"  # so prod waits for dev's verification
        for job, environment in ((dev, "dev"), (prod, "prod")):
            assert job["uses"] == f"./.github/workflows/{cloud}-deploy.yml"
            assert job["with"] == {"environment": environment}


@pytest.mark.parametrize("name", ["aws-deploy.yml", "gcp-deploy.yml"])
def test_a_deploy_job_runs_in_its_environment_and_never_overlaps_another(name):
    (job,) = ALL[name]["jobs"].values()
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    cloud = name.split("-")[0]
    assert job["concurrency"] == {
        "group": f"deploy-{cloud}-${{{{ inputs.environment }}}}",
        "cancel-in-progress": False,  # never abandon a CloudFormation update or pulumi up
    }
    assert job["timeout-minutes"] <= 60


AWS_STEPS = ALL["aws-deploy.yml"]["jobs"]["deploy"]["steps"]
CREDENTIALS = "aws-actions/configure-aws-credentials@"


def _aws_step(containing: str) -> int:
    (index,) = [i for i, step in enumerate(AWS_STEPS) if containing in step.get("run", "")]
    return index


def _credentials_before(index: int) -> dict[str, Any]:
    """What the AWS credentials step in force at step `index` was given."""
    steps = [s for s in AWS_STEPS[:index] if s.get("uses", "").startswith(CREDENTIALS)]
    return dict(steps[-1]["with"])


def test_an_aws_deploy_verifies_what_it_deployed():
    assert _aws_step("make deploy-aws") < _aws_step("make verify")


def test_an_aws_deploy_runs_as_the_deploy_role_and_verifies_as_the_verify_role():
    # The deploy role may only assume the CDK bootstrap roles; prod's auth=iam API answers only
    # a caller with execute-api:Invoke. The checks get their own role (stacks/ci_access.py),
    # assumed from the OIDC token, not chained through the deploy role's session.
    deploy = _credentials_before(_aws_step("make deploy-aws"))
    verify = _credentials_before(_aws_step("make verify"))
    assert deploy["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert verify["role-to-assume"] == "${{ vars.AWS_VERIFY_ROLE_ARN }}"
    assert verify["unset-current-credentials"] is True
    assert verify["allowed-account-ids"] == "${{ steps.aws.outputs.aws-account-id }}"
    for credentials in (deploy, verify):
        assert credentials["aws-region"] == "${{ vars.AWS_REGION }}"
        assert "role-chaining" not in credentials
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials)
    assert not any("lookup-role" in str(step) for step in AWS_STEPS)


def test_an_aws_deploy_checks_its_variables_before_anything_deploys():
    (check,) = [s for s in AWS_STEPS if "AWS_VERIFY_ROLE_ARN" in s.get("env", {})]
    assert AWS_STEPS.index(check) < _aws_step("make deploy-aws")
    assert set(check["env"]) == {"AWS_DEPLOY_ROLE_ARN", "AWS_VERIFY_ROLE_ARN", "AWS_REGION"}
    for name, value in check["env"].items():
        assert value == f"${{{{ vars.{name} }}}}"
    # GIVEN an environment without AWS_VERIFY_ROLE_ARN
    result = _run_step(check, {**check["env"], "AWS_VERIFY_ROLE_ARN": ""})
    assert result.returncode == 1
    assert "::error::variable AWS_VERIFY_ROLE_ARN is not set" in result.stdout
    assert _run_step(check, {name: "set" for name in check["env"]}).returncode == 0


def _run_step(
    step: dict[str, Any], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A step's script as the runner runs it (`bash -e`), with the step's env given as values."""
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("outputs", "models"),
    [
        ({"ApiUrl": "https://api.invalid/"}, ""),  # one model: no Models output
        ({"ApiUrl": "https://api.invalid/", "Models": "iris,wine"}, "iris wine"),
    ],
)
def test_reading_the_stack_names_its_models(tmp_path, outputs, models):
    (step,) = [s for s in AWS_STEPS if s.get("id") == "stack"]
    (tmp_path / "cdk.out").mkdir()
    (tmp_path / "cdk.out" / "outputs-prod.json").write_text(
        json.dumps({"SklearnInference-prod": outputs})
    )
    github_output = tmp_path / "github_output"
    env = {"TARGET_ENV": "prod", "GITHUB_OUTPUT": str(github_output)}
    result = _run_step(step, env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert github_output.read_text().splitlines() == [
        "name=SklearnInference-prod",
        "api-url=https://api.invalid/",
        f"models={models}",
    ]


@pytest.mark.parametrize(
    ("models", "failing", "calls", "status"),
    [
        ("", "", ["verify STACK=SklearnInference-prod"], 0),
        ("", "SklearnInference-prod", ["verify STACK=SklearnInference-prod"], 2),
        (
            "iris wine",
            "--model iris",
            [
                "verify STACK=SklearnInference-prod ARGS=--model iris",
                "verify STACK=SklearnInference-prod ARGS=--model wine",
            ],
            1,
        ),
    ],
)
def test_verify_checks_every_model_and_fails_if_one_fails(tmp_path, models, failing, calls, status):
    # GIVEN a `make` that records its arguments and fails (exit 2, as make does) on `failing`
    fake = tmp_path / "bin" / "make"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/bash\necho "$*" >> "$CALLS"\n'
        'if [ -n "$FAILING" ] && [[ "$*" == *"$FAILING"* ]]; then exit 2; fi\n'
    )
    fake.chmod(0o755)
    (step,) = [s for s in AWS_STEPS if "make verify" in s.get("run", "")]
    assert step["env"] == {
        "STACK_NAME": "${{ steps.stack.outputs.name }}",
        "MODELS": "${{ steps.stack.outputs.models }}",
    }
    env = {
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "FAILING": failing,
        "STACK_NAME": "SklearnInference-prod",
        "MODELS": models,
    }
    result = _run_step(step, env)
    assert (tmp_path / "calls").read_text().splitlines() == calls
    assert result.returncode == status


def test_a_gcp_deploy_is_a_release_that_verifies_and_rolls_back_on_failure():
    # release-gcp deploys, runs `make verify` and, on a failed check, serves again the bundle
    # served before and exits non-zero (pulumi_gcp/release.py; tests/gcp/test_gcp_release.py).
    runs = [step.get("run", "") for step in ALL["gcp-deploy.yml"]["jobs"]["deploy"]["steps"]]
    assert 'make release-gcp STACK="$PULUMI_STACK"' in runs
    assert not any("make deploy-gcp" in run for run in runs)


def test_permissions_are_denied_by_default_and_oidc_only_reaches_deploy_jobs():
    for name, workflow in ALL.items():
        assert workflow["permissions"] == {}, name
    for name, job_id, job in _jobs():
        granted = job["permissions"]
        assert granted.get("contents") == "read", (name, job_id)
        assert set(granted) <= {"contents", "id-token"}, (name, job_id)
        if granted.get("id-token") == "write":
            deploys = "environment" in job or job.get("uses", "").endswith("-deploy.yml")
            assert deploys, f"{name}:{job_id} asks for an OIDC token but deploys nothing"


def test_run_scripts_take_no_expressions_only_environment_variables():
    # A ${{ }} in a script is pasted into the shell before it runs; values go through env:.
    for name, job_id, step in _steps():
        assert "${{" not in step.get("run", ""), f"{name}:{job_id}: {step['run']!r}"


def test_third_party_actions_are_pinned_to_a_commit_with_its_release_beside_it():
    # A tag can be moved to other code; a commit cannot. Dependabot updates both together.
    for path in [*WORKFLOWS.glob("*.yml"), SETUP_ACTION]:
        for line in path.read_text().splitlines():
            uses = re.search(r"uses: (\S+)(.*)$", line)
            if uses is None or uses.group(1).startswith("./.github/"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses.group(1)), (path.name, line)
            assert re.fullmatch(r" # v\d+\.\d+\.\d+", uses.group(2)), (path.name, line)


def test_the_repositorys_own_workflows_and_action_are_referenced_as_paths_every_runner_reads():
    # `$/...` needs runner 2.336+ and does not exist on GitHub Enterprise Server.
    for path in [*WORKFLOWS.glob("*.yml"), SETUP_ACTION]:
        assert "uses: $/" not in path.read_text(), path.name
    local = [s.get("uses") for _, _, s in _steps() if s.get("uses", "").startswith("./")]
    local += [job["uses"] for _, _, job in _jobs() if "uses" in job]
    assert local and all(u.startswith("./.github/") for u in local)


@pytest.mark.parametrize(
    ("name", "job_id"), [("aws-deploy.yml", "deploy"), ("gcp-deploy.yml", "deploy")]
)
def test_everything_is_installed_before_any_credential_is_obtained(name, job_id):
    steps = ALL[name]["jobs"][job_id]["steps"]
    credentials = [
        i for i, s in enumerate(steps) if s.get("uses", "").startswith(CREDENTIAL_ACTIONS)
    ]
    installs = [
        i
        for i, s in enumerate(steps)
        if INSTALLS.search(s.get("run", ""))
        or s.get("uses", "").startswith(("pulumi/actions@", LOCAL_SETUP))
    ]
    assert credentials and installs
    assert max(installs) < min(credentials), [steps[i].get("name") for i in installs]


def test_the_install_step_builds_what_the_deploy_targets_need():
    # make deploy-aws depends on `model` and the npm stamp; make release-gcp on `model`
    # (Makefile): with these done, no install runs once credentials are held.
    runs = {
        name: [s.get("run", "") for s in ALL[name]["jobs"]["deploy"]["steps"]]
        for name in ("aws-deploy.yml", "gcp-deploy.yml")
    }
    assert "make venv npm model" in runs["aws-deploy.yml"]
    assert "make venv model" in runs["gcp-deploy.yml"]


def test_dependabot_keeps_actions_python_and_npm_pins_current():
    config = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text())
    by_ecosystem = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(by_ecosystem) == {"github-actions", "pip", "npm"}
    # Every folder holding a pinned requirements file (pip ignores nothing it installs from)
    files = [
        *REPO_ROOT.glob("requirements*.txt"),
        *REPO_ROOT.glob("*/requirements*.txt"),
        *(REPO_ROOT / "handler" / "requirements").glob("*.txt"),
    ]
    folders = {"/" + str(f.parent.relative_to(REPO_ROOT)).removeprefix(".") for f in files}
    assert set(by_ecosystem["pip"]["directories"]) == {f.rstrip("/") or "/" for f in folders}


def test_zizmor_keeps_its_pinning_rule():
    config = yaml.safe_load((REPO_ROOT / ".github" / "zizmor.yml").read_text())
    assert "unpinned-uses" not in config["rules"]


def test_checkouts_keep_no_token_on_disk():
    for name, job_id, step in _steps():
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, (name, job_id)


def test_pulumi_cli_is_the_version_of_the_pinned_sdk():
    (pin,) = re.findall(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    installs = [s for _, _, s in _steps() if s.get("uses", "").startswith("pulumi/actions@")]
    assert installs
    assert all(s["with"]["pulumi-version"] == pin for s in installs)


def test_make_targets_the_workflows_call_exist():
    makefile = (REPO_ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([a-z0-9-]+):", makefile, re.M))
    called = {
        target
        for _, _, step in _steps()
        for target in re.findall(r"\bmake ([a-z0-9-]+)", step.get("run", ""))
    }
    assert {"test", "synth", "deploy-aws", "release-gcp", "verify"} <= called
    assert called <= defined
