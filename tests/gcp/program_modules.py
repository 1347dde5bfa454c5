"""Load the program's modules by file path, under names that cannot clash with anything.

Pulumi imports them with pulumi_gcp/ as sys.path[0]; tests must not put that folder on sys.path
(its `config`, `function`... would shadow other modules) nor import it as a package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROGRAM_DIR = Path(__file__).resolve().parents[2] / "pulumi_gcp"


def load(module: str) -> ModuleType:
    name = f"_gcp_program_{module}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PROGRAM_DIR / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    spec.loader.exec_module(loaded)
    return loaded
