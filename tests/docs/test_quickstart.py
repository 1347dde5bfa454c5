"""The README's quickstart shows, byte for byte, what `make serve` answers its two curl calls:
the Cloud Functions adapter under the real functions-framework, serving the committed model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def shown_after(command: str) -> str:
    """The output the README prints (`# ...`) on the line after the one ending `command`."""
    found = re.search(re.escape(command) + r"\n# (.+)\n", README)
    assert found, f"README.md shows no output after {command!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def client() -> Any:
    return create_app(target="predict", source=str(ROOT / "main.py")).test_client()


def test_the_quickstart_shows_what_the_server_answers(client: Any) -> None:
    predicted = client.post(
        "/predict",
        data='{"features": [5.1, 3.5, 1.4, 0.2]}',
        headers={"Content-Type": "application/json"},
    )
    assert predicted.get_data(as_text=True) == shown_after(
        """-d '{"features": [5.1, 3.5, 1.4, 0.2]}'"""
    )
    # The health check the README shows came from a server that had answered before it
    health = client.get("/health")
    assert health.get_data(as_text=True) == shown_after("curl -s http://127.0.0.1:8080/health")
