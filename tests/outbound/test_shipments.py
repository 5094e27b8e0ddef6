"""Packages shipped here and confirmed to Amazon (#27), through the CLI, a real Dagster run, the real
python-amazon-sp-api client over HTTP and the sandbox's confirmShipment: each package once, with the fields
Amazon requires; retried with the same packageReferenceId; a refusal shown with Amazon's code and resent after
the clerk's correction; read back from the next sync's PACKAGES."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC

from conftest import ROOT, catalog, refused

from pipelines.sandbox import Buyer, Item

AMAZON_ORDERS = str(ROOT / ".venv" / "bin" / "amazon-orders")


def confirmations(shop) -> list[dict]:
    return [r for r in shop.sandbox.requests if r["path"].endswith("/shipmentConfirmation")]


def amazon_packages(shop, order_id) -> list[dict]:
    return shop.marketplace.order(order_id).get("packages", [])


def paid_order(shop, tmp_path, *items, **options) -> str:
    shop.add_channel()
    shop.ok("products", "import", catalog(tmp_path, "MUG-01,Mug,12.50,10", "PEN-03,Pen,4.00,10"))
    order = shop.place(
        *(items or (Item("MUG-01", 2, "12.50"), Item("PEN-03", 1, "4.00"))),
        buyer=Buyer("Ada Lovelace", "ada@marketplace.amazon.com"),
        **options,
    )
    shop.marketplace.confirm(order)
    shop.sync()
    return order


def item_ids(shop, order) -> dict:
    return {line["product"]["sellerSku"]: line["orderItemId"] for line in shop.marketplace.order(order)["orderItems"]}


def check_evaluation():
    from dagster import AssetCheckKey, AssetKey

    from pipelines.orchestration.instance import get_instance

    [record] = get_instance().event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("shipment_confirmations"), "no_package_refused"), limit=1
    )
    return record.event.dagster_event.event_specific_data


def test_a_whole_order_is_confirmed_once_with_the_fields_amazon_requires_then_read_back(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    out = shop.ok(
        "ship",
        order,
        "--carrier",
        "UPS",
        "--tracking",
        "1Z999AA10123456784",
        "--service",
        "UPS Ground",
        "--ship-date",
        "2026-11-02T10:00:00Z",
    )
    assert "package 1 (2 x MUG-01, 1 x PEN-03)" in out and "1 package(s) confirmed to Amazon" in out
    [sent] = confirmations(shop)
    ids = item_ids(shop, order)
    assert sent["status"] == 204 and sent["params"] == {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-11-02T10:00:00Z",
            "shippingMethod": "UPS Ground",
            "orderItems": sorted(
                [{"orderItemId": ids["MUG-01"], "quantity": 2}, {"orderItemId": ids["PEN-03"], "quantity": 1}],
                key=lambda item: item["orderItemId"],
            ),
        },
    }
    assert shop.marketplace.order(order)["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert shop.one("select state from packages") == "confirmed"
    assert shop.one("select is_shipped from orders")
    assert "not yet read back" in shop.ok("order", "show", order)
    shop.sync()
    shown = shop.ok("order", "show", order)
    assert "confirmed on Amazon" in shown and "not yet read back" not in shown
    assert shop.one("select status from orders") == "Shipped"
    assert shop.one("select sum(reserved_quantity) from inventory") == 0
    assert (
        refused(shop.capsys, "--db", shop.db, "ship", order, "--carrier", "UPS", "--tracking", "X")
        == f"amazon-orders: order {order} is already marked shipped"
    )
    assert len(confirmations(shop)) == 1


def test_partial_packages_are_confirmed_each_with_its_own_reference(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    shop.ok(
        "ship", order, "--carrier", "usps", "--tracking", "9400100000000000000001", "--sku", "MUG-01", "--quantity", "1"
    )
    assert shop.marketplace.order(order)["fulfillment"]["fulfillmentStatus"] == "PARTIALLY_SHIPPED"
    assert not shop.one("select is_shipped from orders")
    shop.ok(
        "ship",
        order,
        "--carrier",
        "Evri",
        "--carrier-name",
        "Evri",
        "--tracking",
        "H00A",
        "--sku",
        "MUG-01",
        "--quantity",
        "1",
        "--sku",
        "PEN-03",
        "--quantity",
        "1",
    )
    sent = [r["params"]["packageDetail"] for r in confirmations(shop)]
    assert [(p["packageReferenceId"], p["carrierCode"], p.get("carrierName")) for p in sent] == [
        ("1", "USPS", None),
        ("2", "Other", "Evri"),
    ]
    assert [[i["quantity"] for i in p["orderItems"]] for p in sent] == [[1], [1, 1]]
    assert shop.marketplace.order(order)["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert shop.one("select is_shipped from orders")
    assert "is already marked shipped" in refused(
        shop.capsys, "--db", shop.db, "ship", order, "--carrier", "UPS", "--tracking", "Z"
    )
    assert len(confirmations(shop)) == 2


def test_a_retry_after_a_503_sends_the_same_reference_and_amazon_keeps_one_package(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    shop.sandbox.shipments.inject("503")
    shop.ok("ship", order, "--carrier", "UPS", "--tracking", "1Z1")
    sent = confirmations(shop)
    assert [r["status"] for r in sent] == [503, 204]
    assert {r["params"]["packageDetail"]["packageReferenceId"] for r in sent} == {"1"}
    assert [p["packageReferenceId"] for p in amazon_packages(shop, order)] == ["1"]
    assert shop.one("select state, attempts from packages") == ("confirmed", 1)


def test_a_429_waits_for_the_usage_plan_and_sends_the_same_reference_again(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    shop.sandbox.shipments.inject("429", 2)
    shop.ok("ship", order, "--carrier", "UPS", "--tracking", "1Z7")
    sent = confirmations(shop)
    assert [r["status"] for r in sent] == [429, 429, 204]
    assert {r["params"]["packageDetail"]["packageReferenceId"] for r in sent} == {"1"}
    assert [p["packageReferenceId"] for p in amazon_packages(shop, order)] == ["1"]


def test_a_refusal_shows_amazons_code_and_is_resent_after_the_clerks_correction(shop, tmp_path):
    order = paid_order(shop, tmp_path, Item("MUG-01", 2, "12.50"))
    shop.marketplace.ship(order, "MUG-01", 1)  # shipped by hand in Seller Central; not synced yet
    code, _, err = shop.run("ship", order, "--carrier", "UPS", "--tracking", "1Z2")
    line = err.strip().splitlines()[-1]  # after the run's progress, the one line of the failure
    assert code == 1 and line.startswith("amazon-orders: Amazon refused") and "Traceback" not in err
    assert "Invalid Input" in line and "shipments resend" in line
    assert shop.one("select state, error_code from packages") == ("refused", "Invalid Input")
    assert "REFUSED by Amazon: Invalid Input" in shop.ok("order", "show", order)
    status = shop.ok("status")
    assert "PACKAGES AMAZON REFUSED" in status and order in status
    assert not check_evaluation().passed  # the asset check fails while the package stays refused
    shop.ok("shipments", "resend", order, "--sku", "MUG-01", "--quantity", "1")
    sent = confirmations(shop)
    assert [
        (
            r["status"],
            r["params"]["packageDetail"]["packageReferenceId"],
            r["params"]["packageDetail"]["orderItems"][0]["quantity"],
        )
        for r in sent
    ] == [(400, "1", 2), (204, "1", 1)]
    assert [p["packageReferenceId"] for p in amazon_packages(shop, order)][-1] == "1"
    assert shop.one("select state from packages") == "confirmed"
    assert "PACKAGES AMAZON REFUSED" not in shop.ok("status")
    assert check_evaluation().passed


def test_fba_cancelled_and_unknown_carriers_are_refused_before_any_request(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    fba = shop.place(Item("MUG-01", 1), fulfilled_by="AMAZON", status="UNSHIPPED")
    cancelled = shop.place(Item("PEN-03", 1), status="UNSHIPPED")
    shop.marketplace.cancel(cancelled)
    shop.sync()
    assert "fulfilled by Amazon" in refused(
        shop.capsys, "--db", shop.db, "ship", fba, "--carrier", "UPS", "--tracking", "1"
    )
    assert "Canceled on Amazon" in refused(
        shop.capsys, "--db", shop.db, "ship", cancelled, "--carrier", "UPS", "--tracking", "1"
    )
    assert "not in Amazon's list" in refused(
        shop.capsys, "--db", shop.db, "ship", order, "--carrier", "Evri", "--tracking", "1"
    )
    assert "cannot ship 3 x MUG-01" in refused(
        shop.capsys,
        "--db",
        shop.db,
        "ship",
        order,
        "--carrier",
        "UPS",
        "--tracking",
        "1",
        "--sku",
        "MUG-01",
        "--quantity",
        "3",
    )
    assert confirmations(shop) == [] and shop.query("select * from packages") == []


def test_a_buyers_cancellation_request_stops_a_package_unless_forced(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    shop.marketplace.request_cancel(order)
    shop.sync()
    assert "asked Amazon to cancel" in refused(
        shop.capsys, "--db", shop.db, "ship", order, "--carrier", "UPS", "--tracking", "1"
    )
    assert confirmations(shop) == []
    shop.ok("ship", order, "--carrier", "UPS", "--tracking", "1", "--force")
    assert [r["status"] for r in confirmations(shop)] == [204]


def test_the_csv_import_is_refused_whole_on_a_bad_row_then_confirms_a_good_file(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    other = shop.place(Item("PEN-03", 2), status="UNSHIPPED")
    shop.sync()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "order,sku,quantity,carrier,tracking,date\n"
        f"{order},MUG-01,2,UPS,1Z1,2026-11-02T10:00:00Z\n"
        f"{other},PEN-03,two,UPS,1Z2,2026-11-02T10:00:00Z\n"
    )
    assert (
        refused(shop.capsys, "--db", shop.db, "shipments", "import", str(bad))
        == f"amazon-orders: {bad} line 3: quantity 'two' is not a whole number of at least 1"
    )
    bad.write_text(
        "order,sku,quantity,carrier,tracking,date\n"
        f"{order},MUG-01,2,UPS,1Z1,2026-11-02T10:00:00Z\n"
        f"{other},PEN-03,5,UPS,1Z2,2026-11-02T10:00:00Z\n"
    )
    assert "line 3: cannot ship 5 x PEN-03" in refused(shop.capsys, "--db", shop.db, "shipments", "import", str(bad))
    assert shop.query("select * from packages") == [] and confirmations(shop) == []
    good = tmp_path / "good.csv"
    good.write_text(
        "order,sku,quantity,carrier,tracking,date\n"
        f"{order},MUG-01,2,UPS,1Z1,2026-11-02T10:00:00Z\n"
        f"{order},PEN-03,1,UPS,1Z1,2026-11-02T10:00:00Z\n"
        f"{other},PEN-03,2,Royal Mail,RM1,2026-11-02\n"
    )
    out = shop.ok("shipments", "import", str(good))
    assert "imported 2 package(s) of 2 order(s)" in out and "2 package(s) confirmed to Amazon" in out
    assert [r["status"] for r in confirmations(shop)] == [204, 204]
    assert shop.query("select state, count(*) from packages group by all") == [("confirmed", 2)]


def test_a_sigkill_between_amazons_204_and_our_commit_does_not_double_the_package(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    shop.sandbox.hold("confirmShipment:applied")  # Amazon has kept the package; its 204 waits
    process = subprocess.Popen(
        [AMAZON_ORDERS, "--db", shop.db, "ship", order, "--carrier", "UPS", "--tracking", "1Z3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    try:
        assert shop.sandbox.holding.wait(timeout=120)
        assert [p["packageReferenceId"] for p in amazon_packages(shop, order)] == ["1"]
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        shop.sandbox.release()
    assert shop.one("select state from packages") == "sending"
    shop.ok("shipments", "send")
    sent = confirmations(shop)
    assert len(sent) == 2 and {r["params"]["packageDetail"]["packageReferenceId"] for r in sent} == {"1"}
    assert [p["packageReferenceId"] for p in amazon_packages(shop, order)] == ["1"]
    assert shop.one("select state, attempts from packages") == ("confirmed", 2)


def test_a_bare_ship_still_marks_the_order_shipped_and_a_carrier_later_confirms_it(shop, tmp_path):
    order = paid_order(shop, tmp_path)
    out = shop.ok("ship", order)
    assert "marked shipped" in out and "Amazon is not told" in out
    assert confirmations(shop) == []
    assert "Amazon not told" in shop.ok("status")
    stock = shop.query("select * from inventory order by all")
    shop.ok("ship", order, "--carrier", "UPS", "--tracking", "1Z4", "--sku", "MUG-01", "--quantity", "2")
    shop.ok("ship", order, "--carrier", "UPS", "--tracking", "1Z5")  # the rest: the pen
    assert [[i["quantity"] for i in r["params"]["packageDetail"]["orderItems"]] for r in confirmations(shop)] == [
        [2],
        [1],
    ]
    assert "no unit left to ship" in refused(
        shop.capsys, "--db", shop.db, "ship", order, "--carrier", "UPS", "--tracking", "1Z6"
    )
    assert "Amazon not told" not in shop.ok("status")
    assert shop.query("select * from inventory order by all") == stock  # the units left the shelf once
    assert shop.marketplace.order(order)["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


def test_a_cancellation_after_a_partial_package_returns_only_the_units_no_package_took(shop, tmp_path):
    order = paid_order(shop, tmp_path, Item("MUG-01", 3, "12.50"))
    on_hand = shop.one("select on_hand from inventory where product_code = 'MUG-01'")
    shop.ok("ship", order, "--carrier", "UPS", "--tracking", "1Z5", "--sku", "MUG-01", "--quantity", "1")
    shop.marketplace.cancel(order)  # Amazon cancels what had not shipped
    shop.sync()
    assert shop.one("select on_hand from inventory where product_code = 'MUG-01'") == on_hand + 2


def test_the_sensor_asks_for_a_run_of_the_channel_with_a_package_to_send_and_none_after(shop, tmp_path):
    from dagster import RunRequest, build_sensor_context

    from pipelines import clock
    from pipelines.backoffice.shipments import PackageRequest, record_package
    from pipelines.definitions import shipments_sensor
    from pipelines.orchestration.instance import get_instance
    from pipelines.orchestration.resources import WarehouseResource
    from pipelines.warehouse.connection import open_for_writing

    order = paid_order(shop, tmp_path)

    def tick():
        return shipments_sensor(
            build_sensor_context(instance=get_instance(), resources={"warehouse": WarehouseResource(path=shop.db)})
        )

    def schedule_tick():
        from datetime import datetime

        from dagster import build_schedule_context

        from pipelines.definitions import defs, shipments_job_schedule

        context = build_schedule_context(
            instance=get_instance(),
            resources={"warehouse": WarehouseResource(path=shop.db)},
            scheduled_execution_time=datetime.now(UTC),
            repository_def=defs.get_repository_def(),
        )
        return shipments_job_schedule.evaluate_tick(context).run_requests or None

    assert not isinstance(tick(), list) and not schedule_tick()  # nothing to send: a skip
    with open_for_writing(shop.db) as con:  # recorded without a run, as a run that died leaves it
        record_package(con, PackageRequest(order, "UPS", "1Z6"), clock.from_environment()())
    [request] = tick()
    assert isinstance(request, RunRequest) and request.partition_key == "Amazon US"
    [backstop] = schedule_tick()  # the schedule asks for the same run, should the sensor be off
    assert backstop.partition_key == "Amazon US"
    shop.ok("shipments", "send")
    assert not isinstance(tick(), list) and not schedule_tick()
    assert [r["status"] for r in confirmations(shop)] == [204]
