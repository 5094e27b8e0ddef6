"""Bad input is refused before anything is recorded: exit status 1, one line naming what was wrong, nothing
written (no warehouse row, no Dagster run). No test here sends a request off this machine: the hosts that must
be refused are under `.invalid`, and no channel with such a host is ever synced."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, channel_add, dagster_runs, refused

from pipelines.cli import commands as cli
from pipelines.sandbox import Buyer, Item


@pytest.mark.parametrize(
    "args, says",
    [
        (
            [
                "--marketplace",
                "ATVPDKIKX0DER",
                "--endpoint",
                "http://orders.example.invalid:8000",
                "--token-url",
                "http://orders.example.invalid:8000/auth/o2/token",
            ],
            "must use https",
        ),
        (
            [
                "--marketplace",
                "ATVPDKIKX0DER",
                "--endpoint",
                "https://sellingpartnerapi.example.invalid",
                "--token-url",
                "http://lwa.example.invalid/auth/o2/token",
            ],
            "--token-url 'http://lwa.example.invalid",
        ),
        (["--marketplace", "ATVPDKIKX0DER", "--endpoint", "sellingpartnerapi-na.amazon.com"], "is not a URL"),
        (["--marketplace", "NOT-A-MARKETPLACE"], "'NOT-A-MARKETPLACE' is not an Amazon marketplace id"),
        (["--marketplace", ""], "'' is not an Amazon marketplace id"),
        (["--marketplace", "ATVPDKIKX0DER", "--marketplace", "A1F83G8C2ARO7P"], "different regions"),
        (
            ["--marketplace", "ATVPDKIKX0DER", "--start", "2999-01-01T00:00:00Z"],
            "--start 2999-01-01T00:00:00Z is in the future",
        ),
        (
            ["--marketplace", "ATVPDKIKX0DER", "--start", "last tuesday"],
            "--start 'last tuesday' is not an ISO 8601 time",
        ),
    ],
)
def test_a_channel_that_cannot_be_used_as_given_is_refused(capsys, db, args, says):
    line = refused(capsys, "--db", db, "channel", "add", "Amazon US", *args)
    assert says in line
    assert not Path(db).exists() or duckdb.connect(db, read_only=True).execute(
        "select count(*) from channels"
    ).fetchone() == (0,)


@pytest.mark.parametrize("name", ["Amazon\nUS", "Amazon\rUS", "Amazon\x1b[2KUS", "Amazon\u2028US"])
def test_a_channel_name_that_could_forge_a_log_line_is_refused(capsys, db, name):
    line = refused(capsys, "--db", db, "channel", "add", name, "--marketplace", "ATVPDKIKX0DER")
    assert "control character" in line


def test_a_sandbox_on_this_machine_may_use_plain_http(capsys, db):
    assert cli.main(["--db", db, *channel_add("http://127.0.0.1:9", "Sandbox")]) == 0


@pytest.mark.parametrize(
    "until, says",
    [
        ("2999-01-01T00:00:00Z", "is in the future"),
        ("2020-01-01T00:00:00Z", "is before the start of channel"),
        ("notadate", "is not an ISO 8601 time"),
    ],
)
@pytest.mark.parametrize("command", [["sync"], ["returns", "import"]])
def test_an_until_that_cannot_bound_a_window_is_refused_before_any_run(shop, capsys, until, says, command):
    shop.add_channel()
    runs = dagster_runs(shop.db)
    line = refused(capsys, "--db", shop.db, *command, "--until", until)
    assert says in line
    assert dagster_runs(shop.db) == runs and shop.sandbox.requests == []


def test_returns_of_a_channel_that_does_not_exist_are_refused_before_any_run(shop, capsys):
    shop.add_channel()
    runs = dagster_runs(shop.db)
    assert "no channel named 'Amazon EU'" in refused(
        capsys, "--db", shop.db, "returns", "import", "--channel", "Amazon EU"
    )
    assert dagster_runs(shop.db) == runs and shop.sandbox.requests == []


def test_receiving_a_clerks_return_is_refused(shop, capsys):
    shop.add_channel()
    order_id = shop.place(Item("MUG-01", 1, "12.50"), buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com"))
    shop.marketplace.confirm(order_id)
    shop.marketplace.ship(order_id)
    shop.sync()
    return_id = shop.ok("return", order_id, "--sku", "MUG-01", "--quantity", "1").split()[2].rstrip(":")
    before = shop.query("select * from inventory_movements order by all")
    assert f"sales return {return_id} of order {order_id} is not awaiting receipt" in refused(
        capsys, "--db", shop.db, "returns", "receive", return_id
    )
    assert shop.query("select * from inventory_movements order by all") == before


# -- files that are not a warehouse ------------------------------------------------------------------
def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("order_id,status\n1,Shipped\n")


def _sqlite(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.execute("create table notes (body text)")


def _foreign_duckdb(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create table measurements (taken_at timestamp, value double)")
    con.close()


def _truncated(path: Path) -> None:
    from pipelines.warehouse.connection import connect

    connect(path).close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize(
    "make, says",
    [
        (_empty, "is an empty file"),
        (_text, "is not a DuckDB database"),
        (_sqlite, "is a SQLite database"),
        (_foreign_duckdb, "another program's DuckDB database"),
        (_truncated, "is truncated"),
    ],
)
@pytest.mark.parametrize("command", [["channel", "list"], ["status"], ["sql", "select 1"], ["rebuild"]])
def test_a_file_that_is_not_a_warehouse_is_refused_and_left_as_it_was(tmp_path, capsys, make, says, command):
    path = tmp_path / "other.file"
    make(path)
    before = path.read_bytes()
    line = refused(capsys, "--db", str(path), *command)
    assert says in line
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.wal"))


def test_duckdb_never_fetches_an_extension(tmp_path, capsys, monkeypatch):
    """A SQLite file would make DuckDB download sqlite_scanner from the internet: it is refused first, and the
    connection is told never to install or load an extension."""
    from pipelines.warehouse.connection import NO_EXTENSIONS

    monkeypatch.setenv("HOME", str(tmp_path))  # where DuckDB would put a downloaded extension
    path = tmp_path / "shop.sqlite"
    _sqlite(path)
    refused(capsys, "--db", str(path), "channel", "list")
    assert not (tmp_path / ".duckdb").exists()
    assert NO_EXTENSIONS == {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


# -- the Dagster instance -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "home, says",
    [
        ("relative/home", "must be an absolute path"),
        ("{tmp}/missing", "does not exist"),
        ("{tmp}/empty", "dagster.yaml is missing"),
        ("{tmp}/broken", "cannot be read"),
        ("{tmp}/unlimited", "no run_coordinator limit"),
    ],
)
def test_a_dagster_home_without_the_one_writer_limit_is_refused(shop, capsys, monkeypatch, tmp_path, home, says):
    shop.add_channel()
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "dagster.yaml").write_text("run_coordinator: [unclosed\n")
    (tmp_path / "unlimited").mkdir()
    (tmp_path / "unlimited" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", home.format(tmp=tmp_path))
    line = refused(capsys, "--db", shop.db, "sync")
    assert says in line
    assert shop.sandbox.requests == []


def test_the_projects_own_instance_configuration_has_the_limit():
    from pipelines.orchestration.instance import check_instance_config

    check_instance_config(ROOT / "dagster.yaml")
    check_instance_config(ROOT / "deploy" / "postgres" / "dagster.yaml")
