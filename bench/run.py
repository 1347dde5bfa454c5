"""`make bench`: the handler on each backend against a naive tutorial handler, in one run.

Each variant runs in fresh interpreters (BENCH_REPEATS, default 5; medians reported), so cold
init is a real cold start of Python, its imports and the model load. Targets are ratios to the
naive handler measured here, not absolute numbers, so a slower or busier machine moves both.
Also prints the installed size of the Lambda image's dependencies (what
`python -m handler.runtime requirements aws` lists) for the image's platform, for the committed
ONNX model and for a joblib-only one, beside the naive scikit-learn stack's (pip --target with
manylinux wheels, cached in .bench/), the peak memory one request costs for the worst
bodies on each adapter (bench/memory.py), and a store model's cold start beside a baked-in one's
(bench/store_cold_start.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import memory
import store_cold_start

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from handler.runtime import model_requirements, read_requirements, requirements  # noqa: E402

CACHE = ROOT / ".bench"
VARIANTS = ("naive", "onnx", "joblib")
METRICS = {
    "cold_init_ms": ("cold init (import + model load)", "ms"),
    "first_request_ms": ("first request", "ms"),
    "cold_start_ms": ("cold start (init + first request)", "ms"),
    "warm_p50_us": ("warm single row p50", "us"),
    "warm_p99_us": ("warm single row p99", "us"),
    "batch_1000_ms": ("1,000-row batch", "ms"),
}
# (variant, metric, highest allowed ratio to naive)
TARGETS = [
    ("onnx", "cold_init_ms", 0.10),
    ("onnx", "warm_p50_us", 0.2),
    ("joblib", "cold_start_ms", 1.0),
    ("joblib", "warm_p50_us", 1.0),
]
# Amazon Linux 2023 (the python3.12 base image) has glibc 2.34: manylinux_2_28 wheels and older.
PLATFORMS = {
    "arm64": ["manylinux_2_28_aarch64", "manylinux2014_aarch64"],
    "x86_64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64"],
}
NAIVE_STACK = ["scikit-learn==1.9.1", "joblib==1.6.0"]
# The Lambda image's dependencies for the ONNX backend; numpy and ONNX Runtime alone are ~137 MB.
IMAGE_DEPENDENCIES_TARGET_MB = 145.0


def measure(variant: str, repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "measure.py"), variant],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
        runs.append(json.loads(out.splitlines()[-1]))
    return {m: statistics.median(r[m] for r in runs) for m in (*METRICS, "runtime_imports_ms")}


def installed_mb(pins: list[str], platforms: list[str]) -> float | None:
    key = hashlib.sha256("\n".join(sorted(pins)).encode()).hexdigest()[:12]
    target = CACHE / f"site-{key}-{platforms[0]}"
    if not target.exists():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(target),
                *(f"--platform={p}" for p in platforms),
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                "--only-binary=:all:",
                *pins,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            print(f"  (could not size {' '.join(pins)}: {result.stderr.strip().splitlines()[-1:]})")
            return None
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return size / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "5")))
    parser.add_argument("--arch", choices=PLATFORMS, default=os.environ.get("BENCH_ARCH", "arm64"))
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    results = {v: measure(v, args.repeats) for v in VARIANTS}
    print(
        f"\nHandler benchmark: median of {args.repeats} fresh processes per variant "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n"
    )
    header = (
        f"{'':42}"
        + "".join(f"{v:>12}" for v in VARIANTS)
        + f"{'onnx/naive':>12}{'joblib/naive':>13}"
    )
    print(header)
    for metric, (label, unit) in METRICS.items():
        row = [results[v][metric] for v in VARIANTS]
        ratios = [row[1] / row[0], row[2] / row[0]]
        print(
            f"{label + ' (' + unit + ')':42}"
            + "".join(f"{x:12.1f}" for x in row)
            + f"{ratios[0]:11.2f}x{ratios[1]:12.2f}x"
        )

    floor = results["onnx"]["runtime_imports_ms"]
    print(
        f"\nOf the onnx cold init, importing numpy and ONNX Runtime alone took {floor:.1f} ms\n"
        f"({floor / results['naive']['cold_init_ms']:.2f}x the naive handler's cold init): no "
        "handler serving ONNX starts faster than that here."
    )
    print("\nTargets (ratio to the naive handler, this run):")
    missed = 0
    for variant, metric, limit in TARGETS:
        ratio = results[variant][metric] / results["naive"][metric]
        ok = ratio <= limit
        missed += not ok
        verdict = "met " if ok else "MISS"
        print(f"  {verdict} {variant:6} {METRICS[metric][0]:36} {ratio:5.2f}x  (<= {limit}x)")

    platforms = PLATFORMS[args.arch]
    print(f"\nInstalled size of the Lambda image's dependencies ({platforms[0]}, Python 3.12):")
    onnx_model = _pins(requirements("aws", ROOT / "model" / "artifacts"))
    joblib_only = read_requirements(ROOT / "handler" / "requirements" / "aws.txt") + (
        model_requirements(
            {
                "artifacts": {"joblib": {}},
                "runtime": {d: version(d) for d in ("scikit-learn", "joblib", "scipy")},
            }
        )
    )
    sizes = {
        "aws, the committed ONNX model": (onnx_model, IMAGE_DEPENDENCIES_TARGET_MB),
        "aws, a joblib-only model": (joblib_only, None),
        "naive: " + " ".join(NAIVE_STACK): (NAIVE_STACK, None),
    }
    for name, (pins, target) in sizes.items():
        mb = installed_mb(pins, platforms)
        line = f"  {name:50} {'n/a' if mb is None else f'{mb:7.1f} MB'}"
        if target is not None and mb is not None:
            missed += mb > target
            line += f"  {'met ' if mb <= target else 'MISS'} (<= {target:g} MB)"
        print(line)
    memory_met = memory.report()
    store_cold_start.report(args.repeats)
    return 1 if args.check and (missed or not memory_met) else 0


def _pins(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


if __name__ == "__main__":
    sys.exit(main())
