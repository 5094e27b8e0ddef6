"""amazon-orders: thin commands over the functions the Dagster assets use."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import tomllib
from pathlib import Path

import duckdb

from pipelines.orchestration.runs import SyncFailed
from pipelines.warehouse.connection import WarehouseError, open_for_reading, open_for_writing


class CommandError(Exception):
    """Printed as one line with exit status 1."""


def _say(message: str) -> None:
    print(message, flush=True)


def _given(args, *names: str) -> dict:
    """The options `names`, as keyword arguments of a function whose parameters bear their names."""
    return {name: getattr(args, name) for name in names}


def _waiting(message: str) -> None:
    """A wait for the warehouse, told on stderr: what a reader prints on stdout stays its answer."""
    print(message, file=sys.stderr, flush=True)


# -- channels -----------------------------------------------------------------------------------
def cmd_channel_add(args) -> None:
    from pipelines import clock
    from pipelines.assets.extract import follow_channel_registry
    from pipelines.orchestration.instance import get_instance
    from pipelines.warehouse.channels import add_channel, list_channels

    with open_for_writing(args.db) as con:
        channel = add_channel(
            con,
            args.name,
            args.marketplace,
            now=clock.from_environment(),
            **_given(args, "start", "endpoint", "token_url", "seller_id"),
        )
        registered = [c.name for c in list_channels(con)]
    follow_channel_registry(get_instance(args.db), registered)
    _say(
        f"channel {channel.name!r} added: marketplaces {', '.join(channel.marketplace_ids)}, "
        f"orders created from {channel.start_at:%Y-%m-%dT%H:%M:%SZ} on"
    )


def cmd_channel_list(args) -> None:
    from pipelines.warehouse.channels import list_channels

    with open_for_writing(args.db) as con:
        channels = list_channels(con)
    if not channels:
        _say("no channels yet: amazon-orders channel add NAME --marketplace ATVPDKIKX0DER")
    for c in channels:
        where = c.endpoint or "Amazon (region endpoint)"
        _say(
            f"{c.name}\tmarketplaces={','.join(c.marketplace_ids)}\tstart={c.start_at:%Y-%m-%dT%H:%M:%SZ}\tendpoint={where}"
        )


def cmd_channel_remove(args) -> None:
    from pipelines.assets.extract import follow_channel_registry
    from pipelines.orchestration.instance import get_instance
    from pipelines.warehouse.channels import list_channels, remove_channel
    from pipelines.warehouse.connection import transaction

    with open_for_writing(args.db, on_wait=_say) as con:
        with transaction(con):
            deleted = remove_channel(con, args.name, delete_orders=args.delete_orders)
        registered = [c.name for c in list_channels(con)]
    follow_channel_registry(get_instance(args.db), registered)
    kept = f"{deleted} orders deleted with it" if args.delete_orders else "its orders are kept"
    _say(f"channel {args.name!r} removed: it is no longer synced, and {kept}")


def cmd_channel_notifications(args) -> None:
    from pipelines.amazon.queue import QueueError
    from pipelines.ingest.notifications import NotificationsError

    try:
        _channel_notifications(args)
    except (NotificationsError, QueueError) as error:
        raise CommandError(str(error)) from None


def _channel_notifications(args) -> None:
    from pipelines import clock
    from pipelines.amazon.queue import check_queue
    from pipelines.ingest.notifications import subscribe, unsubscribe
    from pipelines.warehouse.channels import check_seller_id, get_channel, set_seller_id
    from pipelines.warehouse.connection import transaction

    with open_for_writing(args.db) as con:
        channel = get_channel(con, args.name)
        if args.off:
            subscription_id = unsubscribe(con, channel)
            _say(f"channel {channel.name!r}: ORDER_CHANGE subscription {subscription_id} deleted; polling goes on")
            return
        if args.seller_id is not None:
            check_seller_id(args.seller_id)
        if args.seller_id and not (args.queue_arn or args.queue_url):
            with transaction(con):
                set_seller_id(con, channel.name, args.seller_id)
            _say(f"channel {channel.name!r}: notifications must carry SellerId {args.seller_id}")
            return
        if not (args.queue_arn and args.queue_url):
            raise CommandError("give --queue-arn and --queue-url (or --off to unsubscribe)")
        if not (args.seller_id or channel.seller_id):
            raise CommandError(
                f"channel {channel.name!r} has no seller id: give --seller-id (your Merchant Token, "
                "in Seller Central's account info); a notification must carry it to be trusted"
            )
        check_queue(args.queue_arn, args.queue_url)
        ids = subscribe(
            con, channel, args.queue_arn, args.queue_url, now=clock.from_environment()(), seller_id=args.seller_id
        )
    _say(
        f"channel {channel.name!r}: ORDER_CHANGE notifications go to {args.queue_arn} (destination "
        f"{ids['destination_id']}, subscription {ids['subscription_id']}); `amazon-orders listen` or the "
        "Dagster sensor reads them"
    )


def cmd_listen(args) -> None:
    import time

    from pipelines import clock
    from pipelines.ingest.notifications import NotificationsError, drain, queue_url_of
    from pipelines.warehouse.channels import get_channel

    with open_for_reading(args.db, on_wait=_waiting) as con:
        names = (
            [args.channel]
            if args.channel
            else [
                name for (name,) in con.execute("select channel from channel_notifications order by channel").fetchall()
            ]
        )
        channels = [get_channel(con, name) for name in names]
        queues = [(channel, queue_url_of(con, channel)) for channel in channels]
    missing = [channel.name for channel, url in queues if url is None]
    if missing or not queues:
        raise CommandError(
            f"no notification queue for {', '.join(map(repr, missing)) or 'any channel'}: "
            "amazon-orders channel notifications NAME --queue-arn ARN --queue-url URL"
        )
    now = clock.from_environment()
    while True:
        for channel, url in queues:
            try:
                drain(channel, url, lambda: open_for_writing(args.db, on_wait=_say), clock=now, say=_say)
            except NotificationsError as error:
                if args.once:
                    raise CommandError(str(error)) from None
                print(f"amazon-orders: {error}; trying again in 5 s", file=sys.stderr, flush=True)
                time.sleep(5)
        if args.once:
            return


# -- sync ---------------------------------------------------------------------------------------
def cmd_sync(args) -> None:
    from pipelines.orchestration.runs import run_stock_push, run_sync

    run_sync(args.db, args.channel, args.until, on_report=lambda report: _say(report["line"]), on_wait=_waiting)
    # what this sync booked is on Amazon's listings before it exits (channels with a seller id; a sale on one
    # channel changes what every other channel may list)
    run_stock_push(args.db, on_report=lambda report: _say(report["line"]), on_wait=_waiting, quiet_without_seller=True)


def cmd_rebuild(args) -> None:
    from pipelines import clock
    from pipelines.warehouse.marts import build_marts, publish
    from pipelines.warehouse.transform import transform

    with open_for_writing(args.db, on_wait=_say) as con:
        result = transform(con, rebuild=True)
        now = clock.from_environment()()
        build_marts(con, now)
        publish(con, now, args.db)
    _say(
        f"rebuilt from the raw layer: {result.orders_changed} orders, {result.versions_quarantined} "
        f"versions quarantined, {result.movements_booked} stock movements"
    )


# -- back office ---------------------------------------------------------------------------------
def cmd_products_import(args) -> None:
    from pipelines.backoffice.products import import_products

    with open_for_writing(args.db, on_wait=_say) as con:
        counts = import_products(con, args.file)
    _say(
        f"imported {counts['products']} products ({counts['placeholders_replaced']} placeholders replaced, "
        f"{counts['stock_adjustments']} stock adjustments)"
    )


def cmd_ship(args) -> None:
    from pipelines.backoffice.shipments import mark_shipped

    if args.carrier is not None or args.tracking is not None:
        return _ship_package(args)
    if args.carrier_name or args.service or args.ship_date or args.sku or args.quantity:
        raise CommandError(
            "--carrier-name, --service, --ship-date and --sku/--quantity describe a package: "
            "give --carrier and --tracking with them"
        )
    from pipelines.backoffice.shipments import refuse_bare_ship_of_packed_order

    with open_for_writing(args.db, on_wait=_say) as con:
        refuse_bare_ship_of_packed_order(con, args.channel_order_id, args.channel)
        shipment_id = mark_shipped(con, args.channel_order_id, args.channel, force=args.force)
    _say(
        f"order {args.channel_order_id} marked shipped ({shipment_id}); Amazon is not told without a carrier "
        "and tracking number: ship it again with --carrier and --tracking to confirm it"
    )


def _sku_lines(args) -> list[tuple[str, int]]:
    skus, quantities = args.sku or [], args.quantity or []
    if len(skus) != len(quantities):
        raise CommandError("give each --sku with its --quantity (--sku MUG-01 --quantity 1 --sku PEN-03 --quantity 2)")
    return list(zip(skus, quantities))


def _package(args) -> dict:
    """The package as --carrier, --tracking, --carrier-name, --service, --ship-date and --sku/--quantity give it."""
    return _given(args, "carrier", "tracking", "carrier_name", "service", "ship_date") | {"lines": _sku_lines(args)}


def _confirm_at_once(args, channels) -> None:
    from pipelines.orchestration.runs import run_confirmations

    run_confirmations(args.db, sorted(set(channels)), on_report=lambda report: _say(report["line"]))


def _record_and_confirm(args, record, told) -> None:
    """`record(con, now)`'s packages, recorded with the writer held; the lines `told(packages)`; then the packages
    confirmed to Amazon at once, the warehouse free meanwhile."""
    from pipelines import clock

    with open_for_writing(args.db, on_wait=_say) as con:
        packages = record(con, clock.from_environment()())
    for line in told(packages):
        _say(line)
    _confirm_at_once(args, [package.channel for package in packages])


def _ship_package(args) -> None:
    from pipelines.backoffice.shipments import PackageRequest, record_package

    if not args.carrier or not args.tracking:
        raise CommandError(
            "give both --carrier (Amazon's carrier code, such as UPS) and --tracking: Amazon "
            "requires them to confirm a shipment"
        )
    request = PackageRequest(args.channel_order_id, channel=args.channel, force=args.force, **_package(args))
    _record_and_confirm(
        args,
        lambda con, now: [record_package(con, request, now)],
        lambda recorded: [
            f"order {r.channel_order_id}: package {r.package_reference_id} ({r.units}) shipped here; confirming "
            "it to Amazon"
            for r in recorded
        ],
    )


def cmd_shipments_import(args) -> None:
    from pipelines.backoffice.shipments import import_shipments

    _record_and_confirm(
        args,
        lambda con, now: import_shipments(con, args.file, now),
        lambda recorded: [
            f"imported {len(recorded)} package(s) of {len({r.order_id for r in recorded})} order(s); confirming "
            "them to Amazon"
        ],
    )


def cmd_shipments_resend(args) -> None:
    from pipelines.backoffice.shipments import correct_refused

    _record_and_confirm(
        args,
        lambda con, now: correct_refused(
            con, args.channel_order_id, args.channel, reference=args.package, now=now, **_package(args)
        ),
        lambda corrected: [
            f"order {p.channel_order_id}: package {p.package_reference_id} ({p.units}) corrected; sending it to "
            "Amazon again"
            for p in corrected
        ],
    )


def cmd_shipments_send(args) -> None:
    from pipelines.warehouse.channels import get_channel, list_channels

    with open_for_reading(args.db, on_wait=_waiting) as con:
        channels = [get_channel(con, args.channel).name] if args.channel else [c.name for c in list_channels(con)]
    _confirm_at_once(args, channels)


def cmd_return(args) -> None:
    from pipelines.backoffice.clerk import lookup_order
    from pipelines.backoffice.returns import create_return

    with open_for_writing(args.db, on_wait=_say) as con:
        args.channel_order_id, args.channel = lookup_order(con, args.channel_order_id, args.channel)
        return_id = create_return(
            con,
            args.channel_order_id,
            args.sku,
            args.quantity,
            reason=args.reason,
            restock=not args.no_restock,
            channel=args.channel,
        )
        source, location = con.execute(
            "select source, location from sales_returns where return_id = ?", [return_id]
        ).fetchone()
    if source == "amazon":  # Amazon's returns report brought it first: the clerk's entry confirms it
        _say(
            f"sales return {return_id} of order {args.channel_order_id} came from Amazon's returns report: "
            "confirmed (and received, if it was awaiting receipt), not entered twice"
        )
        return
    if location == "amazon_fba":
        stock = (
            "not restocked"
            if args.no_restock
            else "booked back at amazon_fba (Amazon's fulfilment centre, whose next count settles it)"
        )
        _say(
            f"sales return {return_id}: {args.quantity} x {args.sku} from order {args.channel_order_id}, which is "
            f"fulfilled by Amazon: {stock}, not on the warehouse's shelf"
        )
        return
    stock = "not restocked" if args.no_restock else "back in stock"
    _say(f"sales return {return_id}: {args.quantity} x {args.sku} from order {args.channel_order_id}, {stock}")


def cmd_returns_import(args) -> None:
    from pipelines.orchestration.runs import run_returns_import

    run_returns_import(
        args.db, args.channel, args.until, on_report=lambda report: _say(report["line"]), on_wait=_waiting
    )


def cmd_returns_receive(args) -> None:
    from pipelines.backoffice.returns import receive_return

    with open_for_writing(args.db, on_wait=_say) as con:
        received = receive_return(con, args.return_id, restock=not args.no_restock)
    stock = "back in stock in the warehouse" if received["restocked"] else "not restocked"
    _say(
        f"sales return {received['return_id']} of order {received['channel_order_id']} received: "
        f"{received['units']}, {stock}"
    )


def cmd_purge_pii(args) -> None:
    from pipelines.backoffice.privacy import purge_pii

    result = purge_pii(args.db, args.days, say=_say)
    _say(
        f"buyer PII removed from {result.orders} orders shipped or cancelled over {args.days} days ago "
        f"({result.raw_versions} raw versions, {result.contacts} contacts, {result.accounts} accounts)"
    )


def cmd_order_show(args) -> None:
    from pipelines.backoffice.clerk import lookup_order
    from pipelines.backoffice.orders import find_order
    from pipelines.warehouse.status import order_report

    with open_for_reading(args.db, on_wait=_waiting) as con:
        # Amazon's id or ours (SO-...), as pasted (#28)
        channel_order_id, channel = lookup_order(con, args.channel_order_id, args.channel)
        order_id, _, _ = find_order(con, channel_order_id, channel)
        _say(order_report(con, order_id))


def cmd_orders_list(args) -> None:
    from pipelines import clock
    from pipelines.backoffice.clerk import list_orders

    with open_for_reading(args.db, on_wait=_waiting) as con:
        columns, rows = list_orders(
            con,
            clock.from_environment()(),
            status=args.status,
            older_than=args.older_than,
            buyer=args.buyer,
            sku=args.sku,
            channel=args.channel,
            limit=None if args.format != "table" else args.max_rows + 1,
        )
    if not rows and args.format == "table":
        _say("no orders match")
        return
    _write_rows(columns, rows, args)


def cmd_returns_list(args) -> None:
    from pipelines.backoffice.clerk import list_returns

    with open_for_reading(args.db, on_wait=_waiting) as con:
        columns, rows = list_returns(
            con,
            awaiting_receipt=args.awaiting_receipt,
            channel=args.channel,
            limit=None if args.format != "table" else args.max_rows + 1,
        )
    if not rows and args.format == "table":
        _say("no returns awaiting receipt" if args.awaiting_receipt else "no returns yet")
        return
    _write_rows(columns, rows, args)


# -- reading ------------------------------------------------------------------------------------
def cmd_status(args) -> None:
    import json

    from pipelines import clock
    from pipelines.warehouse.status import channel_health, max_lag, publish_problem, status_json, status_report

    limit = max_lag(args.max_lag)
    with open_for_reading(args.db, on_wait=_waiting) as con:
        now = clock.from_environment()()
        if args.format == "json":
            report = status_json(con, now, limit)
            print(json.dumps(report, default=str, ensure_ascii=False, indent=1), flush=True)
            health = report["channels"]
        else:
            _say(status_report(con, now))
            health = channel_health(con, now, limit)
        published = publish_problem(con)
    # #28: a failed last sync, a lag past --max-lag or a published copy that keeps failing is the exit status
    # too, for cron, monitoring and scripts
    failing = [f"channel {c['channel']!r}: {', '.join(c['problems'])}" for c in health if not c["healthy"]]
    if failing or published:
        raise CommandError("; ".join(failing + ([published] if published else [])))


def cmd_channel_check(args) -> None:
    from pipelines import clock
    from pipelines.amazon.roles import check_roles
    from pipelines.warehouse.channels import get_channel

    with open_for_reading(args.db, on_wait=_waiting) as con:
        channel = get_channel(con, args.name)
    probes = check_roles(channel, clock.from_environment()())
    width = max(len(f"{p.api} {p.operation}") for p in probes)
    for probe in probes:
        _say(f"{(probe.api + ' ' + probe.operation).ljust(width)}  role {probe.role}: {probe.outcome}")
    missing = sorted({p.role for p in probes if p.missing})
    failed = [p for p in probes if not p.missing and not p.skipped and not p.outcome.startswith("ok")]
    if missing:
        raise CommandError(
            f"channel {channel.name!r}: the application lacks the role(s) {', '.join(missing)} "
            "(Amazon answered 403; add them to the app in Seller Central, then authorise it again)"
        )
    if failed:
        raise CommandError(f"channel {channel.name!r}: {len(failed)} check(s) failed: {failed[0].outcome}")


def cmd_sql(args) -> None:
    import threading

    with open_for_reading(args.db, on_wait=_waiting) as con:
        try:
            statements = con.extract_statements(args.query)
        except duckdb.Error as error:
            raise CommandError(f"query refused: {_first_line_and_hint(error)}") from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise CommandError("query refused: `sql` runs one read-only SELECT (or WITH ... SELECT)")
        con.execute("set enable_external_access = false")
        # a sync waits for readers: a query is bounded so that it never keeps a scheduled sync waiting for long
        timer = threading.Timer(args.timeout, con.interrupt)
        timer.start()
        try:
            result = con.execute(args.query)
            columns = [column[0] for column in result.description]
            rows = result.fetchall() if args.format != "table" else result.fetchmany(args.max_rows + 1)
        except duckdb.InterruptException:
            raise CommandError(
                f"query stopped after {args.timeout:g} s (--timeout): syncs wait for queries, "
                "so a query may not run longer"
            ) from None
        except duckdb.Error as error:
            raise CommandError(f"query failed: {_first_line_and_hint(error)}") from None
        finally:
            timer.cancel()
    _write_rows(columns, rows, args)


def _first_line_and_hint(error: duckdb.Error) -> str:
    """DuckDB's first line, and its "Did you mean ..." hint when it gives one (#28), as one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    hints = [line for line in lines[1:] if line.startswith(("Did you mean", "Candidate bindings"))]
    return " ".join(lines[:1] + hints[:1])


def _write_rows(columns: list[str], rows: list[tuple], args) -> None:
    """A table for the eye (cells wrapped at word boundaries unless --wide), or CSV or JSON for a spreadsheet."""
    if args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif args.format == "json":
        import json

        json.dump([dict(zip(columns, row)) for row in rows], sys.stdout, default=str, ensure_ascii=False, indent=1)
        print()
    else:
        from tabulate import tabulate

        shown = rows[: args.max_rows]
        width = None if args.wide else 36

        def cell(value):
            if value is None:
                return ""
            text = str(value)
            if width and len(text) > width:
                text = textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)
            return text

        import numbers
        from decimal import Decimal

        # numbers right-aligned, as a spreadsheet shows them (#28); their text as DuckDB gives it
        numeric = [
            bool(shown)
            and all(
                v is None or (isinstance(v, (numbers.Number, Decimal)) and not isinstance(v, bool))
                for v in (row[i] for row in shown)
            )
            for i in range(len(columns))
        ]
        print(
            tabulate(
                [[cell(v) for v in row] for row in shown],
                headers=columns,
                tablefmt="simple",
                disable_numparse=True,
                colalign=["right" if n else "left" for n in numeric] or None,
            )
        )
        if len(rows) > len(shown):
            print(f"(more than {args.max_rows} rows: --max-rows shows more, --format csv writes them all)")


# -- sandbox and demo ---------------------------------------------------------------------------
def cmd_sandbox(args) -> None:
    from pipelines.sandbox.server import serve

    serve(missing_roles=args.missing_role, **_given(args, "port", "seed", "speedup", "live", "orders_per_hour"))


def cmd_ui(args) -> None:
    from pipelines.cli.ui import run_ui

    code = run_ui(args.db, host=args.host, port=args.port, orders_per_hour=args.orders_per_hour, say=_say)
    if code:  # Ctrl-C is 0
        raise CommandError(f"dagster dev exited with status {code}")


def cmd_demo(args) -> None:
    from pipelines.cli.demo import run_demo

    run_demo(db=args.db)


def cmd_report(args) -> None:
    from pipelines import clock
    from pipelines.warehouse.chart import chart_path, write_chart

    if args.days < 1:
        raise CommandError(f"--days must be at least 1, not {args.days}")
    path = args.out or chart_path(args.db)
    with open_for_reading(args.db, on_wait=_waiting) as con:
        if not con.execute("select 1 from duckdb_tables() where table_name = 'daily_sales'").fetchall():
            raise CommandError("no daily_sales mart in this warehouse yet: run `amazon-orders sync` (or `rebuild`)")
        write_chart(con, path, clock.from_environment()(), days=args.days)
    _say(f"daily sales chart: {path}")


# -- the parser ---------------------------------------------------------------------------------
# -- stock pushed to Amazon (issue #26) -----------------------------------------------------------------
def cmd_channel_set(args) -> None:
    from pipelines.warehouse.channels import check_seller_id, get_channel, set_seller_id
    from pipelines.warehouse.connection import transaction

    if args.seller_id is None:
        raise CommandError("say what to set: --seller-id MERCHANT_TOKEN")
    check_seller_id(args.seller_id)
    with open_for_writing(args.db) as con:
        channel = get_channel(con, args.name)
        with transaction(con):
            set_seller_id(con, channel.name, args.seller_id)
    _say(f"channel {channel.name!r}: seller id {args.seller_id}; its merchant-fulfilled listings get its stock")


def cmd_stock_show(args) -> None:
    from pipelines.outbound.stock import stock_table

    with open_for_reading(args.db, on_wait=_waiting) as con:
        if args.channel:
            from pipelines.warehouse.channels import get_channel

            get_channel(con, args.channel)
        frame = stock_table(con, args.channel).df()
        if args.sku:
            frame = frame[frame["sku"] == args.sku]
    if frame.empty:
        _say("no catalog products yet: amazon-orders products import FILE")
        return
    _say(frame.astype(object).where(frame.notna(), "").to_markdown(index=False, tablefmt="simple"))


def cmd_stock_buffer(args) -> None:
    from pipelines import clock
    from pipelines.outbound.stock import StockPushRefused, set_buffer
    from pipelines.warehouse.channels import get_channel

    with open_for_writing(args.db) as con:
        channel = get_channel(con, args.channel)
        if (
            args.sku
            and not con.execute(
                "select count(*) from products where product_code = ? and not is_placeholder", [args.sku]
            ).fetchone()[0]
        ):
            raise CommandError(f"--sku {args.sku!r} is not a catalog product (amazon-orders products import)")
        try:
            set_buffer(
                con,
                channel.name,
                args.sku,
                now=clock.from_environment()(),
                **_given(args, "units", "percent", "max_listed", "clear"),
            )
        except StockPushRefused as refused:
            raise CommandError(str(refused)) from None
    what = f"SKU {args.sku}" if args.sku else "every SKU"
    if args.clear:
        _say(f"channel {channel.name!r}: buffer of {what} removed")
    else:
        held = [
            f"{args.units} unit(s)" if args.units is not None else "",
            f"{args.percent:g}%" if args.percent is not None else "",
            f"at most {args.max_listed} listed" if args.max_listed is not None else "",
        ]
        _say(f"channel {channel.name!r}: buffer of {what}: {', '.join(h for h in held if h)}")


def cmd_stock_push(args) -> None:
    from pipelines.orchestration.runs import run_stock_push

    run_stock_push(
        args.db, args.channel, full=args.full, on_report=lambda report: _say(report["line"]), on_wait=_waiting
    )


_TYPES = {"int": int, "float": float}


def _add_options(parser: argparse.ArgumentParser, options: list[dict], sets: dict[str, list[dict]]) -> None:
    """The options commands.toml lists for a command, in its order (a `use` entry: that set's options)."""
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for option in options:
        if "use" in option:
            _add_options(parser, sets[option["use"]], sets)
            continue
        keywords = {key: value for key, value in option.items() if key not in ("flags", "exclusive")}
        if "type" in keywords:
            keywords["type"] = _TYPES[keywords["type"]]
        where = parser
        if "exclusive" in option:
            if option["exclusive"] not in exclusive:
                exclusive[option["exclusive"]] = parser.add_mutually_exclusive_group()
            where = exclusive[option["exclusive"]]
        where.add_argument(*option["flags"], **keywords)


def _command(sub, command: dict, sets: dict[str, list[dict]]) -> argparse.ArgumentParser:
    """A command (or an action of one) as commands.toml declares it: its texts, options and function."""
    parser = sub.add_parser(
        command["name"],
        help=command["summary"],
        description=command["summary"],
        epilog=f"example:\n  {command['example']}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=globals()[command["run"]])
    _add_options(parser, command.get("options", []), sets)
    return parser


def _group(sub, command: dict, sets: dict[str, list[dict]]) -> None:
    """A command of actions (`channel add`, `channel list` ...); with `default`, the command alone runs that action."""
    parser = sub.add_parser(command["name"], help=command["summary"], description=command["description"])
    actions = parser.add_subparsers(
        dest=f"{command['name']}_command", required="default" not in command, metavar="ACTION"
    )
    for action in command["action"]:
        action_parser = _command(actions, action, sets)
        if action["name"] == command.get("default"):
            parser.set_defaults(**vars(action_parser.parse_args([])))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amazon-orders",
        description="Bring Amazon Marketplace orders into an order-management warehouse (DuckDB).",
        epilog=textwrap.dedent("""\
            examples:
              amazon-orders channel add "Amazon US" --marketplace ATVPDKIKX0DER
              amazon-orders sync
              amazon-orders status
              amazon-orders sql "select status, count(*) from orders group by status"
        """),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", help="warehouse file (default: $AMAZON_ORDERS_DB or data/warehouse.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    table = tomllib.loads(Path(__file__).with_name("commands.toml").read_text(encoding="utf-8"))
    for command in table["command"]:
        (_group if "action" in command else _command)(sub, command, table["sets"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # the reader (`| head`, say) has gone: nothing more to say to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, SyncFailed, WarehouseError, FileNotFoundError, ValueError) as error:
        print(f"amazon-orders: {error}", file=sys.stderr)
        return 1
    except duckdb.Error as error:  # a full disk, say: the cause, first and in one line
        print(f"amazon-orders: {(str(error).strip().splitlines() or [type(error).__name__])[0]}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"amazon-orders: {error.strerror or error}{f': {error.filename}' if error.filename else ''}",
            file=sys.stderr,
        )
        return 1
    return 0


def run() -> None:
    """The console script: main(), then exit without tearing down every module Dagster loaded.

    That teardown takes about half a second and protects nothing: every write is committed by now,
    and the warehouse is built to survive a SIGKILL at any point anyway.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader (say `| head`) has gone
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
