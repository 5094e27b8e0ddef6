"""Malformed and hostile orders: each is imported as Amazon's model allows or quarantined with its reason,
the raw payload is always kept, and the rest of the page is imported.

The corpus lives in tests/payloads/: `_base.json` is a valid confirmed order (two items, one gift-wrapped);
every `NN_name.json` describes one case as edits of it (`set` / `delete` by dotted path, list indexes as
numbers) or as a whole `order` that replaces it, and what must happen: `expect` "imported" or "quarantined"
(with `reason`, a substring of the quarantine reason). `kept_as` edits what the raw layer can hold of it;
`twice` serves the order twice in the page (`second`: edits of the second copy); `lands_in` names
table.column values that must hold what `set` wrote, verbatim; `note` explains a case.

One sync (through the CLI and Dagster, as a seller runs it) imports the whole corpus plus good orders in one
page; the per-case tests read the result. A second sync (whose overlap re-reads every case) and a rebuild
must change nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import channel_add, live_in_sandbox_time, seller_environment

from pipelines.cli import commands as cli
from pipelines.sandbox import Item, Marketplace, SandboxServer
from pipelines.warehouse.connection import connect

PAYLOADS = Path(__file__).parents[1] / "payloads"
BASE = json.loads((PAYLOADS / "_base.json").read_text())
CASE_FILES = sorted(PAYLOADS.glob("[0-9]*.json"))
CHANNEL = "Amazon US"
START = datetime(2026, 1, 1, tzinfo=UTC)
CORE = ("orders", "order_lines", "accounts", "contacts", "products")


def _split(path: str) -> list:
    return [int(part) if part.isdigit() else part for part in path.split(".")]


def _set(doc, path: str, value) -> None:
    *parents, last = _split(path)
    for key in parents:
        doc = doc[key]
    doc[last] = value


def _delete(doc, path: str) -> None:
    *parents, last = _split(path)
    for key in parents:
        doc = doc[key]
    del doc[last]


def _edited(order, edits: dict):
    order = copy.deepcopy(order)
    for path, value in edits.items():
        _set(order, path, value)
    return order


def build(index: int, spec: dict) -> list:
    """The order(s) a case puts on the marketplace, in the order they are served."""
    if "order" in spec:
        return [copy.deepcopy(spec["order"])]
    order = copy.deepcopy(BASE)
    # a distinct id per case (cases about the id set or delete it themselves)
    order["orderId"] = f"902-{index:07d}-{index:07d}"
    # distinct item ids, so two cases never share an orderItemId
    for n, item in enumerate(order["orderItems"]):
        item["orderItemId"] = f"{index:07d}{n:07d}"
    # and a buyer of its own (a buyer's contact holds the name of their newest order)
    order["buyer"]["buyerEmail"] = f"case{index:02d}@marketplace.amazon.com"
    for path in spec.get("delete", []):
        _delete(order, path)
    order = _edited(order, spec.get("set", {}))
    if spec.get("twice"):
        return [order, _edited(order, spec.get("second", {}))]
    return [order]


def payload_hash(order) -> str:
    """What the extractor records as payload_hash for an order it lands unchanged."""
    text = json.dumps(order, sort_keys=True, ensure_ascii=False)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


CASES = []
for number, path in enumerate(CASE_FILES, 1):
    spec = json.loads(path.read_text())
    CASES.append(pytest.param(path.stem, spec, build(number, spec), id=path.stem))


def test_corpus_is_large_enough():
    kinds = {json.loads(p.read_text())["kind"] for p in CASE_FILES}
    assert len(kinds) >= 30
    assert {"quarantined", "imported"} == {json.loads(p.read_text())["expect"] for p in CASE_FILES}


class Result:
    """The warehouse after one sync of the corpus plus good orders (and a second, idempotent sync)."""

    def __init__(self, db, good_ids, first, second, rebuilt, codes):
        self.db, self.good_ids, self.first, self.second, self.rebuilt, self.codes = (
            db,
            good_ids,
            first,
            second,
            rebuilt,
            codes,
        )

    def query(self, sql, params=None):
        con = connect(self.db, read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def _snapshot(db) -> dict:
    con = connect(db, read_only=True)
    try:
        tables = {t: con.execute(f"select * from {t} order by all").fetchall() for t in CORE}
        tables["inventory"] = con.execute(
            "select product_code, location, on_hand from inventory order by all"
        ).fetchall()
        tables["quarantine"] = con.execute(
            "select ingest_id, channel, amazon_order_id, reason from quarantine order by all"
        ).fetchall()
        tables["raw"] = con.execute("select count(*) from raw_amazon_orders").fetchall()
        return tables
    finally:
        con.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_payloads")
    db = str(tmp / "warehouse.duckdb")
    market = Marketplace(seed=11, start=START)
    with pytest.MonkeyPatch.context() as env, SandboxServer(market, speedup=5000) as server:
        seller_environment(tmp, env)  # module-scoped, so not the per-test autouse fixture
        live_in_sandbox_time(env, server)

        def run(*args):
            return cli.main(["--db", db, *args])

        codes = [run(*channel_add(server, CHANNEL, START))]
        market.advance(minutes=1)
        good_ids = []
        for n in range(3):  # good orders before the bad ones...
            market.advance(seconds=1)
            good_ids.append(market.place_order([Item(f"GOOD-{n}", quantity=n + 1)], status="UNSHIPPED"))
        market.advance(minutes=3)  # BASE's times are 00:05:00Z
        for case in CASES:
            for position, order in enumerate(case.values[2]):
                market.put_raw(order, replace=position == 0)
        market.advance(seconds=1)
        for n in range(3):  # ...and after them, in the same page
            market.advance(seconds=1)
            good_ids.append(market.place_order([Item(f"GOOD-{n}", quantity=1)], status="SHIPPED"))
        market.advance(minutes=10)  # every case (the latest is stamped 00:05:30Z) in the first window
        codes.append(run("sync"))
        first = _snapshot(db)
        market.advance(minutes=3)
        codes.append(run("sync"))  # the overlap re-reads every bad order
        second = _snapshot(db)
        codes.append(run("rebuild"))
        rebuilt = _snapshot(db)
        yield Result(db, good_ids, first, second, rebuilt, codes)


def test_no_sync_crashes_and_good_orders_are_imported(corpus):
    assert corpus.codes == [0, 0, 0, 0]
    found = {r[0] for r in corpus.query("select channel_order_id from orders")}
    assert set(corpus.good_ids) <= found
    assert corpus.query(
        "select count(*) from raw_amazon_orders where amazon_order_id in (select unnest(?))", [corpus.good_ids]
    ) == [(len(corpus.good_ids),)]


def test_a_second_sync_and_a_rebuild_change_nothing(corpus):
    """Re-reading the same bad payloads neither stores them again nor quarantines them twice."""
    assert corpus.second == corpus.first
    rebuilt = dict(corpus.rebuilt, quarantine=[row[1:] for row in corpus.rebuilt["quarantine"]])
    first = dict(corpus.first, quarantine=[row[1:] for row in corpus.first["quarantine"]])
    assert rebuilt == first


def _raw_rows(corpus, order) -> list[tuple]:
    """(ingest_id, payload) of the raw versions of a case's order."""
    if isinstance(order, dict) and isinstance(order.get("orderId"), str):
        return corpus.query(
            "select ingest_id, payload from raw_amazon_orders where amazon_order_id = ? order by ingest_id",
            [order["orderId"]],
        )
    return corpus.query(
        "select ingest_id, payload from raw_amazon_orders where payload_hash = ?", [payload_hash(order)]
    )


def _same(stored, sent) -> bool:
    """Equal as JSON values, NaN equal to NaN."""
    if isinstance(sent, float) and math.isnan(sent):
        return isinstance(stored, float) and math.isnan(stored)
    if isinstance(sent, dict):
        return (
            isinstance(stored, dict) and stored.keys() == sent.keys() and all(_same(stored[k], sent[k]) for k in sent)
        )
    if isinstance(sent, list):
        return isinstance(stored, list) and len(stored) == len(sent) and all(map(_same, stored, sent))
    return stored == sent and type(stored) is type(sent)


@pytest.mark.parametrize(("name", "spec", "orders"), CASES)
def test_bad_payload(corpus, name, spec, orders):
    order = orders[-1]
    raws = _raw_rows(corpus, order)
    # the raw payload is always kept, as sent
    assert raws, f"{name}: no raw version was kept"
    kept = [json.loads(payload) for _, payload in raws]
    for sent in orders:
        sent = _edited(sent, spec.get("kept_as", {}))  # what the raw layer can hold of it
        assert any(_same(stored, sent) for stored in kept), f"{name}: the raw payload differs from what Amazon sent"
    ingest_ids = [ingest_id for ingest_id, _ in raws]
    reasons = [
        r[0]
        for r in corpus.query(
            "select reason from quarantine where ingest_id in (select unnest(?)) order by all", [ingest_ids]
        )
    ]
    order_id = order.get("orderId") if isinstance(order, dict) else None
    imported = (
        corpus.query("select order_id from orders where channel = ? and channel_order_id = ?", [CHANNEL, order_id])
        if isinstance(order_id, str)
        else []
    )

    if spec["expect"] == "quarantined":
        assert reasons, f"{name}: not quarantined"
        assert any(spec["reason"] in reason for reason in reasons), reasons
        assert not imported, f"{name}: quarantined yet imported"
        if isinstance(order_id, str):
            assert corpus.query(
                "select channel, amazon_order_id from quarantine where ingest_id in (select unnest(?))", [ingest_ids]
            )[0] == (CHANNEL, order_id)
        return

    assert not reasons, f"{name}: quarantined: {reasons}"
    assert len(imported) == 1, f"{name}: not imported exactly once"
    ((sales_order_id,),) = imported
    lines = corpus.query(
        "select line_type, quantity from order_lines where order_id = ? order by line_number", [sales_order_id]
    )
    items = order["orderItems"]
    assert [q for t, q in lines if t == "product"] == [int(i["quantityOrdered"]) for i in items]
    if len(orders) == 2:  # the same order twice in a page: each distinct version kept once, the newest current
        assert len(raws) == len({payload_hash(o) for o in orders})
        assert order["lastUpdatedTime"] >= orders[0]["lastUpdatedTime"]
    for target in spec.get("lands_in", []):
        table, column = target.split(".")
        values = {
            "order_lines": f"select {column} from order_lines where order_id = ?",
            "contacts": f"select {column} from contacts where contact_id = "
            "(select contact_id from orders where order_id = ?)",
            "accounts": f"select {column} from accounts where account_id = "
            "(select account_id from orders where order_id = ?)",
        }[table]
        stored = [v for (v,) in corpus.query(values, [sales_order_id]) if v is not None]
        written = [v for path, v in spec["set"].items() if path.split(".")[-1] in LANDS_FROM[column]]
        assert written, f"{name}: nothing in `set` lands in {target}"
        for sent in written:
            assert any(sent in value for value in stored), f"{name}: {target} does not hold {sent[:60]!r}"


# which order field a table column takes its text from
LANDS_FROM = {
    "notes": ("giftMessage",),
    "full_name": ("buyerName",),
    "account_name": ("buyerName", "buyerCompanyName"),
    "description": ("title",),
    "product_code": ("sellerSku",),
}


def test_an_empty_page(tmp_path, capsys, monkeypatch):
    """A sync that finds nothing: one empty page, the watermark moves on, nothing else changes."""
    db = str(tmp_path / "empty.duckdb")
    market = Marketplace(seed=3, start=START)
    with SandboxServer(market, speedup=5000) as server:
        live_in_sandbox_time(monkeypatch, server)
        assert cli.main(["--db", db, *channel_add(server, CHANNEL, START)]) == 0
        market.advance(minutes=10)
        capsys.readouterr()
        assert cli.main(["--db", db, "sync"]) == 0
        out = capsys.readouterr().out
        assert "1 page(s), 0 orders fetched" in out
        pages = [r for r in server.requests if r["path"].startswith("/orders/")]
    assert len(pages) == 1 and pages[0]["status"] == 200
    con = connect(db, read_only=True)
    try:
        assert con.execute("select count(*) from raw_amazon_orders").fetchone() == (0,)
        assert con.execute("select count(*) from orders").fetchone() == (0,)
        # ten minutes after the start, less Amazon's two and a half-minute margin for a server clock behind ours
        assert con.execute("select watermark from channel_sync_state").fetchone() == (datetime(2026, 1, 1, 0, 7, 30),)
    finally:
        con.close()
