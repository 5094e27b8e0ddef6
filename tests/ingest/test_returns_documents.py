"""Returns reports as Amazon really writes them, through the real client over HTTP and the CLI: real public
documents (tests/corpus/), every date style and column set seen, encodings, returnless refunds, one RMA over
several SKUs, and documents built to hurt (too long a line, a gzip bomb, thousands of rows)."""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT

from pipelines.ingest.returns import FBA_RETURNS, MERCHANT_RETURNS, parse_return_date
from pipelines.sandbox import Buyer, Item, Marketplace

CORPUS = ROOT / "tests" / "corpus"
ADA = Buyer("Ada Lovelace", "ada@marketplace.amazon.com")
US, AE, DE, JP = "ATVPDKIKX0DER", "A2VIGQ35RCS4UG", "A1PA6795UKMFR9", "A1VC38T7YXB528"


def shipped_order(shop, *items: Item, fulfilled_by="MERCHANT", marketplace_id=US, order_id=None) -> str:
    """An order shipped on Amazon and synced; under `order_id` when given (a real document's order)."""
    placed = shop.place(*items, fulfilled_by=fulfilled_by, buyer=ADA, marketplace_id=marketplace_id)
    shop.marketplace.confirm(placed)
    shop.marketplace.advance(hours=1)
    shop.marketplace.ship(placed)
    if order_id:
        order = shop.marketplace.order(placed)
        shop.marketplace._orders.pop(placed)
        shop.marketplace.put_raw({**order, "orderId": order_id})
        placed = order_id
    shop.sync()
    return placed


def import_returns(shop, *args) -> tuple[int, str, str]:
    shop.marketplace.advance(minutes=3)  # a report's window ends two minutes before now
    return shop.run("returns", "import", *args)


def returns(shop) -> list[tuple]:
    return shop.query(
        "select a.report_type, a.return_key, a.channel_order_id, a.seller_sku, a.quantity, "
        "a.returned_at, a.reason, a.disposition, a.amazon_status, r.source, r.status, r.location, "
        "l.quantity, l.is_restocked "
        "from amazon_returns a join sales_returns r using (return_id) join sales_return_lines l "
        "using (return_id) order by all"
    )


# -- real documents ---------------------------------------------------------------------------------------------


@pytest.fixture
def marketplace():
    # the corpus's documents are of June and July 2025
    return Marketplace(seed=7, start=datetime(2025, 6, 1, tzinfo=UTC))


def test_amazons_real_returns_documents_import_as_a_seller_expects(shop):
    shop.add_channel()
    mfn = shipped_order(shop, Item("PANEC-925SS-IT", 2, "10.69"), order_id="113-6277818-6289068")
    fba = shipped_order(shop, Item("LVA1004-UPC", 1, "89.00"), fulfilled_by="AMAZON", order_id="114-2962899-5762619")
    for report_type, document in (
        (MERCHANT_RETURNS, "returns_flat_file/us_2025-07_mfn_returns_one_row.tsv"),
        (FBA_RETURNS, "fba_returns/us_2025-06_fba_returns_one_row.tsv"),
    ):
        shop.sandbox.reports.serve_next(report_type, (CORPUS / document).read_bytes())
    shop.marketplace.advance(days=60)
    code, out, err = import_returns(shop, "--until", "2025-07-20T00:00:00Z")
    assert code == 0, err
    assert returns(shop) == [
        # "14-Jul-2025", a date without a time: the start of that day
        (
            FBA_RETURNS,
            "LPNNC5N165ZVR",
            fba,
            "LVA1004-UPC",
            1,
            datetime(2025, 6, 5, 15, 31, 40),
            "NOT_COMPATIBLE",
            "CUSTOMER_DAMAGED",
            "IMMEDIATE_DONATION",
            "amazon",
            "received",
            "amazon_fba",
            1,
            False,
        ),
        (
            MERCHANT_RETURNS,
            "DfqRyqfBRRMA",
            mfn,
            "PANEC-925SS-IT",
            2,
            datetime(2025, 7, 14),
            "AMZ-PG-WJ-TOO-SMALL",
            None,
            "Approved",
            "amazon",
            "awaiting_receipt",
            "warehouse",
            2,
            False,
        ),
    ]
    assert shop.one("select count(*) from returns_quarantine") == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-05T15:31:40+00:00", datetime(2025, 6, 5, 15, 31, 40)),  # the FBA returns report
        ("2020-11-12T12:44:17Z", datetime(2020, 11, 12, 12, 44, 17)),  # the XML returns report
        ("14-Jul-2025", datetime(2025, 7, 14)),  # the merchant-fulfilled flat file, US
        ("05-JUN-2025", datetime(2025, 6, 5)),  # DD-MON-YYYY, Seller Central's help (Japan)
        ("05-06-2025", datetime(2025, 6, 5)),  # DD-MM-YYYY, Seller Central's help (Australia, Italy, Brazil)
    ],
)
def test_every_date_style_amazon_writes_is_read(value, expected):
    assert parse_return_date(value, "return-date") == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("03/07/2021", "ambiguous"),
        ("31-Feb-2025", "not a date"),
        ("14-Jly-2025", "not a date"),
        ("١٤-07-2025", "not a date"),
        ("yesterday", "not a date in a style Amazon writes"),
    ],
)
def test_a_date_in_no_style_of_amazons_is_refused_with_its_reason(value, problem):
    with pytest.raises(ValueError, match=problem):
        parse_return_date(value, "Return request date")


# -- the sandbox writes Amazon's variants, and the import takes them ---------------------------------------------


def test_amazon_ae_fba_returns_without_a_status_column_import(shop):
    """Amazon.ae's FBA returns report has no `status` column: the import only stores it, so it goes without."""
    shop.add_channel(marketplaces=(AE,))
    order_id = shipped_order(shop, Item("MUG-01", 1, "40.00"), fulfilled_by="AMAZON", marketplace_id=AE)
    key = shop.marketplace.return_item(order_id, "MUG-01", disposition="SELLABLE")
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert (
        shop.one(
            "select header from raw_report_documents where report_type = ? and processing_status = 'DONE'",
            [FBA_RETURNS],
        ).count("status")
        == 0
    )
    assert [(r[1], r[8], r[10], r[13]) for r in returns(shop)] == [(key, None, "received", True)]


def test_a_document_without_a_column_the_import_decides_on_is_refused_naming_it_and_says_so_until_fixed(shop):
    shop.add_channel()
    order_id = shipped_order(shop, Item("MUG-01", 1, "12.00"), fulfilled_by="AMAZON")
    shop.marketplace.return_item(order_id, "MUG-01")
    header = "return-date\torder-id\tsku\tquantity\tlicense-plate-number\n"
    shop.sandbox.reports.serve_next(
        FBA_RETURNS, (header + f"2026-01-01T05:00:00+00:00\t{order_id}\tMUG-01\t1\tLPN1\n").encode()
    )
    code, out, err = import_returns(shop)
    assert code == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("its document lacks the column(s) detailed-disposition; the returns watermark stays")
    )
    assert shop.query("select report_type from returns_sync_state") == [(MERCHANT_RETURNS,)]
    status = shop.ok("status")
    assert "RETURNS THAT KEEP FAILING" in status and "detailed-disposition" in status
    assert latest_check() == (False, 1)
    # the next import asks Amazon again (its document may be whole now) and imports the return
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert len(returns(shop)) == 1 and "RETURNS THAT KEEP FAILING" not in shop.ok("status")
    assert latest_check() == (True, 0)


def latest_check() -> tuple[bool, int]:
    """(passed, how many keep failing) of the returns asset's latest check."""
    from dagster import AssetCheckKey, AssetKey

    from pipelines.orchestration.instance import get_instance

    key = AssetCheckKey(AssetKey("amazon_returns"), "no_return_keeps_failing")
    evaluation = get_instance().event_log_storage.get_asset_check_execution_history(key, limit=1)[0].evaluation
    return evaluation.passed, evaluation.metadata["failing"].value


@pytest.mark.parametrize(
    ("marketplace_id", "title"),
    [
        (DE, "Tasse aus Steinzeug, Größe M – weiß"),  # windows-1252, and the download says "charset=Cp1252"
        (JP, "ステンレス製マグカップ 350ml"),  # windows-31j, and the download says nothing
    ],
)
def test_a_document_in_the_marketplaces_own_encoding_keeps_its_text(shop, marketplace_id, title):
    shop.add_channel(marketplaces=(marketplace_id,))
    order_id = shipped_order(shop, Item("MUG-01", 1, "12.00", title=title), marketplace_id=marketplace_id)
    shop.marketplace.return_item(order_id, "MUG-01")
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert shop.one("select fields ->> 'Item Name' from raw_report_rows") == title
    assert len(returns(shop)) == 1


def test_a_returnless_refund_has_no_rma_id_and_is_imported_once_whatever_its_listings(shop):
    shop.add_channel()
    order_id = shipped_order(shop, Item("MUG-01", 2, "12.00"))
    shop.marketplace.advance(days=1)
    shop.marketplace.return_item(order_id, "MUG-01", returnless=True, relist_after=timedelta(days=2))
    requested = shop.marketplace.naive_now()
    for _ in range(2):
        code, out, err = import_returns(shop)
        assert code == 0, err
        shop.marketplace.advance(days=3)
    # listed when requested and when closed, and the first listing read again by the next import's look back
    assert shop.one("select count(*) from raw_report_rows where fields ->> 'Amazon RMA ID' = ''") == 3
    assert [(r[1], r[10], r[12], r[13]) for r in returns(shop)] == [
        (f"returnless:{requested:%Y-%m-%d}", "returnless_refund", 1, False)
    ]
    # the buyer keeps the item: nothing is awaited, nothing comes back on the shelf
    assert shop.one("select count(*) from inventory_movements where reason = 'return'") == 0


def test_one_rma_over_two_skus_keeps_both_lines_even_when_the_order_comes_after_the_reread_window(shop):
    shop.add_channel()
    order_id = shop.place(Item("MUG-01", 1, "12.00"), Item("TEA-02", 1, "4.00"), buyer=ADA)
    shop.marketplace.confirm(order_id)
    shop.marketplace.ship(order_id)
    rma = shop.marketplace.return_item(order_id, "MUG-01")
    shop.marketplace.return_item(order_id, "TEA-02", key=rma)
    code, out, err = import_returns(shop)  # the order has not been synced: both lines wait, each on its own
    assert code == 1
    assert sorted(shop.query("select row_key from returns_quarantine")) == [
        (f"{rma}|{order_id}|MUG-01",),
        (f"{rma}|{order_id}|TEA-02",),
    ]
    shop.marketplace.advance(days=10)  # well past the 3 days each import reads again
    shop.sync()
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert [(r[1], r[3]) for r in returns(shop)] == [(rma, "MUG-01"), (rma, "TEA-02")]
    assert shop.one("select count(*) from returns_quarantine") == 0


# -- documents built to hurt -------------------------------------------------------------------------------------


def mfn_document(shop, rows: list[list[str]]) -> bytes:
    header = shop.marketplace.returns_report(MERCHANT_RETURNS, [US], shop.marketplace.now, shop.marketplace.now)[0]
    return "".join("\t".join(row) + "\n" for row in [header, *rows]).encode()


def mfn_row(header: list[str], order_id: str, sku: str, rma: str, name: str = "Mug") -> list[str]:
    values = dict.fromkeys(header, "") | {
        "Order ID": order_id,
        "Merchant SKU": sku,
        "Amazon RMA ID": rma,
        "Return quantity": "1",
        "Return request date": "14-Jul-2025",
        "Item Name": name,
    }
    return [values[column] for column in header]


def test_a_line_over_the_bound_is_quarantined_by_its_number_and_the_rest_imports(shop):
    shop.add_channel()
    order_id = shipped_order(shop, Item("MUG-01", 2, "12.00"))
    header = shop.marketplace.returns_report(MERCHANT_RETURNS, [US], shop.marketplace.now, shop.marketplace.now)[0]
    document = mfn_document(
        shop, [mfn_row(header, order_id, "MUG-01", "RMA1", "x" * 200_000), mfn_row(header, order_id, "MUG-01", "RMA2")]
    )
    shop.sandbox.reports.serve_next(MERCHANT_RETURNS, document)
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert shop.one("select return_key from amazon_returns") == "RMA2"
    assert shop.one("select line_number, kind, reason from returns_quarantine") == (
        2,
        "unreadable",
        "line 2: the line is over 131,072 characters; it is not kept",
    )
    assert len(shop.one("select fields from raw_report_rows where line_number = 2")) < 100


def test_a_gzip_bomb_is_refused_in_bounded_memory_kept_for_the_operator_and_not_fetched_again(shop, tmp_path):
    shop.add_channel()
    order_id = shipped_order(shop, Item("MUG-01", 1, "12.00"))
    shop.marketplace.return_item(order_id, "MUG-01")
    header = shop.marketplace.returns_report(MERCHANT_RETURNS, [US], shop.marketplace.now, shop.marketplace.now)[0]
    bomb = gzip.compress(("\t".join(header) + "\n").encode() + b"0" * 120_000_000, compresslevel=9)
    assert len(bomb) < 150_000
    shop.sandbox.reports.serve_next(MERCHANT_RETURNS, bomb, compressed=True)
    shop.marketplace.advance(minutes=3)
    # the whole document would not fit: the import has 400 MB of heap and stack more than it needs to start
    process = subprocess.run(
        [sys.executable, "-m", "pipelines.cli.commands", "--db", shop.db, "returns", "import"],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=300,
        preexec_fn=lambda: _limit_memory(400 * 1024 * 1024),
    )
    assert process.returncode == 1, process.stderr
    line = process.stderr.strip().splitlines()[-1]
    assert "was refused: its document is over" in line and "a gzip bomb?" in line and "watermark stays" in line
    kept = list(Path(shop.db + ".refused-reports").iterdir())
    assert [path.read_bytes() for path in kept] == [bomb]
    asked = len(shop.sandbox.requests)
    code, out, err = import_returns(shop)
    assert code == 1 and "not asked again: raise AMAZON_ORDERS_MAX_REPORT_MB" in err
    assert not [r for r in shop.sandbox.requests[asked:] if r["path"].startswith("/reports")]
    assert "refused" in shop.ok("status") and latest_check()[0] is False
    # kept whole, buyers' comments and all: no longer than buyer details are
    shop.ok("purge-pii", "--days", "0")
    assert not list(Path(shop.db + ".refused-reports").iterdir())


def _limit_memory(extra: int) -> None:
    """Cap the process's heap (RLIMIT_DATA: its private writable mappings) at what Python has now, plus `extra`."""
    with open("/proc/self/status") as status:
        data = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmData:"))
    resource.setrlimit(resource.RLIMIT_DATA, (data + extra, data + extra))


def test_five_thousand_rows_import_once_and_the_next_import_reads_none_of_them_again(shop):
    shop.add_channel()
    skus = [f"SKU-{n}" for n in range(5)]
    orders = [shipped_order_quietly(shop, skus) for _ in range(800)]
    shop.sync()
    header = shop.marketplace.returns_report(MERCHANT_RETURNS, [US], shop.marketplace.now, shop.marketplace.now)[0]
    # 4,000 returns of orders the warehouse holds, 1,000 of orders it does not
    rows = [
        mfn_row(header, order_id, sku, f"RMA{n}")
        for n, (order_id, sku) in enumerate((o, s) for o in orders for s in skus)
    ]
    rows += [mfn_row(header, f"999-0000000-{n:07d}", "SKU-0", f"LOST{n}") for n in range(1000)]
    shop.sandbox.reports.serve_next(MERCHANT_RETURNS, mfn_document(shop, rows))
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert shop.one("select count(*) from amazon_returns") == 4000
    assert shop.one("select count(*), count(distinct tried_at) from returns_quarantine") == (1000, 1)
    tried = shop.one("select max(tried_at) from returns_quarantine")
    shop.marketplace.advance(hours=6)
    code, out, err = import_returns(shop)
    assert code == 0, err
    assert shop.one("select count(*) from amazon_returns") == 4000
    assert shop.one("select max(tried_at) from returns_quarantine") == tried  # nothing changed: not tried again


def shipped_order_quietly(shop, skus: list[str]) -> str:
    order_id = shop.marketplace.place_order([Item(sku, 1, "3.00") for sku in skus], buyer=ADA)
    shop.marketplace.confirm(order_id)
    shop.marketplace.ship(order_id)
    return order_id
