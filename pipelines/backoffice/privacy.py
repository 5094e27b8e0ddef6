"""Buyer PII retention, as Amazon's Data Protection Policy asks: keep it only while it is needed.

Orders shipped or cancelled more than N days ago lose buyer names, emails, phones and street
addresses everywhere they are stored, raw payloads, notifications and report rows included. Ids, dates, amounts, and city, state
and country (for tax) stay. The local account and contact ids are written into the purged payloads
so a rebuild from the raw layer still gives the same ids.

Redacting a value in DuckDB leaves its old bytes in freed blocks of the file. So once something
was redacted, the warehouse is rewritten into a new file (DuckDB's COPY FROM DATABASE writes only
live data, sequences included) and that file replaces the old one in one rename, under the writer
lock: a crash at any point leaves one of the two whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.warehouse.connection import (
    connect,
    owner_only_files,
    refused_reports_folder,
    transaction,
    warehouse_path,
    writer_lock,
)

# JSON merge patch (RFC 7396): a null removes the key.
PURGE_PATCH = """{
    "buyer": {"buyerName": null, "buyerEmail": null},
    "recipient": {"deliveryAddress": {"name": null, "addressLine1": null, "addressLine2": null,
                                      "addressLine3": null, "phone": null, "postalCode": null},
                  "deliveryPreference": null}
}"""
NOTIFICATION_PATCH = '{"Payload": {"OrderChangeNotification": {"Summary": {"DestinationPostalCode": null}}}}'
CONTACT_PII = ["full_name", "email", "phone", "address_line1", "address_line2", "address_line3", "postal_code"]


@dataclass
class PurgeResult:
    orders: int
    raw_versions: int
    contacts: int
    accounts: int


def purge_pii(db=None, days: int = 30, *, say: Callable[[str], None] = lambda line: None) -> PurgeResult:
    """Redact the PII of orders final for over `days` days, then rewrite the file so no byte of it stays."""
    if days < 0:
        raise ValueError(f"--days must be zero or more (got {days})")
    path = warehouse_path(db)
    with writer_lock(path, on_wait=say), owner_only_files():
        con = connect(path)
        try:
            result = redact(con, days)
            pending = con.execute("select count(*) from pending_rewrites").fetchone()[0]
        finally:
            con.close()
        if pending:
            say(f"rewriting warehouse {path} so that no byte of the removed values stays in it")
            rewrite(path)
        # a report document refused as too large was kept whole, buyers' comments and all: only for `days`
        cutoff = time.time() - days * 86400
        for kept in refused_reports_folder(path).glob("*"):
            if kept.stat().st_mtime < cutoff:
                kept.unlink()
    return result


def rewrite(path: Path) -> None:
    """Copy the warehouse's live data into a new file and put it in the old one's place (writer lock held)."""
    fresh = path.with_name(path.name + ".rewrite")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)  # an earlier rewrite that was interrupted
    con = connect(path)
    try:
        name = con.execute("select current_database()").fetchone()[0]
        con.execute("attach ? as fresh", [str(fresh)])
        con.execute(f'copy from database "{name}" to fresh')
        con.execute("delete from fresh.pending_rewrites")
        con.execute("detach fresh")
    finally:
        con.close()  # checkpoints: the old file has no log left to replay onto the new one
    with fresh.open("rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(fresh, 0o600)
    os.replace(fresh, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def redact(con: duckdb.DuckDBPyConnection, days: int) -> PurgeResult:
    with transaction(con):
        con.execute(
            """
            create or replace temp table purgeable as
            select order_id, channel, channel_order_id, account_id, contact_id
            from orders
            where status in (select status from order_statuses where is_final)
                and amazon_updated_at < now()::timestamp - to_days(?)
            """,
            [days],
        )
        raw_versions = con.execute(
            """
            update raw_amazon_orders as raw
            set payload = json_merge_patch(
                json_merge_patch(raw.payload, ?),
                json_object('_amazon_orders', json_object('account_id', p.account_id, 'contact_id', p.contact_id,
                                                          'pii_purged', true))
            )
            from purgeable as p
            where raw.channel = p.channel and raw.amazon_order_id = p.channel_order_id
                and json_extract(raw.payload, '$._amazon_orders.pii_purged') is null
            """,
            [PURGE_PATCH],
        ).fetchone()[0]
        # a buyer with a recent order keeps their details: that order still needs them
        contacts = con.execute(
            f"""
            update contacts set {", ".join(f"{c} = null" for c in CONTACT_PII)}
            where contact_id in (select contact_id from purgeable)
                and contact_id not in (select contact_id from orders anti join purgeable using (order_id)
                                       where contact_id is not null)
                and coalesce(full_name, email, phone, address_line1, postal_code) is not null
            """
        ).fetchone()[0]
        accounts = con.execute(
            """
            update accounts set account_name = null
            where not is_business and not is_placeholder and account_name is not null
                and account_id in (select account_id from purgeable)
                and account_id not in (select account_id from orders anti join purgeable using (order_id))
            """
        ).fetchone()[0]
        # an FBA return's customer-comments is the buyer's free text: gone from the staged row, and the
        # document it came from is no longer kept whole
        comments = con.execute(
            """
            update raw_report_rows set fields = json_merge_patch(fields, '{"customer-comments": ""}')
            from purgeable as p, raw_report_documents as d
            where d.report_id = raw_report_rows.report_id and d.channel = p.channel
                and fields ->> 'order-id' = p.channel_order_id and coalesce(fields ->> 'customer-comments', '') <> ''
            """
        ).fetchone()[0]
        con.execute(
            """
            update raw_report_documents set document = null
            where document is not null and report_id in (
                select r.report_id from raw_report_rows r join raw_report_documents d using (report_id)
                join purgeable p on p.channel = d.channel and p.channel_order_id = r.fields ->> 'order-id')
            """
        )
        # an ORDER_CHANGE notification carries the buyer's postal code; one that could not be read, or names an
        # order we never held, may carry anything: its body goes once it is as old as a purged order
        notifications = con.execute(
            """
            update raw_notifications as n
            set body = json_merge_patch(n.body, $patch)
            from purgeable as p
            where n.channel = p.channel and n.amazon_order_id = p.channel_order_id and json_valid(n.body)
                and n.body ->> '$.Payload.OrderChangeNotification.Summary.DestinationPostalCode' is not null
            """,
            {"patch": NOTIFICATION_PATCH},
        ).fetchone()[0]
        notifications += con.execute(
            """
            update raw_notifications set body = '{}'
            where body <> '{}' and received_at < now()::timestamp - to_days($days)
                and (not json_valid(body) or (channel, coalesce(amazon_order_id, '')) not in (
                    select channel, channel_order_id from orders))
            """,
            {"days": days},
        ).fetchone()[0]
        orders = con.execute("select count(*) from purgeable").fetchone()[0]
        if raw_versions or contacts or accounts or comments or notifications:
            con.execute("insert into pending_rewrites values ('purge-pii', now()::timestamp)")
    return PurgeResult(orders, raw_versions, contacts, accounts)
