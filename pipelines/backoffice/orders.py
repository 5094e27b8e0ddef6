"""What every back-office entry starts from: the order it names, found or refused in one line, and its stock
booked again once the entry is written. Each entry validates everything first and writes in one transaction,
so a refused one leaves the warehouse as it was."""

from __future__ import annotations

from pipelines.warehouse.ledger import book_orders


class EntryRefused(ValueError):
    """A refused entry; the message is the one line the user sees."""


def find_order(con, channel_order_id: str, channel: str | None) -> tuple[str, str, bool]:
    """(order_id, status, is_shipped) of the order, or a refusal naming what was not found."""
    found = con.execute(
        "select order_id, status, is_shipped, channel from orders where channel_order_id = ?", [channel_order_id]
    ).fetchall()
    if not found:
        raise EntryRefused(f"no order with Channel Order ID {channel_order_id!r}")
    if channel:
        elsewhere = sorted(row[3] for row in found if row[3] != channel)
        found = [row for row in found if row[3] == channel]
        if not found:
            raise EntryRefused(
                f"order {channel_order_id} is not on channel {channel!r} (it is on {', '.join(map(repr, elsewhere))})"
            )
    if len(found) > 1:
        raise EntryRefused(f"order {channel_order_id!r} exists on several channels; name one with --channel")
    return found[0][:3]


def book_order(con, order_id: str) -> int:
    return book_orders(con, "select ?", [order_id])


def is_canceled(con, status: str) -> bool:
    return con.execute("select is_canceled from order_statuses where status = ?", [status]).fetchone()[0]
