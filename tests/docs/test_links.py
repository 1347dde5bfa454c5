"""Every relative link and #anchor in the committed Markdown resolves, and so does every guide
the code points readers to."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.docs.markdown_links import anchors, links, problem, slug

ROOT = Path(__file__).resolve().parents[2]


def published_files() -> frozenset[Path]:
    """The files a clone holds: tracked, or new and not ignored (what the next commit can add)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return frozenset((ROOT / name).resolve() for name in listed.split("\0") if name)


PUBLISHED = published_files()
MARKDOWN = sorted(path for path in PUBLISHED if path.suffix.lower() == ".md" and path.is_file())


def test_the_readme_and_every_guide_are_checked() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in MARKDOWN}
    assert "README.md" in names
    assert "docs/development.md" in names


@pytest.mark.parametrize("source", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(source: Path) -> None:
    broken = [
        f"{source.relative_to(ROOT)}:{link.line}: ({link.target}) {reason}"
        for link in links(source)
        if (reason := problem(source, link, ROOT, PUBLISHED))
    ]
    assert not broken, "broken links:\n" + "\n".join(broken)


# Code, comments and messages send readers to a guide as `docs/<guide>.md, "<heading>"`.
GUIDE_REFERENCE = re.compile(r"\b((?:docs/[\w-]+|README)\.md)(?:, \"([^\"]+)\")?")
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".toml", ".txt", ".json", ".sh", ".cfg"}


def referring_files() -> list[Path]:
    return sorted(
        path
        for path in PUBLISHED
        if path.is_file()
        and (path.suffix in TEXT_SUFFIXES or path.name in ("Makefile", "Dockerfile", "run"))
        and path.stat().st_size < 1_000_000
    )


def test_every_guide_the_code_names_exists_with_the_heading_it_names() -> None:
    broken = []
    for path in referring_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for guide, heading in GUIDE_REFERENCE.findall(line):
                target = ROOT / guide
                where = f"{path.relative_to(ROOT)}:{number}"
                if target.resolve() not in PUBLISHED:
                    broken.append(f"{where}: {guide} does not exist")
                elif heading and slug(heading) not in anchors(target.resolve()):
                    broken.append(f'{where}: {guide} has no heading "{heading}"')
    assert not broken, "\n".join(broken)


# --- the checker itself, on files of its own -------------------------------------------------


def check(tmp_path: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    published = frozenset((tmp_path / name).resolve() for name in files)
    found = []
    for name in files:
        source = (tmp_path / name).resolve()
        if source.suffix == ".md":
            for link in links(source):
                if reason := problem(source, link, tmp_path.resolve(), published):
                    found.append(f"{name}:{link.line}: {link.target}: {reason}")
    return found


def test_anchors_follow_githubs_slugs_with_suffixes_for_repeated_headings(tmp_path: Path) -> None:
    guide = tmp_path / "g.md"
    guide.write_text(
        "# CI/CD\n## Settings (environment variables)\n## `make verify`: is it right?\n"
        "## Tear down\n## Tear down\n## Tear down\n```sh\n# not a heading\n```\n"
        '<a id="kept"></a>\n'
    )
    assert anchors(guide.resolve()) == {
        "cicd",
        "settings-environment-variables",
        "make-verify-is-it-right",
        "tear-down",
        "tear-down-1",
        "tear-down-2",
        "kept",
    }


def test_a_broken_link_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    found = check(
        tmp_path,
        {
            "README.md": "# Top\n\nSee [the guide](guides/guide.md#setup),\n"
            "[gone](guides/gone.md) and [here](#top).\n\n`[code](nowhere.md)`\n",
            "guides/guide.md": "# Guide\n## Setup\n[back](../README.md#nope) "
            "[spec](../spec.yaml#L3) [far](../spec.yaml#L9) [web](https://example.com/x.md)\n"
            "![plot](plot.png)\n",
            "spec.yaml": "a: 1\nb: 2\nc: 3\n",
        },
    )
    assert found == [
        "README.md:4: guides/gone.md: no such file in the repository",
        "guides/guide.md:3: ../README.md#nope: no heading or id gives #nope in README.md",
        "guides/guide.md:3: ../spec.yaml#L9: #L9 is past the last line (3) of spec.yaml",
        "guides/guide.md:4: plot.png: no such file in the repository",
    ]


def test_a_link_to_an_ignored_file_is_broken_on_github(tmp_path: Path) -> None:
    (tmp_path / "cdk.out").mkdir()
    (tmp_path / "cdk.out" / "t.json").write_text("{}")
    found = check(tmp_path, {"README.md": "[template](cdk.out/t.json)\n"})
    assert found == ["README.md:1: cdk.out/t.json: no such file in the repository"]


def test_links_in_tables_and_html_are_checked(tmp_path: Path) -> None:
    found = check(
        tmp_path,
        {"README.md": '| a | b |\n|---|---|\n| [x](y.md) | 1 |\n\n<img src="z.png">\n'},
    )
    assert [f.split(": ")[0] for f in found] == ["README.md:3", "README.md:5"]
