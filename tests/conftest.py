"""Fixtures: a sandbox marketplace over HTTP, a temporary warehouse and a real Dagster instance."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock
from sp_api.auth import access_token_client

from pipelines.cli import commands as cli
from pipelines.sandbox import Item, Marketplace, SandboxServer
from pipelines.warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """A test that drives syncs through the sandbox, a warehouse and Dagster runs (the `shop` fixture) is slow,
    as is one marked so: `make test-fast` leaves them out for the edit-test loop."""
    for item in items:
        if "shop" in item.fixturenames:
            item.add_marker(pytest.mark.slow)


SECRET = "lwa-secret-" + "7f3a9c1e5b"
REFRESH_TOKEN = "Atzr|refresh-" + "4d8e2b6f0a"


# The core tables as an analyst reads them. source_ingest_id points into the raw layer, whose ids depend on
# how it was filled (a retried or restarted window lands the same versions under other ids): it is left out.
# So is the shipped_at of an order marked shipped here: the clerk's moment, which two warehouses never share.
CORE_TABLES = {
    "orders": "select * exclude (source_ingest_id) replace (if(order_id in (select order_id from shipments), null, "
    "shipped_at) as shipped_at) from orders order by all",
    "order_lines": "select * from order_lines order by all",
    "accounts": "select * from accounts order by all",
    "contacts": "select * from contacts order by all",
    "products": "select * from products order by all",
    "inventory": "select product_code, location, channel, on_hand, reserved_quantity from inventory order by all",
}


def core_tables(con) -> dict[str, list[tuple]]:
    return {table: con.execute(query).fetchall() for table, query in CORE_TABLES.items()}


def warehouse_tables(db) -> dict[str, list[tuple]]:
    con = connect(db, read_only=True)
    try:
        return core_tables(con)
    finally:
        con.close()


@pytest.fixture(autouse=True)
def environment(tmp_path, monkeypatch):
    """Credentials as a seller sets them, and a Dagster instance configured by the project's dagster.yaml."""
    return seller_environment(tmp_path, monkeypatch)


def seller_environment(folder: Path, monkeypatch) -> Path:
    """Set the variables a seller sets and a fresh DAGSTER_HOME under `folder`; return that home."""
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LWA_APP_ID", "amzn1.application-oa2-client.test")
    monkeypatch.setenv("LWA_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("SP_API_REFRESH_TOKEN", REFRESH_TOKEN)
    monkeypatch.delenv("SP_API_DEFAULT_MARKETPLACE", raising=False)
    monkeypatch.delenv("AMAZON_ORDERS_DB", raising=False)
    monkeypatch.delenv("AMAZON_ORDERS_CLOCK_URL", raising=False)
    # python-amazon-sp-api caches access tokens process-wide by token URL: a later test's sandbox
    # may get an earlier one's port
    access_token_client.cache.clear()
    return home


@pytest.fixture(scope="session")
def demo_made(tmp_path_factory, worker_id) -> tuple[Path, str]:
    """`amazon-orders demo` run once for the whole session, as `make demo` runs it (the console script, no seller
    credentials, a fresh DAGSTER_HOME): its warehouse and what it printed. The first xdist worker to ask runs it
    while the others wait (pytest-xdist's recipe); a test copies the warehouse before writing to it."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    folder = shared / "demo_made"
    with FileLock(str(shared / "demo_made.lock")):
        if not (folder / "output.txt").exists():
            folder.mkdir(exist_ok=True)
            home = folder / "dagster_home"
            home.mkdir(exist_ok=True)
            shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
            done = subprocess.run(
                [AMAZON_ORDERS, "--db", str(folder / "demo.duckdb"), "demo"],
                env=demo_environment(home),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            (folder / "output.txt").write_text(done.stdout)
    return folder / "demo.duckdb", (folder / "output.txt").read_text()


def demo_environment(home: Path) -> dict[str, str]:
    """The environment of a person trying the demo: no seller credentials or settings, the stdout a pipe's
    (buffered: the demo must flush what it printed before it leaves), and `home` as DAGSTER_HOME."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LWA_", "SP_API_", "AMAZON_ORDERS_", "AWS_")) and name != "PYTHONUNBUFFERED"
    }
    return kept | {"DAGSTER_HOME": str(home)}


@pytest.fixture
def marketplace():
    return Marketplace(seed=7)


def live_in_sandbox_time(monkeypatch, server) -> None:
    """The product (subprocesses too) reads the time from the sandbox's simulated marketplace."""
    monkeypatch.setenv("AMAZON_ORDERS_CLOCK_URL", server.url + "/_sandbox/clock")


@pytest.fixture
def sandbox(marketplace, monkeypatch):
    # a fast usage plan so paging tests do not wait on Amazon's real 0.0056 requests/s
    with SandboxServer(marketplace, speedup=5000) as server:
        live_in_sandbox_time(monkeypatch, server)
        yield server


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "warehouse.duckdb")


class Warehouse:
    """Read-only queries on a warehouse file, each on its own connection (as an analyst's)."""

    def __init__(self, db):
        self.db = db

    def query(self, sql: str, params=None) -> list[tuple]:
        con = connect(self.db, read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def one(self, sql: str, params=None):
        rows = self.query(sql, params)
        assert len(rows) == 1, rows
        return rows[0][0] if len(rows[0]) == 1 else rows[0]


class Shop(Warehouse):
    """The product under test, driven through its CLI, and the marketplace it is connected to."""

    def __init__(self, db, marketplace, sandbox, capsys):
        super().__init__(db)
        self.marketplace, self.sandbox, self.capsys = marketplace, sandbox, capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main(["--db", self.db, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, f"{args} failed: {err}{out}"
        return out

    def add_channel(self, name="Amazon US", start=None, marketplaces=("ATVPDKIKX0DER",)):
        return self.ok(*channel_add(self.sandbox, name, start or self.marketplace.now, marketplaces))

    def subscribe(self, sqs) -> str:
        """Send the channel's ORDER_CHANGE notifications to the `sqs` fixture's queue."""
        return self.ok(*channel_notifications(self.sandbox, sqs))

    def sync(self, *args: str) -> str:
        # Amazon only serves what is at least two minutes old
        self.marketplace.advance(minutes=3)
        return self.ok("sync", *args)

    def place(self, *items: Item, **kwargs) -> str:
        self.marketplace.advance(seconds=1)
        return self.marketplace.place_order(list(items), **kwargs)


@pytest.fixture
def shop(db, marketplace, sandbox, capsys):
    shop = Shop(db, marketplace, sandbox, capsys)
    shop.marketplace.advance(minutes=1)
    return shop


@pytest.fixture
def sqs(monkeypatch):
    """moto's SQS-compatible server on 127.0.0.1, which boto3 reaches through AWS_ENDPOINT_URL_SQS, and a queue."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ENDPOINT_URL_SQS": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("sqs", region_name="us-east-1")
    url = client.create_queue(QueueName="amazon-orders-us", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield {"client": client, "url": url, "arn": arn, "endpoint": f"http://{host}:{port}"}
    server.stop()


# -- helpers several test files share ---------------------------------------------------------------

CORE_SNAPSHOT = {
    "orders": "select * exclude (source_ingest_id) from orders order by order_id",
    "order_lines": "select * from order_lines order by order_id, line_number",
    "accounts": "select account_id, account_name, is_placeholder, is_business from accounts order by account_id",
    "contacts": "select * exclude (source_updated_at) from contacts order by contact_id",
    "products": "select * from products order by product_id",
    "ledger": "select order_id, product_code, reason, sum(quantity_delta) from inventory_movements group by all having sum(quantity_delta) <> 0 order by all",
    "inventory": "select * from inventory where on_hand <> 0 order by all",
    "quarantine": "select ingest_id, reason from quarantine order by all",
}


def snapshot(shop) -> dict:
    return {name: shop.query(sql) for name, sql in CORE_SNAPSHOT.items()}


def catalog(tmp_path, *rows: str) -> str:
    path = tmp_path / "catalog.csv"
    path.write_text("product_code,product_name,list_price,on_hand\n" + "\n".join(rows) + "\n")
    return str(path)


def on_hand(shop, sku: str) -> int:
    rows = shop.query("select on_hand from inventory where product_code = ? and location = 'warehouse'", [sku])
    return rows[0][0] if rows else 0


def refused(capsys, *args) -> str:
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert code == 1, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amazon-orders: ") and "Traceback" not in err, err
    return lines[0]


def dagster_runs(db) -> int:
    """The runs in the warehouse's own Dagster instance (#28)."""
    from pipelines.orchestration.instance import get_instance

    return len(get_instance(db).get_runs())


AMAZON_ORDERS = str(ROOT / ".venv" / "bin" / "amazon-orders")


CHANNEL = "Amazon US"


MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2")


def cli_ok(db, *args):
    assert cli.main(["--db", str(db), *args]) == 0, args


def cli_add_channel(db, server, start, marketplaces=MARKETPLACES):
    cli_ok(db, *channel_add(server, CHANNEL, start, marketplaces))


def channel_add(server, name=CHANNEL, start=None, marketplaces=("ATVPDKIKX0DER",)) -> list[str]:
    """The `channel add` arguments of a channel reaching `server`: a sandbox, the base URL of one, or None for
    Amazon's own endpoints."""
    args = ["channel", "add", name]
    if isinstance(server, str):
        args += ["--endpoint", server, "--token-url", server + "/auth/o2/token"]
    elif server is not None:
        args += ["--endpoint", server.url, "--token-url", server.token_url]
    if start is not None:
        args += ["--start", start if isinstance(start, str) else start.isoformat()]
    for marketplace_id in marketplaces:
        args += ["--marketplace", marketplace_id]
    return args


def channel_notifications(server, sqs, name=CHANNEL) -> list[str]:
    """The `channel notifications` arguments sending the channel's notifications to the `sqs` fixture's queue."""
    return [
        *("channel", "notifications", name, "--queue-arn", sqs["arn"], "--queue-url", sqs["url"]),
        *("--seller-id", server.notifications.seller_id),
    ]


@pytest.fixture
def paced(marketplace, monkeypatch):
    """A sandbox whose searchOrders allows a burst of 2, then about 3 requests a second."""
    with SandboxServer(marketplace, speedup=500, search_burst=2) as server:
        live_in_sandbox_time(monkeypatch, server)
        yield server


def sandbox_client(server, api, marketplace_id: str = "ATVPDKIKX0DER"):
    """python-amazon-sp-api's `api` client (OrdersV20260101, ListingsItemsV20210801, ...) talking to `server`,
    its access tokens from the sandbox's token URL."""
    import types

    from sp_api.auth import AccessTokenClient

    class SandboxTokenClient(AccessTokenClient):
        scheme = "http://"
        host = server.url.removeprefix("http://")
        path = "/auth/o2/token"

    return api(
        marketplace=types.SimpleNamespace(endpoint=server.url, marketplace_id=marketplace_id, region="us-east-1"),
        credentials=dict(lwa_app_id="x", lwa_client_secret="y", refresh_token="z"),
        auth_token_client_class=SandboxTokenClient,
    )


def simulate_orders(marketplace, hours: float, per_hour: float, skus, marketplaces=MARKETPLACES, **rates) -> None:
    """Seeded activity: orders placed, confirmed, shipped, cancelled whole or in part, a fifth of them gifts."""
    marketplace.simulate(
        hours=hours,
        orders_per_hour=per_hour,
        skus=skus,
        marketplaces=marketplaces,
        **{"gift_rate": 0.2, "cancel_rate": 0.1, "item_cancel_rate": 0.1, **rates},
    )


def pending_and_confirmed(shop, tmp_path, pending: int, confirmed: int) -> tuple[str, str]:
    """A channel selling MUG-01 (10 on hand) and two orders for it, synced: one for `pending` mugs that Amazon
    leaves Pending, and one for `confirmed` mugs that it has confirmed."""
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10"))
    orders = shop.place(Item("MUG-01", pending, "12.50")), shop.place(Item("MUG-01", confirmed, "12.50"))
    shop.marketplace.confirm(orders[1])
    shop.sync()
    return orders
