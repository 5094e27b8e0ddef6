"""amazon-orders: thin commands over the functions the Dagster assets use."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

import duckdb

from pipelines.runs import SyncFailed
from pipelines.warehouse import WarehouseError, open_for_reading, open_for_writing


class CommandError(Exception):
    """Printed as one line with exit status 1."""


def _say(message: str) -> None:
    print(message, flush=True)


# -- channels -----------------------------------------------------------------------------------
def cmd_channel_add(args) -> None:
    from pipelines.assets.extract import follow_channel_registry
    from pipelines.channels import add_channel, list_channels
    from pipelines.instance import get_instance

    from pipelines import clock

    with open_for_writing(args.db) as con:
        channel = add_channel(con, args.name, args.marketplace, start=args.start, endpoint=args.endpoint,
                              token_url=args.token_url, now=clock.from_environment())
        registered = [c.name for c in list_channels(con)]
    follow_channel_registry(get_instance(), registered)
    _say(f"channel {channel.name!r} added: marketplaces {', '.join(channel.marketplace_ids)}, "
         f"orders created from {channel.start_at:%Y-%m-%dT%H:%M:%SZ} on")


def cmd_channel_list(args) -> None:
    from pipelines.channels import list_channels

    with open_for_writing(args.db) as con:
        channels = list_channels(con)
    if not channels:
        _say("no channels yet: amazon-orders channel add NAME --marketplace ATVPDKIKX0DER")
    for c in channels:
        where = c.endpoint or "Amazon (region endpoint)"
        _say(f"{c.name}\tmarketplaces={','.join(c.marketplace_ids)}\tstart={c.start_at:%Y-%m-%dT%H:%M:%SZ}\tendpoint={where}")


# -- sync ---------------------------------------------------------------------------------------
def cmd_sync(args) -> None:
    from pipelines.runs import run_sync

    run_sync(args.db, args.channel, args.until, on_report=lambda report: _say(report["line"]),
             on_wait=lambda message: print(message, file=sys.stderr, flush=True))


def cmd_rebuild(args) -> None:
    from pipelines.transform import transform

    with open_for_writing(args.db, on_wait=_say) as con:
        result = transform(con, rebuild=True)
    _say(f"rebuilt from the raw layer: {result.orders_changed} orders, {result.versions_quarantined} "
         f"versions quarantined, {result.movements_booked} stock movements")


# -- back office ---------------------------------------------------------------------------------
def cmd_products_import(args) -> None:
    from pipelines.operations import import_products

    with open_for_writing(args.db, on_wait=_say) as con:
        counts = import_products(con, args.file)
    _say(f"imported {counts['products']} products ({counts['placeholders_replaced']} placeholders replaced, "
         f"{counts['stock_adjustments']} stock adjustments)")


def cmd_ship(args) -> None:
    from pipelines.operations import mark_shipped

    with open_for_writing(args.db, on_wait=_say) as con:
        shipment_id = mark_shipped(con, args.channel_order_id, args.channel, force=args.force)
    _say(f"order {args.channel_order_id} marked shipped ({shipment_id})")


def cmd_return(args) -> None:
    from pipelines.operations import create_return

    with open_for_writing(args.db, on_wait=_say) as con:
        return_id = create_return(con, args.channel_order_id, args.sku, args.quantity, reason=args.reason,
                                  restock=not args.no_restock, channel=args.channel)
    stock = "not restocked" if args.no_restock else "back in stock"
    _say(f"sales return {return_id}: {args.quantity} x {args.sku} from order {args.channel_order_id}, {stock}")


def cmd_purge_pii(args) -> None:
    from pipelines.privacy import purge_pii

    result = purge_pii(args.db, args.days, progress=_say)
    _say(f"buyer PII removed from {result.orders} orders shipped or cancelled over {args.days} days ago "
         f"({result.raw_versions} raw versions, {result.contacts} contacts, {result.accounts} accounts)")


# -- reading ------------------------------------------------------------------------------------
def cmd_status(args) -> None:
    from pipelines import clock
    from pipelines.sync_report import status_report

    with open_for_reading(args.db) as con:
        _say(status_report(con, clock.from_environment()()))


def cmd_sql(args) -> None:
    import threading

    import duckdb

    with open_for_reading(args.db) as con:
        try:
            statements = con.extract_statements(args.query)
        except duckdb.Error as error:
            raise CommandError(f"query refused: {str(error).splitlines()[0]}") from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise CommandError("query refused: `sql` runs one read-only SELECT (or WITH ... SELECT)")
        con.execute("set enable_external_access = false")
        # a sync waits for readers: a query is bounded so that it never keeps a scheduled sync waiting for long
        timer = threading.Timer(args.timeout, con.interrupt)
        timer.start()
        try:
            con.sql(args.query).show(max_width=200, max_rows=args.max_rows)
        except duckdb.InterruptException:
            raise CommandError(f"query stopped after {args.timeout:g} s (--timeout): syncs wait for queries, "
                               "so a query may not run longer") from None
        except duckdb.Error as error:
            raise CommandError(f"query failed: {str(error).splitlines()[0]}") from None
        finally:
            timer.cancel()


# -- sandbox and demo ---------------------------------------------------------------------------
def cmd_sandbox(args) -> None:
    from pipelines.sandbox.server import serve

    serve(port=args.port, seed=args.seed, speedup=args.speedup)


def cmd_demo(args) -> None:
    from pipelines.demo import run_demo

    run_demo(db=args.db)


# -- the parser ---------------------------------------------------------------------------------
def _command(sub, name: str, func, summary: str, example: str, **kwargs) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name, help=summary, description=summary, epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs,
    )
    parser.set_defaults(func=func)
    return parser


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

    channel = sub.add_parser("channel", help="add or list Amazon channels",
                             description="Add or list Amazon channels (one seller connection each).")
    channel_sub = channel.add_subparsers(dest="channel_command", required=True, metavar="ACTION")
    add = _command(channel_sub, "add", cmd_channel_add,
                   "Add a channel; only orders created from --start (default: now) on are imported.",
                   'amazon-orders channel add "Amazon US" --marketplace ATVPDKIKX0DER --start 2026-11-01T00:00:00Z')
    add.add_argument("name", help="the channel's name, recorded on every order")
    add.add_argument("--marketplace", action="append", required=True, metavar="ID",
                     help="an Amazon marketplace id; repeat for several")
    add.add_argument("--start", help="ISO 8601 time from which orders are imported (default: now)")
    add.add_argument("--endpoint", help="an SP-API-compatible server instead of Amazon's region endpoint")
    add.add_argument("--token-url", help="the LWA token URL to use with --endpoint")
    _command(channel_sub, "list", cmd_channel_list, "List the channels.", "amazon-orders channel list")

    sync = _command(sub, "sync", cmd_sync,
                    "Fetch what changed on Amazon and bring the order tables up to date (a Dagster run).",
                    'amazon-orders sync --channel "Amazon US" --until 2026-11-02T00:00:00Z')
    sync.add_argument("--channel", help="sync only this channel (default: every channel)")
    sync.add_argument("--until", help="ISO 8601 upper bound of the window, for walking a backfill")

    _command(sub, "rebuild", cmd_rebuild, "Recompute every core table from the raw layer.", "amazon-orders rebuild")

    products = sub.add_parser("products", help="import the product catalog",
                              description="Manage the product catalog.")
    products_sub = products.add_subparsers(dest="products_command", required=True, metavar="ACTION")
    imp = _command(products_sub, "import", cmd_products_import,
                   "Import a catalog CSV (product_code,product_name,list_price,on_hand). on_hand is the physical "
                   "count: what open orders reserve of it is not available to sell.",
                   "amazon-orders products import catalog.csv")
    imp.add_argument("file")

    ship = _command(sub, "ship", cmd_ship, "Mark an order shipped here (a later Amazon cancel returns no stock).",
                    "amazon-orders ship 112-1234567-1234567")
    ship.add_argument("channel_order_id", metavar="CHANNEL_ORDER_ID")
    ship.add_argument("--channel")
    ship.add_argument("--force", action="store_true",
                      help="ship although the buyer asked Amazon to cancel (the request is not carried out yet)")

    ret = _command(sub, "return", cmd_return, "Enter a sales return created from the sales order.",
                   "amazon-orders return 112-1234567-1234567 --sku MUG-01 --quantity 1 --reason damaged")
    ret.add_argument("channel_order_id", metavar="CHANNEL_ORDER_ID")
    ret.add_argument("--sku", required=True)
    ret.add_argument("--quantity", type=int, required=True)
    ret.add_argument("--reason")
    ret.add_argument("--no-restock", action="store_true", help="the units do not go back on hand")
    ret.add_argument("--channel")

    purge = _command(sub, "purge-pii", cmd_purge_pii,
                     "Remove buyer names, emails, phones and street addresses from orders shipped or "
                     "cancelled over --days ago (raw payloads too); ids, dates, amounts, city/state/country stay.",
                     "amazon-orders purge-pii --days 30")
    purge.add_argument("--days", type=int, default=30)

    _command(sub, "status", cmd_status,
             "Per channel: watermark and lag, last sync, orders by status, pending, placeholders, quarantine.",
             "amazon-orders status")
    sql = _command(sub, "sql", cmd_sql, "Run one read-only query on the warehouse and print a table.",
                   'amazon-orders sql "select channel_order_id, status, total_amount from orders limit 10"')
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.add_argument("--timeout", type=float, default=300,
                     help="stop the query after this many seconds (default 300): a sync waits for it meanwhile")

    sandbox = _command(sub, "sandbox", cmd_sandbox,
                       "Serve a simulated SP-API marketplace (LWA token + Orders v2026-01-01) on 127.0.0.1.",
                       "amazon-orders sandbox --port 8000 --seed 7")
    sandbox.add_argument("--port", type=int, default=8000)
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--speedup", type=float, default=1.0, help="multiply the usage-plan rates")

    _command(sub, "demo", cmd_demo, "Walk a simulated marketplace through several syncs and show each change.",
             "amazon-orders demo")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
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
        print(f"amazon-orders: {error.strerror or error}{f': {error.filename}' if error.filename else ''}",
              file=sys.stderr)
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
