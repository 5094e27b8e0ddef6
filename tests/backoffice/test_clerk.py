"""The clerk's daily questions and the CLI's manners: one order on one screen, queries for a spreadsheet,
channels removed, catalogs refused with their line, every option explained, output piped into `head`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import catalog, dagster_runs, refused

from pipelines.cli.commands import build_parser
from pipelines.orchestration.instance import get_instance
from pipelines.sandbox import Buyer, Item

SCRIPT = Path(sys.executable).parent / "amazon-orders"


@pytest.fixture
def returned_order(shop, tmp_path):
    """A paid order with a gift-wrapped line and a placeholder line, shipped, one unit returned."""
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    order = shop.place(
        Item("MUG-01", 2, "12.50", gift_message="For you", gift_wrap_charge="2.00"),
        Item("LAMP-99", 1, "45.00", title="Desk lamp"),
        buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com"),
    )
    shop.marketplace.confirm(order)
    shop.marketplace.ship(order)
    shop.sync()
    shop.ok("return", order, "--sku", "MUG-01", "--quantity", "1", "--reason", "chipped")
    return order


def test_order_show_puts_the_order_its_buyer_lines_stock_and_returns_on_one_screen(shop, returned_order):
    out = shop.ok("order", "show", returned_order)
    header = dict(line.split(None, 1) for line in out.split("\n\n")[0].splitlines() if len(line.split(None, 1)) == 2)
    assert header["channel_order_id"] == returned_order and header["channel"] == "Amazon US"
    assert header["status"] == "Shipped" and header["payment_status"] == "Paid"
    assert header["account_name"] == "Ada Lovelace" and header["email"] == "ada@marketplace.amazon.com"
    assert header["total_amount"] == str(shop.one("select total_amount from orders"))
    sections = {part.splitlines()[0]: part for part in out.split("\n\n")[1:]}
    assert set(sections) == {"Lines", "Stock movements", "Shipments (marked shipped here)", "Returns"}
    assert "Gift message: For you" in sections["Lines"] and "SKU: LAMP-99" in sections["Lines"]
    assert "gift_wrap" in sections["Lines"] and "LAMP-99" in sections["Lines"]
    movements = shop.one(
        "select count(*) from inventory_movements where order_id = ?", [shop.one("select order_id from orders")]
    )
    assert len(sections["Stock movements"].splitlines()) == 3 + movements  # title, header, rule, rows
    assert "RET-000001" in sections["Returns"] and "chipped" in sections["Returns"]
    assert "(none)" in sections["Shipments (marked shipped here)"]  # it shipped on Amazon, not here


def test_order_show_names_an_order_it_cannot_find(shop, returned_order):
    assert "no order with Channel Order ID '111-0000000-0000000'" in refused(
        shop.capsys, "--db", shop.db, "order", "show", "111-0000000-0000000"
    )


def test_ship_on_the_wrong_channel_says_where_the_order_is(shop, returned_order):
    line = refused(shop.capsys, "--db", shop.db, "ship", "--channel", "Amazon EU", returned_order)
    assert line == f"amazon-orders: order {returned_order} is not on channel 'Amazon EU' (it is on 'Amazon US')"


def test_sql_writes_every_row_as_csv_or_json_and_wraps_a_table_at_word_boundaries(shop, returned_order):
    query = "select line_number, line_type, notes from order_lines order by line_number"
    expected = shop.query(query)
    rows = list(csv.reader(io.StringIO(shop.ok("sql", query, "--format", "csv", "--max-rows", "1"))))
    assert rows[0] == ["line_number", "line_type", "notes"]
    assert rows[1:] == [[str(n), kind, notes or ""] for n, kind, notes in expected]  # --max-rows is for tables
    parsed = json.loads(shop.ok("sql", query, "--format", "json"))
    assert parsed == [{"line_number": n, "line_type": kind, "notes": notes} for n, kind, notes in expected]

    longest = "select notes from order_lines order by length(notes) desc limit 1"
    notes = shop.one(longest)
    assert len(notes) > 36
    fragments = [line.strip() for line in shop.ok("sql", longest).splitlines()[2:]]
    assert len(fragments) > 1 and all(len(fragment) <= 36 for fragment in fragments)
    assert " ".join(fragments) == " ".join(notes.split())  # cut between words only
    assert notes in shop.ok("sql", longest, "--wide")


def test_sql_says_when_a_table_holds_back_rows(shop, returned_order):
    out = shop.ok("sql", "select * from range(5)", "--max-rows", "2")
    assert out.splitlines()[-1].startswith("(more than 2 rows")


@pytest.mark.parametrize("command", [["sql", "select * from range(100000)"], ["status"]])
def test_output_piped_into_head_ends_quietly(shop, returned_order, command):
    # `| head -1` closes the pipe early; the command must neither complain nor fail
    pipeline = subprocess.run(
        f"set -o pipefail; {SCRIPT} --db {shop.db} {' '.join(map(repr, command))} | head -1",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert pipeline.returncode == 0, pipeline.stderr
    assert pipeline.stderr == "" and len(pipeline.stdout.splitlines()) == 1


def test_a_removed_channel_keeps_its_orders_and_leaves_its_partition(shop, returned_order):
    before = shop.query("select * from orders")
    out = shop.ok("channel", "remove", "Amazon US")
    assert "no longer synced" in out and "its orders are kept" in out
    assert get_instance(shop.db).get_dynamic_partitions("channels") == []
    assert "Amazon US" not in shop.ok("channel", "list")
    assert shop.query("select * from orders") == before
    shop.ok("rebuild")  # a rebuild keeps what the removed channel brought in
    assert shop.query("select * from orders") == before
    shop.add_channel()  # #28: the name can be used again; the kept orders stay under it
    assert shop.query("select * from orders") == before


def test_a_channel_removed_with_its_orders_leaves_nothing_of_them(shop, returned_order):
    shop.marketplace.advance(minutes=3)
    shop.ok("returns", "import")
    assert shop.one("select count(*) from raw_report_documents") == 2
    shop.ok("channel", "remove", "Amazon US", "--delete-orders")
    for table in (
        "orders",
        "order_lines",
        "raw_amazon_orders",
        "sales_returns",
        "sales_return_lines",
        "contacts",
        "channels",
        "channel_sync_state",
        "returns_sync_state",
        "raw_report_documents",
    ):
        assert shop.one(f"select count(*) from {table}") == 0, table
    assert shop.one("select count(*) from inventory_movements where order_id is not null") == 0
    assert shop.one("select on_hand from inventory where product_code = 'MUG-01' and location = 'warehouse'") == 10
    shop.add_channel()  # the name is free again


def test_removing_a_channel_that_does_not_exist_is_refused(shop, returned_order):
    runs = dagster_runs(shop.db)
    assert "no channel named 'Amazon EU'" in refused(shop.capsys, "--db", shop.db, "channel", "remove", "Amazon EU")
    assert dagster_runs(shop.db) == runs and get_instance(shop.db).get_dynamic_partitions("channels") == ["Amazon US"]


@pytest.mark.parametrize(
    "content, says",
    [
        (b'product_code,product_name,list_price,on_hand\nMUG-01,"Mug,12.50,10\nTEA-02,Tea,3.00,5\n', "line 3"),
        (
            b"product_code,product_name,list_price,on_hand\nMUG-01,Mug,12.50,10\nTEA-02,Tea,3.00\n",
            "line 3: 3 fields, but the header has 4",
        ),
        (b"product_code,product_name,list_price,on_hand\nMUG-01,Mug,12.50,10,extra\n", "line 2: 5 fields"),
        (
            "product_code,product_name,list_price,on_hand\nMUG-01,Tasse \u00e0 caf\u00e9,12.50,10\n".encode("latin-1"),
            "is not UTF-8 text",
        ),
    ],
)
def test_a_catalog_that_is_not_clean_csv_is_refused_whole(shop, tmp_path, content, says):
    path = tmp_path / "catalog.csv"
    path.write_bytes(content)
    shop.add_channel()
    line = refused(shop.capsys, "--db", shop.db, "products", "import", str(path))
    assert says in line and str(path) in line
    assert shop.one("select count(*) from products") == 0


def test_every_option_of_every_command_has_help_text():
    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action.choices, dict):
                for sub in action.choices.values():
                    yield from parsers(sub)

    missing = [
        f"{parser.prog} {action.dest}"
        for parser in parsers(build_parser())
        for action in parser._actions
        if not isinstance(action.choices, dict) and action.dest != "help" and not action.help
    ]
    assert missing == []
