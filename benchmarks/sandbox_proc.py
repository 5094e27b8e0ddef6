"""The sandbox in a process of its own, so its speed does not depend on what the runner holds.

`python -m benchmarks.sandbox_proc --seed 5 --start 2026-01-01T00:00:00Z --speedup 2000` serves a
`SandboxServer` and prints `READY <url>`; `RemoteSandbox` starts one and drives it over the
sandbox's admin endpoints: the marketplace, what was served (the server's request records, each
with the time it took on the server), how many orders a window holds, a reset of the rate limits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from datetime import datetime

import httpx

from pipelines.sandbox import Marketplace, SandboxServer
from pipelines.sandbox.marketplace import format_time, parse_time
from pipelines.sandbox.server import ORDERS_PATH


class RemoteSandbox:
    """A sandbox process: start it, drive it, read what it served, stop it."""

    def __init__(self, *, seed: int, start: datetime, speedup: float, env: dict | None = None, cwd=None):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.sandbox_proc",
                "--seed",
                str(seed),
                "--start",
                format_time(start),
                "--speedup",
                str(speedup),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the sandbox process did not start: {line!r}")
        self.url = line.split()[1]
        self.token_url = self.url + "/auth/o2/token"
        self.clock_url = self.url + "/_sandbox/clock"
        self.http = httpx.Client(base_url=self.url, timeout=600)
        self.mark = 0

    def _post(self, path: str, payload: dict | None = None) -> dict:
        response = self.http.post(path, content=json.dumps(payload or {}))
        response.raise_for_status()
        return response.json()

    def simulate(self, **kwargs) -> dict:
        return self._post("/_sandbox/simulate", kwargs)

    def advance(self, **kwargs) -> datetime:
        return parse_time(self._post("/_sandbox/advance", kwargs)["now"])

    def living_in_its_time(self, env: dict) -> dict:
        """The environment of a product process that reads the time from this sandbox's marketplace."""
        return {**env, "AMAZON_ORDERS_CLOCK_URL": self.clock_url}

    def now(self) -> datetime:
        return parse_time(self.http.get("/_sandbox/clock").json()["now"])

    def count(self, after: datetime, marketplace_ids=None, before: datetime | None = None) -> int:
        payload = {"after": format_time(after), "marketplace_ids": marketplace_ids}
        if before is not None:
            payload["before"] = format_time(before)
        return self._post("/_sandbox/count", payload)["count"]

    def stats(self) -> dict:
        """What was served since the last reset_stats(), and each searchOrders' time on the server."""
        served = self.http.get("/_sandbox/requests", params={"since": self.mark}).json()["requests"]
        return {
            "requests": [{"path": r["path"], "status": r["status"]} for r in served],
            "search_seconds": [r["seconds"] for r in served if r["path"] == ORDERS_PATH],
        }

    def reset_stats(self) -> None:
        self.mark = self.http.get("/_sandbox/requests", params={"since": 2**62}).json()["total"]

    def reset_rate_limits(self) -> None:
        self._post("/_sandbox/rate_limits/reset")

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

    def __enter__(self) -> RemoteSandbox:
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
    server = SandboxServer(market, speedup=args.speedup)

    def stop(signum, frame):
        raise KeyboardInterrupt  # serve_forever stops on it and closes the socket

    signal.signal(signal.SIGTERM, stop)
    print(f"READY {server.url}", flush=True)
    server.serve_forever()  # until SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
