"""An SQS queue on moto's server in its own process, as SQS is: it does not share the benchmark's interpreter
with the listener."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def start_queue(name: str = "bench") -> tuple[subprocess.Popen, str, str]:
    """(moto's process, the queue's URL, its ARN); boto3 in this process reaches it through the environment."""
    from pipelines.amazon.queue import create_queue

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                break
        time.sleep(0.1)
    os.environ.update(
        AWS_ENDPOINT_URL_SQS=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    url, arn = create_queue(name)
    return server, url, arn
