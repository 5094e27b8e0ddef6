"""Dagster resources: the warehouse and the Amazon seller account."""

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster import ConfigurableResource

from pipelines.warehouse.connection import connect, open_for_writing, warehouse_path


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse; `path` defaults to AMAZON_ORDERS_DB, then data/warehouse.duckdb."""

    path: str | None = None

    @property
    def resolved_path(self) -> str:
        return str(warehouse_path(self.path))

    @contextmanager
    def writer(
        self, on_wait=None, *, who: str | None = None, step_aside: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse for one commit's worth of work (see pipelines.warehouse.connection)."""
        with open_for_writing(self.resolved_path, on_wait=on_wait, who=who, step_aside=step_aside) as con:
            yield con

    def channel_names(self) -> list[str]:
        """The registry of channels, read without waiting for a writer."""
        from pipelines.warehouse.channels import list_channels

        con = connect(self.resolved_path, read_only=True)
        try:
            return [channel.name for channel in list_channels(con)]
        finally:
            con.close()

    def glance(self, read):
        """What `read(con)` answers on a read-only connection taken without waiting for a writer: what a sensor
        looks at. UNREADABLE is raised when there is no warehouse yet or a writer holds it."""
        con = connect(self.resolved_path, read_only=True)
        try:
            return read(con)
        finally:
            con.close()

    def notification_queues(self) -> dict[str, str]:
        """Each channel's notification queue URL."""
        return self.glance(
            lambda con: dict(
                con.execute("select channel, queue_url from channel_notifications order by channel").fetchall()
            )
        )


# what a glance at the warehouse may meet: no warehouse yet, or a writer holding it
UNREADABLE = (FileNotFoundError, RuntimeError, duckdb.Error)


class AmazonSellerResource(ConfigurableResource):
    """Which credentials python-amazon-sp-api loads: its environment variables (LWA_APP_ID,
    LWA_CLIENT_SECRET, SP_API_REFRESH_TOKEN) or an account of its credentials file. The secrets
    themselves never pass through Dagster's config, so they cannot reach its event log."""

    credentials_account: str = "default"
