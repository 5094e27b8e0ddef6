"""Nothing alerted anyone (#28): a failed run and stale core tables are POSTed to the configured webhook,
here a loopback HTTP server the test starts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import REFRESH_TOKEN, SECRET
from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    RunsFilter,
    build_run_status_sensor_context,
    build_sensor_context,
)

from pipelines.assets.alerts import alert_on_run_failure, core_tables_are_fresh, freshness_alert_sensor
from pipelines.orchestration.instance import get_instance
from pipelines.orchestration.resources import WarehouseResource
from pipelines.sandbox import Item


@pytest.fixture
def webhook(monkeypatch):
    """A webhook on 127.0.0.1 keeping every JSON body POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AMAZON_ORDERS_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_address[1]}/hook")
    yield received
    server.shutdown()
    server.server_close()


def test_a_failed_run_is_posted_to_the_webhook_without_a_secret(shop, webhook, monkeypatch):
    shop.add_channel()
    for name in ("LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"):
        monkeypatch.setenv(name, "")  # set, and empty: no client can be built
    shop.marketplace.advance(minutes=3)
    assert shop.run("sync")[0] == 1
    instance = get_instance()
    [run] = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    [record] = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_FAILURE).records
    context = build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=record.event_log_entry.dagster_event,
    ).for_run_failure()
    alert_on_run_failure(context)
    [alert] = webhook
    assert alert["kind"] == "run_failure" and alert["job"] == "sync_job" and alert["partition"] == "Amazon US"
    assert alert["run_id"] == run.run_id and "sync_job failed for Amazon US" in alert["text"]
    assert SECRET not in json.dumps(alert) and REFRESH_TOKEN not in json.dumps(alert)


def test_stale_core_tables_are_posted_once_and_their_recovery_too(shop, webhook):
    shop.add_channel()
    shop.place(Item("MUG-01"))
    shop.sync()
    warehouse = WarehouseResource(path=shop.db)
    context = build_sensor_context(instance=get_instance(), resources={"warehouse": warehouse})
    freshness_alert_sensor(context)
    assert webhook == []  # fresh from the start: nothing to say
    assert core_tables_are_fresh(warehouse).passed

    shop.marketplace.advance(hours=3)  # no sync for three hours
    freshness_alert_sensor(context)
    [stale] = webhook
    assert stale["kind"] == "stale" and "channel 'Amazon US': lags" in stale["text"]
    assert not core_tables_are_fresh(warehouse).passed
    freshness_alert_sensor(context)
    assert len(webhook) == 1  # once per change, not every tick

    shop.sync()
    freshness_alert_sensor(context)
    assert [alert["kind"] for alert in webhook] == ["stale", "fresh"]


def test_a_webhook_off_this_machine_must_use_https(monkeypatch):
    from pipelines.orchestration.alerts import webhook_url

    monkeypatch.setenv("AMAZON_ORDERS_ALERT_WEBHOOK", "http://hooks.example.invalid/x")
    with pytest.raises(ValueError, match="must use https"):
        webhook_url()
