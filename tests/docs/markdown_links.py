"""Relative links and #anchors in Markdown, resolved the way GitHub renders them; and the names a
guide's table lists, for the tests that hold a guide to the code.

markdown-it-py parses the files (so a `#` line in a fenced block is not a heading and a link in a
code span is not a link); anchors follow github-slugger, the algorithm github.com uses: the
heading's text, lower-cased, with punctuation and symbols dropped and spaces turned into
hyphens, and `-1`, `-2`, ... appended to repeated headings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

# A scheme (https:, mailto:) or a protocol-relative URL: not this repository's business.
EXTERNAL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|//)")
# GitHub's anchors for lines of a non-Markdown file: #L10 or #L10-L20.
LINE_ANCHOR = re.compile(r"^L(\d+)(?:-L(\d+))?$")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
HTML_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@dataclass(frozen=True)
class Link:
    target: str
    line: int  # 1-based, in the file that holds the link


def slug(text: str) -> str:
    """github-slugger's slug: keep letters, marks, numbers, spaces, `-` and `_`; spaces to `-`."""
    kept = "".join(
        c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in ("L", "M", "N")
    )
    return kept.replace(" ", "-")


def _tokens(path: Path) -> list[Token]:
    return _PARSER.parse(path.read_text(encoding="utf-8"))


def _heading_text(inline: Token) -> str:
    """What a heading renders as text: code spans keep their content, markup goes."""
    return "".join(
        child.content for child in inline.children or [] if child.type in ("text", "code_inline")
    ).strip()


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every #fragment GitHub gives the file: one per heading, repeats suffixed, plus HTML ids."""
    tokens = _tokens(path)
    seen: dict[str, int] = {}
    found: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            base = slug(_heading_text(tokens[index + 1]))
            candidate = base
            while candidate in found:
                seen[base] = seen.get(base, 0) + 1
                candidate = f"{base}-{seen[base]}"
            found.add(candidate)
        elif token.type in ("html_block", "inline"):
            html = [token] if token.type == "html_block" else token.children or []
            for part in html:
                if part.type.startswith("html"):
                    found.update(HTML_ANCHOR.findall(part.content))
    return frozenset(found)


def _line_of(target: str, block: Token, lines: list[str]) -> int:
    """The line of the block that holds `target` (a block may span several lines)."""
    start, end = block.map or (0, len(lines))
    for number in range(start, end):
        if target in lines[number]:
            return number + 1
    return start + 1


def links(path: Path) -> Iterator[Link]:
    """Every link and image target in the file, with its line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for block in _tokens(path):
        if block.type == "html_block":
            for target in HTML_LINK.findall(block.content):
                yield Link(target, _line_of(target, block, lines))
        for child in block.children or []:
            targets: list[str] = []
            if child.type == "link_open" or child.type == "image":
                targets = [str(child.attrs.get("href" if child.type == "link_open" else "src"))]
            elif child.type == "html_inline":
                targets = HTML_LINK.findall(child.content)
            for target in targets:
                yield Link(target, _line_of(target, block, lines))


def problem(source: Path, link: Link, root: Path, published: frozenset[Path]) -> str | None:
    """Why `link` in `source` would not resolve on GitHub, or None when it does.

    `published` holds the files a clone has (the rest, ignored files, GitHub never shows)."""
    if EXTERNAL.match(link.target):
        return None
    path_part, _, fragment = link.target.partition("#")
    path_part = unquote(path_part)
    if path_part.startswith("/"):
        target = (root / path_part.lstrip("/")).resolve()
    elif path_part:
        target = (source.parent / path_part).resolve()
    else:
        target = source
    if not (target in published or any(target in p.parents for p in published)):
        return "no such file in the repository"
    if not fragment:
        return None
    if target.suffix.lower() == ".md":
        if unquote(fragment) in anchors(target):
            return None
        return f"no heading or id gives #{fragment} in {target.relative_to(root)}"
    line = LINE_ANCHOR.match(fragment)
    if line and target.is_file():
        last = len(target.read_text(encoding="utf-8").splitlines())
        if all(int(n) <= last for n in line.groups() if n):
            return None
        return f"#{fragment} is past the last line ({last}) of {target.relative_to(root)}"
    return f"#{fragment} cannot point into {target.relative_to(root)}"


def table_names(path: Path, heading: str) -> set[str]:
    """The `backticked` names in the first column of the tables under `## heading`."""
    section = path.read_text(encoding="utf-8").split(f"\n## {heading}\n", 1)[1]
    names: set[str] = set()
    for line in section.split("\n## ", 1)[0].splitlines():
        cells = line.strip().strip("|").split("|")
        if line.startswith("|") and len(cells) > 1:
            names.update(re.findall(r"`(\w+)`", cells[0]))
    return names
