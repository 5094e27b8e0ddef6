"""Derive the core tables from the raw layer: incrementally by default, or from scratch (rebuild).

Only the order versions landed since the last transform are read: for each order, the newest valid
one replaces what the tables hold when it is newer. The models run in the order their reads give
(pipelines.warehouse.models), with the table contracts as a Python step among them. Everything a run writes,
the ledger's bookings included, commits in one transaction together with the position it reached
in the raw layer. A long way behind (a backfill), the versions are taken a batch at a time, each its
own commit: the warehouse is free between batches, and a kill between two loses nothing.

Scratch models that need nothing from a core model are materialised before that transaction, and
each is dropped once nothing further reads it: DuckDB gives back a dropped temp table's memory
only outside a transaction. The caller's writer lock keeps the warehouse still throughout.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cache

import duckdb

from pipelines.warehouse import ledger
from pipelines.warehouse.connection import transaction
from pipelines.warehouse.models import Model, Step, before_any_core, run_order

# Order versions a batch reads: about two seconds of the writer's time on this project's 2-core machine.
BATCH_VERSIONS = 10_000


@dataclass
class TransformResult:
    orders_changed: int = 0
    orders_added: int = 0
    orders_updated: int = 0
    versions_quarantined: int = 0
    placeholders_created: int = 0
    movements_booked: int = 0
    more: bool = False  # versions beyond this batch wait for the next

    def add(self, other: TransformResult) -> None:
        for name in (
            "orders_changed",
            "orders_added",
            "orders_updated",
            "versions_quarantined",
            "placeholders_created",
            "movements_booked",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.more = other.more


def _refuse_contract_breaches(con) -> None:
    from pipelines.warehouse.contracts import (
        refuse_contract_breaches,  # pandas and pandera only when rows are validated
    )

    refuse_contract_breaches(con)


CONTRACTS = Step(
    "table contracts",
    reads=frozenset({"new_orders", "new_order_lines"}),
    writes=frozenset({"contract_rejections"}),
    run=_refuse_contract_breaches,
)


@cache
def _plan() -> tuple[list, list]:
    return before_any_core(run_order((CONTRACTS,)))


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    """Forget everything derived from the raw layer; local inputs (catalog, shipments, returns) stay. So
    does the stock history of an order no version gives any more (a notification's the poll never listed:
    its reservation and release), with the placeholders it names: what an incremental run booked for it."""
    con.execute(
        "delete from inventory_movements where reason <> 'adjustment' and order_id in "
        "(select order_id from orders anti join stg_amazon__orders_to_revisit using (order_id))"
    )
    con.execute(
        "delete from products where is_placeholder and product_id not in "
        "(select product_id from inventory_movements where product_id is not null)"
    )
    con.execute("delete from orders")
    con.execute("delete from order_lines")
    con.execute("delete from quarantine")
    con.execute("delete from other_channel_orders")
    con.execute("delete from accounts where not is_placeholder")
    con.execute("delete from contacts")
    con.execute("delete from transform_state")


Observer = Callable[[str], AbstractContextManager]  # wraps each step, named; for profiling


def _unobserved(step: str) -> AbstractContextManager:
    return nullcontext()


def _run(con: duckdb.DuckDBPyConnection, node, params: dict, *, rebuild: bool) -> None:
    if isinstance(node, Step):
        node.run(con)
    elif node.is_scratch or not rebuild:
        con.execute(f"create or replace temp table {node.relation} as {node.sql}", node.parameters(params))
    else:
        # a rebuild writes straight into the emptied table: its rows are all new
        con.execute(f"insert into {node.name} by name {node.sql}", node.parameters(params))
        con.execute(f"create or replace temp view {node.relation} as select * from {node.name}")


def _run_dropping(con, nodes: list, params: dict, *, keep: set[str], observe: Observer) -> None:
    """Run scratch models in order, dropping each once no later one (nor `keep`) reads it."""
    made = {node.relation for node in nodes}
    readers = Counter(relation for node in nodes for relation in node.reads)
    for node in nodes:
        with observe(node.name):
            _run(con, node, params, rebuild=False)
        for relation in node.reads:
            readers[relation] -= 1
            if readers[relation] == 0 and relation in made - keep:
                con.execute(f"drop table {relation}")


def _drop_staged(con, nodes: list, *, rebuild: bool) -> None:
    for node in nodes:
        if isinstance(node, Model):
            kind = "view" if rebuild and not node.is_scratch else "table"
            con.execute(f"drop {kind} if exists {node.relation}")


def _merge(con: duckdb.DuckDBPyConnection, table: str, *, rebuild: bool) -> None:
    """Bring a core table's staged new rows (`new_<table>`) into it."""
    if table in ("orders", "order_lines"):
        # an order's rows are replaced whole by those of its newer version, unless the contracts refused it
        scope = "contract_rejections" if rebuild else "int_changed_orders"
        con.execute(f"delete from {table} where order_id in (select order_id from {scope})")
        if not rebuild:
            con.execute(
                f"insert into {table} by name select * from new_{table} semi join int_changed_orders using (order_id)"
            )
    elif rebuild:
        return  # written straight in
    elif table == "contacts":
        _merge_contacts(con)
    elif table == "accounts":
        # the newest order wins, whatever order the versions arrive in: a row gives way to a newer
        # one and stays when the incoming one is older (a merge that updates whole rows is far slower)
        key = "account_id"
        con.execute(f"""
            delete from {table} where {key} in (
                select {key} from new_{table} inner join {table} using ({key})
                where new_{table}.source_updated_at >= {table}.source_updated_at
            )
        """)
        con.execute(f"insert into {table} by name select * from new_{table} anti join {table} using ({key})")
    else:
        con.execute(f"insert into {table} by name select * from new_{table}")


CONTACT_DETAILS = (
    "full_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "address_line3",
    "city",
    "state",
    "postal_code",
    "country_code",
)


def _merge_contacts(con: duckdb.DuckDBPyConnection) -> None:
    """Each detail of a contact is the newest one known: the newer row's, unless it lacks it."""
    details = ", ".join(
        f"if(old.contact_id is null or new.source_updated_at >= old.source_updated_at, coalesce(new.{c}, old.{c}), "
        f"coalesce(old.{c}, new.{c})) as {c}"
        for c in CONTACT_DETAILS
    )
    con.execute(f"""
        create or replace temp table merged_contacts as
        select
            new.contact_id,
            if(old.contact_id is null or new.source_updated_at >= old.source_updated_at, new.account_id, old.account_id)
                as account_id,
            {details},
            greatest(new.source_updated_at, old.source_updated_at) as source_updated_at
        from new_contacts as new
        left join contacts as old using (contact_id)
    """)
    con.execute("delete from contacts where contact_id in (select contact_id from merged_contacts)")
    con.execute("insert into contacts by name select * from merged_contacts")
    con.execute("drop table merged_contacts")


def _forget_buyers_without_orders(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the accounts and contacts that the changed orders no longer point to, unless another order does:
    their name, email and address have no order left to serve (a rebuild never makes them)."""
    for table, key in (("contacts", "contact_id"), ("accounts", "account_id")):
        con.execute(f"""
            delete from {table}
            where {key} in (select {key} from displaced_buyers)
                and {key} not in (
                    select {key} from orders where {key} in (select {key} from displaced_buyers) and {key} is not null)
                {"and not is_placeholder" if table == "accounts" else ""}
        """)
    con.execute("drop table displaced_buyers")


def _forget_placeholders_without_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the placeholders of SKUs the changed orders no longer name, unless another order line does: a
    rebuild never makes them."""
    con.execute("""
        delete from products
        where is_placeholder
            and product_code in (select product_code from displaced_products)
            and product_code not in (
                select product_code from order_lines
                where product_code in (select product_code from displaced_products))
            -- nor a stock movement a rebuild keeps names it (a count's adjustment, a dropped order's booking)
            and product_id not in (
                select product_id from inventory_movements
                where product_id is not null
                    and (reason = 'adjustment' or order_id is null or order_id not in (select order_id from orders)))
    """)
    con.execute("drop table displaced_products")


def transform(
    con: duckdb.DuckDBPyConnection,
    *,
    rebuild: bool = False,
    observe: Observer = _unobserved,
    max_versions: int | None = None,
    fresh_run: bool = True,
) -> TransformResult:
    """Bring the core tables up to date with the raw layer, or with its next `max_versions` versions (then
    `more` says whether some wait). `observe` wraps each step (a model, the contracts, a table's merge, the
    ledger), for a profiler to time. `fresh_run`: the orders this call changes start the list of those the
    run changed (the checks read it); a run's later batches add to it."""
    result = TransformResult()
    last = (
        0
        if rebuild
        else con.execute("select coalesce(max(last_ingest_id), 0) from transform_state where name = 'core'").fetchone()[
            0
        ]
    )
    newest = con.execute("select coalesce(max(ingest_id), 0) from raw_amazon_orders").fetchone()[0]
    upto = newest if rebuild or max_versions is None else min(newest, last + max_versions)
    result.more = upto < newest
    if fresh_run:
        con.execute("delete from last_transform_orders")
    if upto == last and not rebuild and not _revisits_waiting(con, upto):
        return result  # no new versions, and no notification lapsed since: nothing to derive
    params = {"last_ingest_id": last, "upto_ingest_id": upto}
    early, late = _plan()
    try:
        _run_dropping(con, early, params, keep={relation for node in late for relation in node.reads}, observe=observe)
        _write(con, late, params, result, upto=upto, rebuild=rebuild, observe=observe)
    finally:
        _drop_staged(con, [*early, *late], rebuild=rebuild)
    return result


def transform_in_batches(
    write: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]], batch_versions: int | None = None
) -> TransformResult:
    """The incremental transform a batch at a time, each batch under the writer for its own commit
    (AMAZON_ORDERS_TRANSFORM_BATCH versions, 10,000 by default)."""
    batch_versions = batch_versions or int(os.environ.get("AMAZON_ORDERS_TRANSFORM_BATCH", BATCH_VERSIONS))
    total, fresh = TransformResult(), True
    while True:
        with write() as con:
            total.add(transform(con, max_versions=batch_versions, fresh_run=fresh))
        fresh = False
        if not total.more:
            return total


def _revisits_waiting(con: duckdb.DuckDBPyConnection, upto: int) -> bool:
    """Whether an order the tables show comes from a notification version that has lapsed (a sync moved
    the watermark past it): then it is derived again, though no version landed."""
    from pipelines.sql import read_sql

    lapsed = read_sql("staging/stg_amazon__lapsed_notification_versions.sql")
    return con.execute(
        f"select exists (select 1 from orders where source_ingest_id in (select ingest_id from ({lapsed})))",
        {"upto_ingest_id": upto},
    ).fetchone()[0]


def _write(
    con, late: list, params: dict, result: TransformResult, *, upto: int, rebuild: bool, observe: Observer
) -> None:
    with transaction(con):
        if rebuild:
            with observe("reset"):
                _reset(con)
        before = {
            table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in ("products", "quarantine")
        }
        for node in late:
            with observe(node.name):
                _run(con, node, params, rebuild=rebuild)
        if not rebuild:
            result.orders_updated = con.execute(
                "select count(*) from int_changed_orders semi join orders using (order_id)"
            ).fetchone()[0]
            # the buyers the changed orders pointed to until now: an order's buyer can change (a new email)
            con.execute(
                "create or replace temp table displaced_buyers as "
                "select account_id, contact_id from orders semi join int_changed_orders using (order_id)"
            )
            # and the SKUs of their lines: a newer version may name others
            con.execute(
                "create or replace temp table displaced_products as select distinct product_code "
                "from order_lines semi join int_changed_orders using (order_id) where line_type = 'product'"
            )
        for node in late:
            if isinstance(node, Model) and not node.is_scratch:
                with observe(f"merge {node.name}"):
                    _merge(con, node.name, rebuild=rebuild)
        if not rebuild:
            _forget_buyers_without_orders(con)
            _forget_placeholders_without_lines(con)
        with observe("ledger"):
            result.movements_booked = ledger.book_orders(con, "select order_id from int_changed_orders")
        con.execute(
            "insert into transform_state values ('core', ?) on conflict (name) do update set last_ingest_id = excluded.last_ingest_id",
            [upto],
        )
        con.execute(
            "insert into last_transform_orders select order_id from int_changed_orders "
            "anti join last_transform_orders using (order_id)"
        )
        result.orders_changed = con.execute("select count(*) from int_changed_orders").fetchone()[0]
        result.orders_added = result.orders_changed - result.orders_updated
        after = {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in before}
        result.placeholders_created = after["products"] - before["products"]
        result.versions_quarantined = after["quarantine"] - before["quarantine"]
