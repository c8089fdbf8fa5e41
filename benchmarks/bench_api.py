"""The HTTP API under load: single predictions with wrk, a 10,000-row batch, the cost of authentication.

Run from the repository root:  ``.venv/bin/python -m benchmarks.bench_api``
(``--seconds N`` per load run, ``--connections N``, ``--home DIR`` to reuse a prepared home). Needs
``wrk`` (Debian: ``apt-get install wrk``). It prepares a small demo home (reference data, a
logistic-regression champion), adds a counsellor and a token, starts ``mindpulse api`` (one
uvicorn process) on a free port, and measures:

1. single predictions: wrk posts one record per request over ``--connections`` connections for
   ``--seconds``; requests/s, p50/p90/p99 latency, and that every answered request was logged
   (rows in the store before and after);
2. a 10,000-row batch scored and logged in one request (median of 3);
3. authentication: p50 of ``GET /api/v1/me`` (token lookup) minus p50 of ``GET /healthz`` (no
   authentication), sequential requests on one connection.

Targets (issue: an HTTP API): >= 500 requests/s with p99 <= 50 ms; the batch <= 2 s; auth <= 1 ms.
Prints the machine and the figures; the machine is shared, so expect noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.body = [[{body}]]
"""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def prepare(home: Path) -> None:
    from mindpulse import pipeline
    from mindpulse.settings import Settings
    from mindpulse.store import migrate_store

    migrate_store(Settings(home=home))  # the deploy step
    pipeline.prepare_demo_home(Settings(home=home), reference_rows=3_000, seed=7, candidates=["logistic_regression"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--home", type=Path, default=None, help="a prepared home to reuse (made when missing)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    import httpx

    import api_support as api
    from mindpulse import contract as c
    from mindpulse.synthetic import generate

    with tempfile.TemporaryDirectory() as scratch:
        template = args.home or Path(scratch) / "template"
        if not (template / "data" / "reference.csv").is_file():
            print(f"Preparing a demo home in {template} ...", flush=True)
            prepare(template)
        home = Path(scratch) / "home"
        tokens = api.prepare_home(template, home)
        server = api.start_server(home, tokens)
        try:
            students = json.loads(c.to_raw(generate(10_000, seed=3).canonical()).drop(columns=["Depression", "id"])
                                  .to_json(orient="records"))
            script = Path(scratch) / "post.lua"
            script.write_text(LUA.format(token=tokens["counsellor"], body=json.dumps(students[0])))
            with server.client("counsellor") as client:  # warm: the model is loaded by the first request
                assert client.post("/api/v1/predictions", json=students[1]).status_code == 201
            before = api.count_predictions(server)
            out = subprocess.run(["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", "--latency",
                                  "-s", str(script), f"{server.url}/api/v1/predictions"],
                                 capture_output=True, text=True, check=True).stdout
            logged = api.count_predictions(server) - before
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            latency = {q: _ms(re.search(rf"\s{q}%\s+(\S+)", out).group(1)) for q in ("50", "90", "99")}

            batches = []
            with server.client("counsellor") as client:
                for _ in range(3):
                    start = time.perf_counter()
                    response = client.post("/api/v1/predictions", json=students)
                    batches.append(time.perf_counter() - start)
                    assert response.status_code == 201 and response.json()["accepted"] == 10_000, response.text[:300]

            def p50(client: httpx.Client, path: str, n: int = 400) -> float:
                times = []
                for _ in range(n):
                    start = time.perf_counter()
                    assert client.get(path).status_code == 200
                    times.append((time.perf_counter() - start) * 1000)
                return statistics.median(times)

            with server.client("counsellor") as client:
                p50(client, "/api/v1/me", 50)
                plain, authed = p50(client, "/healthz"), p50(client, "/api/v1/me")
        finally:
            server.stop()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"single predictions (wrk, {args.connections} connections, {args.seconds} s, one uvicorn process):")
    print(f"  {rate:.0f} requests/s; latency p50 {latency['50']:.1f} ms, p90 {latency['90']:.1f} ms, "
          f"p99 {latency['99']:.1f} ms; {requests} answered, {errors.group(1) if errors else 0} not 2xx, "
          f"{logged} logged  (target >= 500/s, p99 <= 50 ms, every one logged)")
    print(f"10,000-row batch scored and logged: median {statistics.median(batches):.2f} s "
          f"(runs {', '.join(f'{b:.2f}' for b in batches)})  (target <= 2 s)")
    print(f"authentication: p50 GET /api/v1/me {authed:.2f} ms - p50 GET /healthz {plain:.2f} ms = "
          f"{authed - plain:.2f} ms  (target <= 1 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
