"""`make mutation`'s score: what mutmut's run left in mutants/, per mutated file.

For each file of `[tool.mutmut] only_mutate` (pyproject.toml): its mutants, how many the tests
killed and what share, and the share of those that are not equivalent. A mutant is equivalent
when scripts/mutation_equivalents.toml lists it with the line it writes and why no caller can
observe it; an entry whose mutant no longer writes that line (the code moved, mutmut renumbered
its mutants) excuses nothing and is reported as stale. Then every other mutant that was not
killed, with its diff, and the equivalent ones with their reasons.

Runs in .venv-mutation (mutmut reads its results), after `mutmut run`.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.toml"
# A mutant whose tests hung or crashed was detected as surely as one they failed on.
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass
class FileScore:
    path: str
    total: int = 0
    killed: int = 0
    equivalent: list[tuple[str, str]] = field(default_factory=list)
    survivors: list[tuple[str, str]] = field(default_factory=list)  # (name, status)
    names: set[str] = field(default_factory=set)

    @property
    def killed_share(self) -> float:
        return 100 * self.killed / self.total if self.total else 100.0

    @property
    def non_equivalent_share(self) -> float:
        judged = self.total - len(self.equivalent)
        return 100 * self.killed / judged if judged else 100.0


def diff(name: str, path: str) -> list[str]:
    """The lines mutant `name` removes (-) and writes (+)."""
    return [
        line
        for line in get_diff_for_mutant(name, path=path).splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def score(path: str, equivalents: dict[str, dict[str, str]], stale: list[str]) -> FileScore:
    meta = ROOT / "mutants" / f"{path}.meta"
    if not meta.exists():
        sys.exit(f"no mutmut results for {path} in mutants/: run `make mutation`")
    result = FileScore(path)
    for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
        status = status_by_exit_code[exit_code]
        result.names.add(name)
        result.total += 1
        if status in DETECTED:
            result.killed += 1
            if name in equivalents:
                stale.append(f"{name}: killed, so it is not equivalent")
            continue
        entry = equivalents.get(name)
        written = [line[1:].strip() for line in diff(name, path) if line.startswith("+")]
        if entry is not None and entry["line"] in written:
            result.equivalent.append((name, entry["reason"]))
        else:
            if entry is not None:
                stale.append(f"{name}: no longer writes `{entry['line']}`")
            result.survivors.append((name, status))
    return result


def main() -> None:
    os.chdir(ROOT)  # mutmut reads mutants/ relative to the working directory
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    paths = pyproject["tool"]["mutmut"]["only_mutate"]
    equivalents = {
        e["mutant"]: e for e in tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])
    }
    stale: list[str] = []
    scores = [score(path, equivalents, stale) for path in paths]
    mutants = set().union(*(s.names for s in scores))
    stale += [f"{name}: no such mutant" for name in equivalents if name not in mutants]

    total = FileScore(
        "all",
        sum(s.total for s in scores),
        sum(s.killed for s in scores),
        [e for s in scores for e in s.equivalent],
    )
    print(
        f"\n{'file':<22}{'mutants':>8}{'killed':>8}{'%':>7}{'equivalent':>12}{'% of non-equivalent':>21}"
    )
    for s in [*scores, total]:
        print(
            f"{s.path:<22}{s.total:>8}{s.killed:>8}{s.killed_share:>7.1f}"
            f"{len(s.equivalent):>12}{s.non_equivalent_share:>21.1f}"
        )

    survivors = [(s.path, name, status) for s in scores for name, status in s.survivors]
    print(f"\nSurviving mutants, not equivalent: {len(survivors)}")
    for path, name, status in survivors:
        print(f"\n{name} ({status})")
        print("\n".join(f"    {line}" for line in diff(name, path)))
    print(f"\nEquivalent mutants ({len(total.equivalent)}, scripts/mutation_equivalents.toml):")
    for name, reason in total.equivalent:
        print(f"  {name}: {reason}")
    if stale:
        print(f"\nStale entries in scripts/mutation_equivalents.toml ({len(stale)}):")
        print("\n".join(f"  {line}" for line in stale))


if __name__ == "__main__":
    main()
