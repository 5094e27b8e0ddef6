"""The README's path after the demo: `make demo-ui` serves Dagster's UI on the demo's warehouse with a live
sandbox for its channel, a sync launched from the UI brings orders in, a real browser sees the lineage and
the tables' metadata, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from conftest import dagster_runs, refused

from pipelines.cli import commands as cli
from pipelines.warehouse.connection import connect

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("amazon-orders"))
CHANNEL = "Amazon Demo"
STARTUP_DEADLINE = 120  # seconds: a cold `dagster dev` loads the code location twice


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(condition, deadline: float, what: str):
    """Poll ``condition`` (an event in another process: nothing to inject) until it holds or time is up."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if result := condition():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _process_group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _children(pid: int) -> list[int]:
    return [
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    ]


def _orders(db: Path) -> int:
    con = connect(db, read_only=True)
    try:
        return con.execute("select count(*) from orders where channel = ?", [CHANNEL]).fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory):
    """The demo's warehouse, then `amazon-orders ui` on it, as a user without any credentials runs them."""
    folder = tmp_path_factory.mktemp("demo_ui")
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("LWA_", "SP_API_", "AMAZON_ORDERS_"))
    }
    env["DAGSTER_HOME"] = str(home)
    db = folder / "demo.duckdb"
    subprocess.run([CLI, "--db", str(db), "demo"], env=env, check=True, capture_output=True, timeout=300)
    orders_after_demo = _orders(db)

    port = _free_port()
    log = (folder / "ui.log").open("w")
    launcher = subprocess.Popen(
        [CLI, "--db", str(db), "ui", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def serving():
        if launcher.poll() is not None:
            raise AssertionError(f"`amazon-orders ui` ended: {(folder / 'ui.log').read_text()}")
        try:
            return urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).status == 200
        except OSError:
            return False

    try:
        _until(serving, STARTUP_DEADLINE, "Dagster's webserver")
        dagster_dev = _until(lambda: _children(launcher.pid), 10, "dagster dev")[0]
        yield {
            "db": db,
            "port": port,
            "launcher": launcher,
            "dagster_pgid": os.getpgid(dagster_dev),
            "orders_after_demo": orders_after_demo,
            "log": folder / "ui.log",
            "folder": folder,
        }
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)
            try:
                launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
        log.close()


@contextmanager
def _browser_page():
    """A page of Debian's chromium that reaches only this machine (the UI may ask for fonts or dagster.io's
    pop-up: nothing leaves it); the test skips, saying so, where chromium is not installed."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("NO BROWSER CHECK OF THE UI: Debian's chromium is not installed (`make test` installs it)")
    from playwright.sync_api import sync_playwright

    def loopback_only(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.route("**/*", loopback_only)
            yield page
        finally:
            browser.close()


def test_a_sync_launched_from_the_ui_brings_the_live_sandboxs_orders_in(demo_ui):
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=demo_ui["port"])
    # what the UI's "Materialize" on the channel's partition submits
    run_id = client.submit_job_execution("sync_job", tags={"dagster/partition": CHANNEL})
    terminal = {"SUCCESS", "FAILURE", "CANCELED"}
    status = _until(lambda: (s := client.get_run_status(run_id).value) in terminal and s, 180, "the sync run")
    assert status == "SUCCESS", demo_ui["log"].read_text()[-3000:]
    # the sandbox caught up from the demo's last sync to now, at ~30 orders an hour
    assert _orders(demo_ui["db"]) > demo_ui["orders_after_demo"]


def test_the_browser_sees_the_lineage_and_the_tables_metadata_without_a_pop_up(demo_ui):
    base = f"http://127.0.0.1:{demo_ui['port']}"

    with _browser_page() as page:
        page.goto(f"{base}/asset-groups/amazon_orders", wait_until="networkidle")
        lineage = page.locator("body")
        for asset in ("raw_amazon_orders", "orders", "order_lines", "inventory_movements"):
            lineage.get_by_text(asset, exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=demo_ui["folder"] / "lineage.png")
        assert "Join the Dagster community" not in page.content()

        page.goto(f"{base}/assets/orders", wait_until="networkidle")
        row_count = page.get_by_text("Row count", exact=True).locator("xpath=..")
        row_count.wait_for(timeout=30_000)
        assert row_count.inner_text().split() == ["Row", "count", str(_orders(demo_ui["db"]))]
        page.get_by_text("channel_order_id").first.wait_for(timeout=30_000)
        page.screenshot(path=demo_ui["folder"] / "orders.png")
        assert "Join the Dagster community" not in page.content()
        assert "will not be used to configure Dagster" not in demo_ui["log"].read_text()


def test_materialize_all_on_the_lineage_page_ends_green(demo_ui):
    """#28: what the README suggests; what cannot run is left out or skips with its reason, no run waits on
    itself, and every run it starts succeeds."""
    import re

    from dagster import DagsterInstance

    instance = DagsterInstance.from_config(str(_warehouse_instance_folder(demo_ui)))
    before = {run.run_id for run in instance.get_runs()}
    base = f"http://127.0.0.1:{demo_ui['port']}"
    with _browser_page() as page:
        page.goto(f"{base}/asset-groups/amazon_orders", wait_until="networkidle")
        page.get_by_role("button", name=re.compile("Materialize all")).first.click(timeout=30_000)
        # partitioned assets: the dialog choosing their partitions (every channel), then launch
        launch = page.get_by_role("button", name=re.compile(r"^Launch"))
        launch.last.wait_for(timeout=30_000)
        page.get_by_role("dialog").get_by_role("button", name="All", exact=True).click(timeout=30_000)
        page.screenshot(path=demo_ui["folder"] / "materialize-all.png")
        launch.last.click()
        page.wait_for_timeout(2_000)
        page.screenshot(path=demo_ui["folder"] / "materialize-all-launched.png")

    def settled():
        runs = [run for run in instance.get_runs() if run.run_id not in before]
        return runs if runs and all(run.is_finished for run in runs) else None

    runs = _until(settled, 300, "the runs Materialize all started")
    time.sleep(5)  # a backfill may launch its next run a tick later
    runs = _until(settled, 300, "the runs Materialize all started")
    failed = [(run.job_name, run.tags.get("dagster/partition"), run.status.value) for run in runs if not run.is_success]
    assert failed == [], demo_ui["log"].read_text()[-3000:]


def _warehouse_instance_folder(demo_ui) -> Path:
    """The demo warehouse's own instance (#28): the one folder under the home, shared by the demo and the UI."""
    [folder] = (demo_ui["folder"] / "dagster_home" / "warehouses").iterdir()
    assert (folder / "warehouse").read_text().strip() == str(demo_ui["db"].resolve())
    return folder


def test_the_browser_sees_the_daily_sales_chart_on_its_assets_page(demo_ui):
    """#28: the chart of net sales per marketplace is in the daily_sales asset's metadata, drawn on its page."""

    base = f"http://127.0.0.1:{demo_ui['port']}"
    with _browser_page() as page:
        page.goto(f"{base}/assets/daily_sales", wait_until="networkidle")
        # the latest materialisation's metadata: a Markdown value opens from its row, in a dialog
        row = page.locator("tr", has=page.get_by_text("chart", exact=True))
        row.first.get_by_text("[Show Markdown]").click(timeout=30_000)
        chart = page.get_by_role("dialog").locator('img[src^="data:image/svg+xml"]')
        chart.first.wait_for(state="visible", timeout=30_000)
        page.screenshot(path=demo_ui["folder"] / "daily-sales.png")
        assert chart.first.get_attribute("alt").startswith("net sales per marketplace")
        # drawn, not a broken image: the browser decoded the SVG to its size
        assert chart.first.evaluate("image => image.complete && image.naturalWidth") == 860


def test_ctrl_c_stops_the_ui_with_all_its_processes(demo_ui):
    launcher = demo_ui["launcher"]
    assert _process_group_members(demo_ui["dagster_pgid"])
    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    assert launcher.wait(timeout=60) == 0
    assert _process_group_members(demo_ui["dagster_pgid"]) == []
    with pytest.raises(OSError):
        urlopen(f"http://127.0.0.1:{demo_ui['port']}/server_info", timeout=2)
    log = demo_ui["log"].read_text()
    assert "SupersessionWarning" not in log, log
    # A run the daemon had in flight is interrupted, as under any `dagster dev`: it must end recorded as such
    # (never left "started" for ever), and the only tracebacks are those of the interruption
    assert _runs_going(demo_ui) == []
    interruption = ("KeyboardInterrupt", "dagster._core.errors.DagsterExecutionInterruptedError")
    assert [error for error in _traceback_errors(log) if not error.startswith(interruption)] == [], log


def _runs_going(demo_ui) -> list[str]:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    going = [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    instance = DagsterInstance.from_config(str(_warehouse_instance_folder(demo_ui)))
    return [run.job_name for run in instance.get_runs(RunsFilter(statuses=going))]


def _traceback_errors(log: str) -> list[str]:
    """The exception line ending each Python traceback in a log."""
    errors = []
    for block in log.split("Traceback (most recent call last):")[1:]:
        lines = block.splitlines()[1:]
        errors.append(next((line.strip() for line in lines if line and not line[0].isspace()), "?"))
    return errors


def test_the_ui_is_refused_in_one_line_when_a_channels_sandbox_port_is_taken(capsys, db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        url = f"http://127.0.0.1:{taken.getsockname()[1]}"
        assert (
            cli.main(
                [
                    "--db",
                    db,
                    "channel",
                    "add",
                    "Sandbox",
                    "--marketplace",
                    "ATVPDKIKX0DER",
                    "--endpoint",
                    url,
                    "--token-url",
                    url + "/auth/o2/token",
                ]
            )
            == 0
        )
        line = refused(capsys, "--db", db, "ui", "--port", str(_free_port()))
    assert "channel 'Sandbox' cannot listen on port" in line
    assert dagster_runs(db) == 0


def test_a_negative_order_rate_is_refused(capsys, db):
    assert "--orders-per-hour -1 is negative" in refused(capsys, "--db", db, "ui", "--orders-per-hour", "-1")
