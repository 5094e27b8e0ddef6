"""The SQS queue Amazon's notifications arrive in, through boto3: which URLs may be one, and reading,
deleting and counting its messages."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from pipelines.amazon.limits import SQS_LONGEST_POLL_SECONDS, SQS_MOST_PER_RECEIVE
from pipelines.clock import is_loopback

# SQS's endpoints: sqs.REGION.amazonaws.com, and the legacy REGION.queue.amazonaws.com
_REGION = r"([a-z]{2}(?:-[a-z]+)+-[0-9])"
_SQS_HOST = re.compile(rf"sqs\.{_REGION}\.amazonaws\.com|{_REGION}\.queue\.amazonaws\.com")


class QueueError(RuntimeError):
    """A queue that cannot be one, or cannot be read now; the message names it in one line."""


def check_queue(queue_arn: str, queue_url: str) -> None:
    """Refuse a queue that cannot be one, before any request (the ARN's form is the model's pattern): the
    URL is where this program sends AWS credentials, so it is SQS's over https, or a server on this machine."""
    if not re.match(r"^arn:aws:sqs:\S+:\S+:\S+", queue_arn) or len(queue_arn) > 1000:
        raise QueueError(f"--queue-arn {queue_arn!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
    check_queue_url(queue_url)
    if urlsplit(queue_url).path.rstrip("/").rsplit("/", 1)[-1] != queue_arn.rsplit(":", 1)[-1]:
        raise QueueError(f"--queue-url {queue_url!r} does not name the queue of --queue-arn {queue_arn!r}")


def check_queue_url(queue_url: str) -> None:
    try:
        parts = urlsplit(queue_url)
        host, _ = parts.hostname or "", parts.port
    except ValueError:
        host, parts = "", None
    if parts is None or parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise QueueError(
            f"--queue-url {queue_url!r} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
        )
    if is_loopback(queue_url):
        return  # an SQS-compatible server on this machine (moto's in the tests and the demo)
    if parts.scheme != "https" or not _SQS_HOST.fullmatch(host):
        raise QueueError(
            f"--queue-url {queue_url!r} must be an SQS endpoint over https "
            "(sqs.REGION.amazonaws.com; plain http only on 127.0.0.1)"
        )


def _region_of(queue_url: str) -> str:
    found = _SQS_HOST.fullmatch(urlsplit(queue_url).hostname or "")
    return (found.group(1) or found.group(2)) if found else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


class Queue:
    """One queue, read through boto3's SQS client for its region; AWS_ENDPOINT_URL_SQS points it at another
    server (moto's). Any failure of SQS or the network is a QueueError."""

    def __init__(self, queue_url: str):
        import boto3
        from botocore.config import Config

        check_queue_url(queue_url)  # a URL kept before URLs were checked, or written in by hand
        self.url = queue_url
        # a dead queue fails fast and is retried on the next drain; a long poll needs its 20 s and more
        self._client = boto3.client(
            "sqs",
            region_name=_region_of(queue_url),
            config=Config(
                connect_timeout=5,
                read_timeout=SQS_LONGEST_POLL_SECONDS + 10,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def _call(self, operation: str, **kwargs) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(QueueUrl=self.url, **kwargs)
        except (BotoCoreError, ClientError) as error:
            raise QueueError(f"the notification queue cannot be read ({type(error).__name__})") from None

    def receive(self, wait_seconds: int) -> list[dict]:
        """Up to SQS's most per receive, waiting up to `wait_seconds` for the first (long polling)."""
        return self._call(
            "receive_message", MaxNumberOfMessages=SQS_MOST_PER_RECEIVE, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])

    def delete(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), SQS_MOST_PER_RECEIVE):
            self._call(
                "delete_message_batch",
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(messages[start : start + SQS_MOST_PER_RECEIVE])
                ],
            )

    def waiting(self) -> int:
        """About how many messages wait in the queue (SQS's ApproximateNumberOfMessages)."""
        attributes = self._call("get_queue_attributes", AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def create_queue(name: str) -> tuple[str, str]:
    """(URL, ARN) of a new queue where AWS_ENDPOINT_URL_SQS points: the demo's, on moto's server."""
    import boto3

    client = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    try:
        url = client.create_queue(QueueName=name)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    finally:
        client.close()
    return url, arn
