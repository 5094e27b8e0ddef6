"""What the per-channel assets share beyond their decorator's arguments (extract.PER_CHANNEL): the channel, progress
lines and clock a run starts from."""

from collections.abc import Callable
from typing import NamedTuple

import duckdb

from pipelines import clock
from pipelines.orchestration.progress import progress
from pipelines.orchestration.resources import WarehouseResource
from pipelines.warehouse.channels import Channel, get_channel
from pipelines.warehouse.connection import open_for_reading


class ChannelRun(NamedTuple):
    channel: Channel
    say: Callable[[str], None]  # a progress line, in the run's log and printed by the CLI
    now: clock.Clock


def channel_run(context, warehouse: WarehouseResource, con: duckdb.DuckDBPyConnection | None = None) -> ChannelRun:
    """The channel the run's partition names (as the channels table has it now), its progress lines and the clock;
    read on `con` where the asset has the warehouse open for more."""
    if con is None:
        with open_for_reading(warehouse.resolved_path) as opened:
            return channel_run(context, warehouse, opened)
    return ChannelRun(get_channel(con, context.partition_key), progress(context), clock.from_environment())
