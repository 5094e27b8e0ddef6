"""The sandbox in a process of its own, so its speed does not depend on what the runner holds.

`python -m benchmarks.sandbox_proc --seed 5 --start 2026-01-01T00:00:00Z --speedup 2000` serves a
`SandboxServer` and prints `READY <url>`; `RemoteSandbox` starts one and drives it over the
sandbox's admin endpoints plus a few of its own under /_sandbox/bench/: what was requested
(the server's `requests` records), how long each searchOrders took on the server, how many orders
a window holds, and a reset of the rate limits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import httpx

from pipelines.sandbox import Marketplace, SandboxServer
from pipelines.sandbox.marketplace import format_time, parse_time
from pipelines.sandbox.server import _json


class BenchSandboxServer(SandboxServer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.search_seconds: list[float] = []
        self.mark = 0

    def _search(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super()._search(*args, **kwargs)
        finally:
            self.search_seconds.append(time.perf_counter() - started)

    def _admin(self, method, path, body):
        if not path.startswith("/_sandbox/bench/"):
            return super()._admin(method, path, body)
        action = path[len("/_sandbox/bench/"):]
        args = json.loads(body) if body else {}
        if action == "stats":
            with self._lock:
                records = [{"path": r["path"], "status": r["status"]} for r in self.requests[self.mark:]]
            return _json(200, {"requests": records, "search_seconds": list(self.search_seconds)})
        if action == "reset_stats":
            with self._lock:
                self.mark = len(self.requests)
                self.search_seconds.clear()
            return _json(200, {})
        if action == "reset_rate_limits":
            self.reset_rate_limits()
            return _json(200, {})
        if action == "count":
            market = self.marketplace
            before = parse_time(args["before"]) if args.get("before") else market.now
            found = market.search(time_field="lastUpdatedTime", after=parse_time(args["after"]), before=before,
                                  marketplace_ids=args.get("marketplace_ids"))
            return _json(200, {"count": len(found), "now": format_time(market.now)})
        return _json(404, {"error": f"no bench endpoint {action}"})


class RemoteSandbox:
    """A sandbox process: start it, drive it, read what it served, stop it."""

    def __init__(self, *, seed: int, start: datetime, speedup: float, env: dict | None = None, cwd=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sandbox_proc", "--seed", str(seed), "--start", format_time(start),
             "--speedup", str(speedup)],
            stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the sandbox process did not start: {line!r}")
        self.url = line.split()[1]
        self.token_url = self.url + "/auth/o2/token"
        self.http = httpx.Client(base_url=self.url, timeout=600)

    def _post(self, path: str, payload: dict | None = None) -> dict:
        response = self.http.post(path, content=json.dumps(payload or {}))
        response.raise_for_status()
        return response.json()

    def simulate(self, **kwargs) -> dict:
        return self._post("/_sandbox/simulate", kwargs)

    def advance(self, **kwargs) -> datetime:
        return parse_time(self._post("/_sandbox/advance", kwargs)["now"])

    def now(self) -> datetime:
        return parse_time(self.http.get("/_sandbox/clock").json()["now"])

    def count(self, after: datetime, marketplace_ids=None, before: datetime | None = None) -> int:
        payload = {"after": format_time(after), "marketplace_ids": marketplace_ids}
        if before is not None:
            payload["before"] = format_time(before)
        return self._post("/_sandbox/bench/count", payload)["count"]

    def stats(self) -> dict:
        return self._post("/_sandbox/bench/stats")

    def reset_stats(self) -> None:
        self._post("/_sandbox/bench/reset_stats")

    def reset_rate_limits(self) -> None:
        self._post("/_sandbox/bench/reset_rate_limits")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "http", None) is not None:
            self.http.close()

    def __enter__(self) -> "RemoteSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", required=True)
    parser.add_argument("--speedup", type=float, default=1.0)
    args = parser.parse_args(argv)
    market = Marketplace(seed=args.seed, start=parse_time(args.start))
    server = BenchSandboxServer(market, speedup=args.speedup)

    def stop(signum, frame):
        raise KeyboardInterrupt  # serve_forever stops on it and closes the socket

    signal.signal(signal.SIGTERM, stop)
    print(f"READY {server.url}", flush=True)
    server.serve_forever()  # until SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
