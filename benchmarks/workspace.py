"""What every benchmark that drives the product through the sandbox sets up: a log line on stderr, and a
temporary home for its warehouse and Dagster instance with the sandbox's credentials."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def temporary_home(prefix: str) -> Path:
    """A new folder that is DAGSTER_HOME (with the project's dagster.yaml), the sandbox's credentials set."""
    from pipelines.orchestration.credentials import SANDBOX_CREDENTIALS

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(SANDBOX_CREDENTIALS, DAGSTER_HOME=str(work))
    shutil.copy(ROOT / "dagster.yaml", work / "dagster.yaml")
    return work


def channel_add_args(name: str, sandbox, start: datetime, marketplace: str = "ATVPDKIKX0DER") -> list[str]:
    """`amazon-orders channel add` of a channel served by `sandbox`, importing orders from `start`."""
    return [
        *("channel", "add", name, "--marketplace", marketplace, "--start", start.isoformat()),
        *("--endpoint", sandbox.url, "--token-url", sandbox.token_url),
    ]


def start_listener(
    db: str, channel, queue_url: str, clock, idle_seconds: float, reserved_at: dict[str, float], who=None
):
    """A listener draining the channel's queue in a thread, as a sensor-started run does; the moment each
    order's reservation is committed goes into `reserved_at`. Returns the thread and the event that stops it."""
    import threading
    import time
    from contextlib import contextmanager

    from pipelines.ingest.notifications import drain
    from pipelines.warehouse.connection import open_for_writing

    @contextmanager
    def write():
        with open_for_writing(db, who=who) as con:
            yield con
            # the batch's reservations are committed (apply_messages has run the transform)
            for (order_id,) in con.execute(
                "select distinct amazon_order_id from raw_notifications where outcome = 'applied'"
            ).fetchall():
                reserved_at.setdefault(order_id, time.monotonic())

    stop = threading.Event()
    listener = threading.Thread(
        target=drain,
        args=(channel, queue_url, write),
        kwargs={"idle_seconds": idle_seconds, "clock": clock, "should_stop": stop.is_set},
        daemon=True,
    )
    listener.start()
    return listener, stop
