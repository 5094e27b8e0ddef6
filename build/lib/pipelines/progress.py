"""A Dagster logger for the CLI: one short line per progress message, no engine events.

A failed run is summed up by the CLI in one line, so the failure events (with their stack traces,
kept in the Dagster event log for the UI) are not printed here.
"""

import logging
import sys

from dagster import Field, logger

LOG_RECORD_METADATA_ATTR = "dagster_meta"


class _ProgressOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
        # engine events and the engine's warnings about a failed step: the CLI's error line says it
        if meta.get("dagster_event") is not None or record.levelno >= logging.WARNING:
            return False
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
