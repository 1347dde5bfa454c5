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


def load_release_tool() -> ModuleType:
    """pulumi_gcp/release.py and its package gcp_release, under the names release.py imports
    (gcp_release is unique to this repository; nothing else is put on sys.path)."""
    if "gcp_release" not in sys.modules:
        package = PROGRAM_DIR / "gcp_release"
        spec = importlib.util.spec_from_file_location(
            "gcp_release", package / "__init__.py", submodule_search_locations=[str(package)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gcp_release"] = module
        spec.loader.exec_module(module)
    return load("release")
