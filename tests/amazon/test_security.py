"""Security: the seller's LWA client secret and refresh token never reach a log line, the Dagster storage, the
warehouse or an error message; the warehouse is readable by its owner only; `sql` is read-only; names with
quotes or SQL in them are stored as data."""

from __future__ import annotations

import base64
import logging
import shutil
import stat
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from conftest import REFRESH_TOKEN, SECRET, live_in_sandbox_time
from sp_api.auth import access_token_client

from pipelines.amazon import calls, limits
from pipelines.cli import commands as cli
from pipelines.ingest.orders import SyncError, held, sync_channel
from pipelines.sandbox import Item, Marketplace, SandboxServer
from pipelines.warehouse.channels import add_channel
from pipelines.warehouse.connection import connect, open_for_writing
from pipelines.warehouse.transform import transform


def secret_forms() -> dict[str, bytes]:
    """Each secret as it could be written down: raw, URL- or form-encoded, JSON-escaped, base64 (any alignment)."""
    forms = {}
    for name, value in (("client secret", SECRET), ("refresh token", REFRESH_TOKEN)):
        for how, text in (
            ("raw", value),
            ("url", quote(value, safe="")),
            ("form", quote_plus(value)),
            ("json", value.replace("|", "\\u007c")),
        ):
            forms[f"{name} ({how})"] = text.encode()
        for shift in range(3):  # base64 of any text containing the secret contains one of these
            encoded = base64.b64encode(b"\0" * shift + value.encode())[4:-4]
            forms[f"{name} (base64/{shift})"] = encoded
    return forms


FORMS = secret_forms()


def leaks(data: bytes | str) -> list[str]:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return [name for name, form in FORMS.items() if form in data]


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture
def everything_logged(caplog):
    """Python logging at DEBUG, the SP-API client's loggers (which pin themselves to INFO) included."""
    caplog.set_level(logging.DEBUG)
    pinned = [name for name in logging.root.manager.loggerDict if name.startswith(("sp_api", "httpx", "httpcore"))]
    for name in pinned:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_secrets_appear_nowhere(shop, everything_logged, monkeypatch, environment):
    said = []

    def run(*args):
        code, out, err = shop.run(*args)
        said.extend([out, err])
        return code, out, err

    shop.add_channel()
    for n in range(5):
        shop.place(Item(f"SKU-{n}", quantity=n + 1, gift_message="Happy birthday!"))
    shop.marketplace.advance(minutes=3)
    assert run("sync")[0] == 0

    # a failed sync: the API keeps failing
    monkeypatch.setattr(calls, "MAX_ATTEMPTS", 1)
    shop.place(Item("SKU-9"))
    shop.marketplace.advance(minutes=3)
    shop.sandbox.inject("500")
    assert run("sync")[0] == 1
    # a failed sync: LWA refuses the refresh token (the cached access token dropped first)
    access_token_client.cache.clear()
    shop.sandbox.inject("token_invalid_grant")
    code, out, err = run("sync")
    assert code == 1 and "invalid_grant" in err
    # a failed sync: the LWA endpoint fails
    access_token_client.cache.clear()
    shop.sandbox.inject("token_500")
    assert run("sync")[0] == 1
    shop.marketplace.advance(minutes=3)  # a sync with something to fetch: it is recorded, and status is healthy
    assert run("sync")[0] == 0
    live_in_sandbox_time(monkeypatch, shop.sandbox)  # status judges the lag by the marketplace's clock
    code, out, err = run("status")
    assert code == 0, err
    assert run("channel", "list")[0] == 0

    # every line printed, every log record, every error message
    assert not leaks("".join(said))
    for record in everything_logged.records:
        assert not leaks(record.getMessage()), record.getMessage()
        assert not leaks(str(record.args)), record.getMessage()
    errors = [e for (e,) in shop.query("select error from sync_runs where error is not null")]
    assert len(errors) == 3
    assert not leaks("\n".join(errors))

    # the Dagster storage: every file under DAGSTER_HOME
    files = [p for p in Path(environment).rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    for path in files:
        assert not leaks(path.read_bytes()), path

    # the warehouse file, its WAL and lock, byte for byte
    db = Path(shop.db)
    for path in db.parent.glob(db.name + "*"):
        assert not leaks(path.read_bytes()), path

    # and the failure itself when called directly
    con = connect(shop.db)
    try:
        channel = add_channel(
            con,
            "Direct",
            ["ATVPDKIKX0DER"],
            start=shop.marketplace.now,
            endpoint=shop.sandbox.url,
            token_url=shop.sandbox.token_url,
        )
        shop.marketplace.advance(minutes=3)  # something to fetch: a request is made
        access_token_client.cache.clear()
        shop.sandbox.inject("token_invalid_grant")
        with pytest.raises(SyncError) as failure:
            sync_channel(held(con), channel, run_id="direct", now=shop.marketplace.naive_now, sleep=lambda s: None)
        assert not leaks(str(failure.value)) and not leaks(repr(failure.value))
        assert failure.value.__cause__ is None
    finally:
        con.close()


def test_the_warehouse_is_readable_by_its_owner_only(shop):
    shop.add_channel()
    db = Path(shop.db)
    assert owner_only(db)
    shop.place(Item("MUG-01"))
    shop.sync()
    for path in db.parent.glob(db.name + "*"):  # the warehouse, its WAL and its lock file
        assert owner_only(path), f"{path.name}: {oct(path.stat().st_mode)}"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_the_wal_of_a_large_sync_is_readable_by_its_owner_only(tmp_path, marketplace, sandbox, monkeypatch):
    db = tmp_path / "warehouse.duckdb"
    with open_for_writing(db) as con:
        # what a sync of a few thousand orders does: DuckDB checkpoints once the WAL passes 16 MB
        con.execute("set wal_autocheckpoint = '100KB'")
        channel = add_channel(
            con,
            "Amazon US",
            ["ATVPDKIKX0DER"],
            start=marketplace.now,
            endpoint=sandbox.url,
            token_url=sandbox.token_url,
        )
        marketplace.simulate(hours=4, orders_per_hour=30, skus=["A", "B", "C"], marketplaces=("ATVPDKIKX0DER",))
        marketplace.advance(minutes=3)
        wal = db.with_name(db.name + ".wal")
        seen = []

        def look(_message=None):
            if wal.exists():
                seen.append(stat.S_IMODE(wal.stat().st_mode))

        monkeypatch.setattr(limits, "SEARCH_ORDERS_PAGE_SIZE", 10)
        sync_channel(held(con), channel, run_id="large", now=marketplace.naive_now, sleep=lambda s: None, on_event=look)
        transform(con)
        look()
        assert seen, "no WAL was seen during the sync"
        assert all(mode & 0o077 == 0 for mode in seen), [oct(mode) for mode in seen]


REFUSED = [
    "delete from orders",
    "insert into orders (order_id) values ('SO-x')",
    "update orders set status = 'Shipped'",
    "drop table orders",
    "create table stolen as select * from contacts",
    "copy orders to '{tmp}/orders.csv'",
    "copy (select * from contacts) to '{tmp}/contacts.csv'",
    "export database '{tmp}/export'",
    "attach '{tmp}/other.duckdb' as other",
    "detach other",
    "select 1; delete from orders",
    "select count(*) from orders; drop table orders",
    "install httpfs",
    "load httpfs",
    "set enable_external_access = true",
    "pragma enable_profiling",
    "call pragma_version()",
    "checkpoint",
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/hostname')",
    "select * from '{tmp}/outside.csv'",
    "select * from glob('/*')",
    "select * from read_blob('{tmp}/outside.csv')",
    "select getenv('LWA_CLIENT_SECRET')",
]


@pytest.fixture(scope="module")
def synced_warehouse(tmp_path_factory):
    """A warehouse with a few orders, synced once for the module (the `sql` tests each read a copy)."""
    db = tmp_path_factory.mktemp("sql") / "warehouse.duckdb"
    market = Marketplace(seed=5)
    with pytest.MonkeyPatch.context() as env, SandboxServer(market, speedup=5000) as server:
        env.setenv("LWA_APP_ID", "amzn1.application-oa2-client.test")
        env.setenv("LWA_CLIENT_SECRET", SECRET)
        env.setenv("SP_API_REFRESH_TOKEN", REFRESH_TOKEN)
        con = connect(db)
        try:
            channel = add_channel(
                con, "Amazon US", ["ATVPDKIKX0DER"], start=market.now, endpoint=server.url, token_url=server.token_url
            )
            market.simulate(hours=1, orders_per_hour=10, skus=["MUG-01", "TEE-02"], marketplaces=("ATVPDKIKX0DER",))
            market.advance(minutes=3)
            sync_channel(held(con), channel, run_id="sql", now=market.naive_now, sleep=lambda s: None)
            transform(con)
        finally:
            con.close()
    return db


@pytest.mark.parametrize("query", REFUSED)
def test_sql_refuses_anything_but_reading_the_warehouse(synced_warehouse, tmp_path, capsys, query):
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(synced_warehouse, db)
    (tmp_path / "outside.csv").write_text("secret\nfile\n")
    with connect(db, read_only=True) as con:
        before = con.execute("select * from orders order by all").fetchall()
    assert before
    capsys.readouterr()
    code = cli.main(["--db", str(db), "sql", query.format(tmp=tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1, out
    assert err.startswith("amazon-orders: query ") and len(err.strip().splitlines()) == 1, err
    assert "file" not in out and "root" not in out and not leaks(out + err)
    with connect(db, read_only=True) as con:
        assert con.execute("select * from orders order by all").fetchall() == before
    assert not (tmp_path / "orders.csv").exists() and not (tmp_path / "contacts.csv").exists()
    assert not (tmp_path / "export").exists() and not (tmp_path / "other.duckdb").exists()


def test_sql_still_reads(synced_warehouse, capsys):
    capsys.readouterr()
    assert (
        cli.main(["--db", str(synced_warehouse), "sql", "with o as (select * from orders) select count(*) as n from o"])
        == 0
    )
    with connect(synced_warehouse, read_only=True) as con:
        count = con.execute("select count(*) from orders").fetchone()[0]
    assert str(count) in capsys.readouterr().out


HOSTILE_NAMES = [
    "x'); drop table orders; --",
    'Robert"; DELETE FROM channels; --',
    "O'Brien's \"Shop\" \\ 100%_",
    "<script>alert(1)</script> & Co",
    "Ünïcödé 🛒 ショップ",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_channel_names_are_data(shop, name):
    shop.add_channel(name)
    code, out, err = shop.run("channel", "list")
    assert code == 0 and out.splitlines()[0].split("\t")[0] == name
    assert shop.one("select count(*) from channels where channel = ?", [name]) == 1
    shop.place(Item("MUG-01"))
    shop.sync()  # the name is also a Dagster partition key and part of every order id
    assert shop.one("select channel from orders") == name
    assert {r[0] for r in shop.query("select table_name from information_schema.tables")} >= {
        "orders",
        "channels",
        "order_lines",
        "products",
    }


def test_catalog_fields_are_data(shop, tmp_path):
    shop.add_channel()
    code = "MUG'); drop table orders; --"
    name = "Mug \"Deluxe\"; DELETE FROM products WHERE '1'='1"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "product_code,product_name,list_price,on_hand\n"
        f'"{code}","{name.replace(chr(34), chr(34) * 2)}",12.50,4\n'
        "PLAIN-1,Plain,1.00,1\n"
    )
    shop.ok("products", "import", str(catalog))
    shop.place(Item(code, quantity=1))
    shop.sync()
    assert shop.query("select product_code, product_name, is_placeholder from products order by product_code") == [
        (code, name, False),
        ("PLAIN-1", "Plain", False),
    ]
    assert shop.one("select on_hand from inventory where product_code = ?", [code]) == 3
    assert shop.one("select count(*) from orders") == 1
    code_, out, err = shop.run("sql", "select product_code from products where product_name like 'Mug%'")
    assert code_ == 0 and "drop table orders" in out
