#!/usr/bin/env python3
"""The CloudFormation templates the last `cdk synth` wrote, read from cdk.out/manifest.json, so
no make target guesses a stack's name (a fork renames its stacks in cdk.json).

    python scripts/cdk_templates.py list                 # one template path per line
    python scripts/cdk_templates.py checkov <checkov>    # scan them all; fail on any finding,
                                                         # and when nothing was parsed at all
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CDK_OUT = Path("cdk.out")


def templates(cdk_out: Path = CDK_OUT) -> list[Path]:
    try:
        manifest = json.loads((cdk_out / "manifest.json").read_text())
    except FileNotFoundError:
        raise SystemExit(f"no {cdk_out}/manifest.json: run `make synth` first") from None
    found = [
        cdk_out / artifact["properties"]["templateFile"]
        for artifact in manifest.get("artifacts", {}).values()
        if artifact.get("type") == "aws:cloudformation:stack"
    ]
    if not found:
        raise SystemExit(f"{cdk_out}/manifest.json lists no stack: did `cdk synth` fail?")
    return found


def checkov(binary: str, files: list[Path]) -> int:
    """checkov's own report on the console, and a verdict from its JSON report: checkov exits 0
    on a template it could not parse, which would let the gate pass having scanned nothing."""
    with tempfile.TemporaryDirectory() as folder:
        command = [binary, "--framework", "cloudformation", "--skip-download", "--compact"]
        for file in files:
            command += ["-f", str(file)]
        report_file = Path(folder) / "report.json"
        command += ["-o", "cli", "-o", "json", "--output-file-path", f"console,{report_file}"]
        status = subprocess.run(command).returncode
        report = json.loads(report_file.read_text())
    # One report per framework, or a bare summary when checkov found nothing to report on.
    summaries = [r.get("summary", r) for r in (report if isinstance(report, list) else [report])]
    parsed = sum(s["resource_count"] for s in summaries)
    errors = sum(s["parsing_errors"] for s in summaries)
    if errors or not parsed:
        names = ", ".join(str(f) for f in files)
        print(f"checkov: {errors} parsing error(s), {parsed} resource(s) scanned in {names}")
        return 1
    return status


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        print("\n".join(str(path) for path in templates()))
        return 0
    if argv[:1] == ["checkov"] and len(argv) == 2:
        return checkov(argv[1], templates())
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
