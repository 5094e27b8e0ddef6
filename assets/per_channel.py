"""What the per-channel assets share beyond their decorator's arguments (extract.PER_CHANNEL): the channel, progress
lines and clock a run starts from, and the metadata a materialisation records: the channel, then the figures
figures.toml names for the asset, read off the result of its work."""

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from dagster import AssetCheckResult, MaterializeResult

from pipelines import clock
from pipelines.orchestration.progress import progress
from pipelines.orchestration.resources import WarehouseResource
from pipelines.warehouse.channels import Channel, get_channel
from pipelines.warehouse.connection import open_for_reading

FIGURES: dict[str, dict[str, str]] = tomllib.loads(Path(__file__).with_name("figures.toml").read_text())


class ChannelRun(NamedTuple):
    channel: Channel
    say: Callable[[str], None]  # a progress line, in the run's log and printed by the CLI
    now: clock.Clock


def channel_run(context, warehouse: WarehouseResource) -> ChannelRun:
    """The channel the run's partition names (as the channels table has it now), its progress lines and the clock."""
    with open_for_reading(warehouse.resolved_path) as con:
        channel = get_channel(con, context.partition_key)
    return ChannelRun(channel, progress(context), clock.from_environment())


def figures(context, result) -> dict:
    """The figures figures.toml names for the asset `context` materialises, read off `result`, under their keys."""
    return {key: getattr(result, name) for key, name in FIGURES[context.asset_key.to_user_string()].items()}


def channel_result(
    context, channel: Channel, result, *, check_results: list[AssetCheckResult] | None = None, **more
) -> MaterializeResult:
    """A channel's materialisation: its metadata the channel, `result`'s figures, then `more` (what the asset works
    out itself)."""
    return MaterializeResult(
        metadata={"channel": channel.name, **figures(context, result), **more}, check_results=check_results
    )
