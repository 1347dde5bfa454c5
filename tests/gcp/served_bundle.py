"""The source archive the program uploads, extracted and served by the real functions-framework.

The server runs in a process that sees only the extracted tree (no PYTHONPATH, the tree first on
sys.path), as Cloud Functions would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from program_modules import load

from handler.bundle import gcf_source_files

archive = load("archive")

SERVE_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import functions_framework, handler
assert handler.__file__.startswith(sys.argv[1]), handler.__file__
app = functions_framework.create_app(target="predict", source=sys.argv[1] + "/main.py")
client = app.test_client()
answers = []
for method, path, body in json.loads(sys.argv[2]):
    response = client.open(path, method=method, json=body)
    answers.append({"status": response.status_code, "body": response.get_json(silent=True)})
print(json.dumps(answers))
"""


def reference_case(artifacts: Path) -> dict[str, Any]:
    """The first golden prediction training wrote for the model in `artifacts`: a row of its
    features and the label it must answer."""
    case: dict[str, Any] = json.loads((artifacts / "reference.json").read_text())["cases"][0]
    return case


def extract_bundle(root: Path, destination: Path) -> Path:
    """Build the archive from `root` exactly as the program does and unpack it."""
    zipped = destination.with_suffix(".zip")
    zipped.write_bytes(archive.build_archive(gcf_source_files(root)))
    shutil.unpack_archive(zipped, destination)
    return destination


def serve(tree: Path, calls: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    """Answer each (method, path, json body or None) with the function in `tree`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    completed = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(tree), json.dumps(calls)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    answers: list[dict[str, Any]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answers
