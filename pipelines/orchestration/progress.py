"""A Dagster logger for the CLI: one short line per progress message, nothing of the engine's.

The assets report progress through `progress(context)`, which marks each message; the engine's own
lines ("Skipping step ...") carry no mark and stay in the Dagster event log for the UI.

A failed run is summed up by the CLI in one line, so the failure events (with their stack traces,
kept in the Dagster event log for the UI) are not printed here.
"""

import logging
import sys
from collections.abc import Callable

from dagster import Field, logger

LOG_RECORD_METADATA_ATTR = "dagster_meta"
_PROGRESS = "amazon_orders_progress"  # Dagster hands a log call's `extra` on to the run's loggers


def progress(context) -> Callable[[str], None]:
    """Log to the run (the UI shows it) a progress line that the CLI prints too."""
    return lambda message: context.log.info(message, extra={_PROGRESS: True})


class _ProgressOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, _PROGRESS, False):
            return False
        meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
        record.msg, record.args = meta.get("orig_message", record.getMessage()), ()
        return True


@logger(
    config_schema={"log_level": Field(str, default_value="INFO")},
    description="Progress lines on stderr for `amazon-orders sync`.",
)
def cli_progress(init_context):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.addFilter(_ProgressOnly())
    progress = logging.Logger("amazon_orders.progress", level=init_context.logger_config["log_level"])
    progress.addHandler(handler)
    return progress
