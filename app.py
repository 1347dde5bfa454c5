#!/usr/bin/env python3
"""CDK entry point: settings from context, the models from models.toml, cdk-nag, one stack for
the chosen environment.

npx cdk synth                                   # dev
npx cdk deploy -c env=prod                      # prod
npx cdk deploy -c env=prod -c alarm_email=oncall@example.com
npx cdk synth -c models_file=path/to/models.toml   # another declaration (default ./models.toml)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from model import catalog
from stacks.ci_access import CONSTRUCT_ID, GitHubDeployAccessStack, ci_access_settings
from stacks.settings import SettingsError, build_settings
from stacks.stack import InferenceStack

HERE = Path(__file__).resolve().parent


def build(
    app: App, environ: Mapping[str, str], references: Mapping[str, Path] | None = None
) -> InferenceStack:
    """Everything `cdk synth` runs, minus `synth()` itself, so tests build the very same app
    (with golden references of their own, by model name, so the snapshots do not move with the
    model)."""
    context = app.node.get_all_context()
    settings = build_settings(context)
    # The declared models; the file's directory is also every image's Docker build context.
    models = catalog.load(HERE / str(context.get("models_file") or catalog.DEFAULT_FILE))
    # Environment-agnostic unless the CLI resolved an account and region (it does when
    # credentials are configured). Nothing in the stack needs lookups either way.
    account, region = environ.get("CDK_DEFAULT_ACCOUNT"), environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stack = InferenceStack(
        app,
        settings.stack_name,
        settings=settings,
        models=models.models,
        references=references,
        env=env,
    )
    access = ci_access_settings(app.node.get_all_context())
    # Only with -c github_repository=owner/name (docs/ci-cd.md, "One-time setup").
    if access is not None:
        GitHubDeployAccessStack(app, CONSTRUCT_ID, settings=access, env=env)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> int:
    cdk_app = App()
    try:
        build(cdk_app, os.environ)
    except (SettingsError, catalog.CatalogError) as error:
        # A settings mistake is the user's to fix, not a crash: one line each, no traceback.
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    cdk_app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
