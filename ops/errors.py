"""The one way verify and probe stop early: a sentence for the user and exit status 2."""

from __future__ import annotations


class CannotRun(Exception):
    """When a command cannot do its job at all: bad usage, an unreachable target, missing
    credentials or tools. The CLI prints the message as one line and exits with status 2."""
