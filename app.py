#!/usr/bin/env python3
"""CDK entry point: settings from context, the models from models.toml, cdk-nag, one stack for
the chosen environment.

npx cdk synth                                   # dev
npx cdk deploy -c env=prod                      # prod
npx cdk deploy -c env=prod -c alarm_email=oncall@example.com
npx cdk synth -c models_file=path/to/models.toml   # another declaration (default ./models.toml)

A store model (models.toml `source = "store"`) is deployed pinned to the version its pointer
names now: the app reads each pointer from the deployed stack's model store while it
synthesizes (docs/operate.md, "Model store"), with the credentials a deploy has. A model with no
pointer yet (a stack not deployed yet, a model never promoted) is served from its image until
one is promoted; a synth with no credentials at all (which no `cdk deploy` can be) goes on
unpinned and says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from handler.store import Pointer, StoreError
from model import catalog
from stacks.ci_access import CONSTRUCT_ID, GitHubDeployAccessStack, ci_access_settings
from stacks.settings import SettingsError, build_settings
from stacks.stack import InferenceStack

HERE = Path(__file__).resolve().parent


PointerReader = Callable[[str, Sequence[str]], Mapping[str, Pointer | None]]


def build(
    app: App,
    environ: Mapping[str, str],
    references: Mapping[str, Path] | None = None,
    read_pointers: PointerReader | None = None,
) -> InferenceStack:
    """Everything `cdk synth` runs, minus `synth()` itself, so tests build the very same app
    (with golden references of their own, by model name, so the snapshots do not move with the
    model, and the store models' pointers from a store of their own: `read_pointers(stack name,
    store model names)`)."""
    context = app.node.get_all_context()
    settings = build_settings(context)
    # The declared models; the file's directory is also every image's Docker build context.
    models = catalog.load(HERE / str(context.get("models_file") or catalog.DEFAULT_FILE))
    # Environment-agnostic unless the CLI resolved an account and region (it does when
    # credentials are configured). Nothing in the stack needs lookups; a store model's pointer
    # is read from the deployed stack when there is an account to read it in (below).
    account, region = environ.get("CDK_DEFAULT_ACCOUNT"), environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stored = [entry.name for entry in models.models if entry.store]
    pointers: Mapping[str, Pointer | None] = {}
    if stored and read_pointers is None and account is None:
        # The CLI found no credentials (a laptop offline, a pull request's checks), so nothing
        # synthesized now can be deployed by it: keep synth offline, say what it did.
        print(
            f'warning: {", ".join(stored)} (source = "store"): synthesized unpinned, as '
            "served before any promotion; a synth with credentials (cdk deploy) pins each "
            "model's promoted version",
            file=sys.stderr,
        )
        pointers = dict.fromkeys(stored)
    elif stored:
        reader = read_pointers or _deployed_pointers(region)
        pointers = reader(settings.stack_name, stored)
    stack = InferenceStack(
        app,
        settings.stack_name,
        settings=settings,
        models=models.models,
        references=references,
        store_pointers=pointers,
        env=env,
    )
    access = ci_access_settings(app.node.get_all_context())
    # Only with -c github_repository=owner/name (docs/ci-cd.md, "One-time setup").
    if access is not None:
        GitHubDeployAccessStack(app, CONSTRUCT_ID, settings=access, env=env)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def _deployed_pointers(region: str | None) -> PointerReader:
    """Read the pointers from the deployed stack with the default credentials (boto3)."""

    def read(stack_name: str, names: Sequence[str]) -> Mapping[str, Pointer | None]:
        from ops.aws import aws_session, describe_aws_error
        from ops.model_store import stack_pointers

        try:
            return stack_pointers(aws_session(region=region), stack_name, names)
        except Exception as exc:
            reason = describe_aws_error(exc) or str(exc)
            raise SettingsError(
                f'models.toml: {", ".join(names)} (source = "store"): cannot read the pointer '
                f"to pin from stack {stack_name}'s model store: {reason}. Synthesizing without it "
                "would serve the checkout's artifacts again, undoing the promotion"
            ) from None

    return read


def main() -> int:
    cdk_app = App()
    try:
        build(cdk_app, os.environ)
    except (SettingsError, catalog.CatalogError, StoreError) as error:
        # A settings mistake is the user's to fix, not a crash: one line each, no traceback.
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    cdk_app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
