"""Make text from a request safe to echo into a JSON response or a log line."""

from __future__ import annotations


def printable(text: str, limit: int) -> str:
    """`text` with lone surrogates and other unencodable code points replaced and control
    characters escaped, cut to `limit` characters.

    A lone surrogate (possible in a direct Lambda invoke's method or rawPath) makes orjson
    refuse the whole response or log line; a control character forges log lines.
    """
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to do
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
