"""The table contracts: pandera schemas of what every row an analyst queries is promised to be.

They gate the transform (an order version whose rows break them is quarantined, not written) and
back the asset checks. Statuses and column descriptions come from sql/warehouse/ (reference.sql, docs.yml).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
import pyarrow
from pandera.typing import Series

from pipelines.warehouse import tables

ORDER_STATUSES = [row["status"] for row in tables.order_statuses()]
PENDING_STATUSES = [row["status"] for row in tables.order_statuses() if row["is_pending"]]
LOCATIONS = ["warehouse", "amazon_fba"]


class CoreTable(pa.DataFrameModel):
    class Config:
        coerce = True  # DuckDB hands over int32 and object columns; the contract is about values


class Orders(CoreTable):
    order_id: Series[str] = pa.Field(unique=True, str_startswith="SO-")
    channel: Series[str]
    channel_order_id: Series[str] = pa.Field(str_length={"min_value": 1})
    marketplace_id: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(isin=ORDER_STATUSES)
    payment_status: Series[str] = pa.Field(isin=["Unpaid", "Paid"])
    account_id: Series[str] = pa.Field(str_startswith="ACC-")
    contact_id: Series[str] = pa.Field(nullable=True)
    currency: Series[str] = pa.Field(nullable=True, str_matches=r"^[A-Z]{3}$")
    total_amount: Series[float] = pa.Field(nullable=True, ge=0)
    is_shipped: Series[bool]
    marketplace_name: Series[str] = pa.Field(nullable=True)
    shipped_at: Series[pa.DateTime] = pa.Field(nullable=True)

    @pa.dataframe_check(error="a Pending order must be Unpaid and under the Amazon Pending Account")
    def pending_orders_are_unpaid(cls, df):
        pending = df["status"].isin(PENDING_STATUSES)
        return ~pending | ((df["payment_status"] == "Unpaid") & (df["account_id"] == "ACC-PENDING"))


class OrderLines(CoreTable):
    order_id: Series[str]
    line_number: Series[int] = pa.Field(ge=1)
    line_type: Series[str] = pa.Field(isin=["product", "gift_wrap"])
    product_id: Series[str] = pa.Field(nullable=True)
    product_code: Series[str] = pa.Field(nullable=True)
    quantity: Series[int] = pa.Field(ge=1)
    canceled_quantity: Series[int] = pa.Field(ge=0)
    shipped_quantity: Series[int] = pa.Field(ge=0)
    unit_price: Series[float] = pa.Field(nullable=True, ge=0)
    line_amount: Series[float] = pa.Field(nullable=True, ge=0)
    notes: Series[str] = pa.Field(nullable=True)
    net_line_amount: Series[float] = pa.Field(nullable=True, ge=0)

    class Config:
        coerce = True
        unique = ["order_id", "line_number"]

    @pa.dataframe_check(error="canceled_quantity exceeds quantity")
    def canceled_within_ordered(cls, df):
        return df["canceled_quantity"] <= df["quantity"]

    @pa.dataframe_check(error="shipped_quantity exceeds quantity")
    def shipped_within_ordered(cls, df):
        return df["shipped_quantity"] <= df["quantity"]

    @pa.dataframe_check(error="net_line_amount exceeds line_amount")
    def net_within_line_amount(cls, df):
        return df["net_line_amount"].isna() | (df["net_line_amount"] <= df["line_amount"])

    @pa.dataframe_check(error="a product line needs a product")
    def product_lines_have_products(cls, df):
        return (df["line_type"] != "product") | (df["product_id"].notna() & df["product_code"].notna())


class Accounts(CoreTable):
    account_id: Series[str] = pa.Field(unique=True, str_startswith="ACC-")
    account_name: Series[str] = pa.Field(nullable=True)
    is_placeholder: Series[bool]


class Contacts(CoreTable):
    contact_id: Series[str] = pa.Field(unique=True, str_startswith="CON-")
    account_id: Series[str] = pa.Field(str_startswith="ACC-")
    email: Series[str] = pa.Field(nullable=True)
    country_code: Series[str] = pa.Field(nullable=True)


class Products(CoreTable):
    product_id: Series[str] = pa.Field(unique=True, str_startswith="PRD-")
    product_code: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    product_name: Series[str]
    list_price: Series[float] = pa.Field(nullable=True, ge=0)
    is_placeholder: Series[bool]

    @pa.dataframe_check(error="a placeholder product must be named 'Generic Product'")
    def placeholders_are_generic(cls, df):
        return ~df["is_placeholder"] | (df["product_name"] == "Generic Product")


class InventoryMovements(CoreTable):
    movement_id: Series[int] = pa.Field(unique=True, ge=1)
    product_code: Series[str]
    quantity_delta: Series[int] = pa.Field(ne=0)
    reason: Series[str] = pa.Field(isin=["order", "cancel", "return", "adjustment"])
    location: Series[str] = pa.Field(isin=LOCATIONS)


class Inventory(CoreTable):
    product_code: Series[str]
    location: Series[str] = pa.Field(isin=LOCATIONS)
    channel: Series[str] = pa.Field(nullable=True)
    on_hand: Series[int]
    reserved_quantity: Series[int] = pa.Field(ge=0)

    class Config:
        coerce = True
        unique = ["product_code", "location", "channel"]


# the table each schema guards
SCHEMAS = {
    "orders": Orders,
    "order_lines": OrderLines,
    "accounts": Accounts,
    "contacts": Contacts,
    "products": Products,
    "inventory_movements": InventoryMovements,
    "inventory": Inventory,
}


def contract(table: str) -> pa.DataFrameSchema:
    """The table's schema, its columns described as sql/warehouse/docs.yml describes them."""
    schema = SCHEMAS[table].to_schema()
    described = {column.name: column.description for column in tables.table(table).columns}
    return schema.update_columns({name: {"description": described.get(name)} for name in schema.columns})


def keys(schema: pa.DataFrameSchema) -> list[list[str]]:
    """The column sets the schema declares unique, one column (`unique=True`) or several (`Config.unique`)."""
    declared = [[name] for name, column in schema.columns.items() if column.unique]
    return declared + ([list(schema.unique)] if schema.unique else [])


def without_keys(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The schema for one chunk: uniqueness is checked in SQL over the whole set, not chunk by chunk."""
    chunk = schema.update_columns({name: {"unique": False} for name, column in schema.columns.items() if column.unique})
    chunk.unique = None
    return chunk


def failing_rows(con, query: str, table: str, chunk_rows: int = 250_000):
    """Validate a query's rows against a table's contract, chunk by chunk (pandas memory stays
    bounded at any size).

    Yields (row, check, column) for each failure, `row` being the failing row as a dict.
    """
    schema = contract(table)
    for key in keys(schema):
        columns = ", ".join(key)
        duplicates = con.execute(f"select {columns} from ({query}) group by {columns} having count(*) > 1").df()
        for row in duplicates.to_dict("records"):
            yield row, "duplicate key", columns
    schema = without_keys(schema)
    # Arrow batches with strings left in Arrow (pandas' own str dtype) and decimals as floats:
    # no Python object per value on the way into pandas
    relation = con.sql(query)
    decimals = [
        f'"{name}"::double as "{name}"'
        for name, kind in zip(relation.columns, relation.types)
        if str(kind).startswith("DECIMAL")
    ]
    if decimals:
        relation = con.sql(f"select * replace ({', '.join(decimals)}) from ({query})")
    text = pd.StringDtype("pyarrow", na_value=np.nan)
    failures = []
    with relation.to_arrow_reader(chunk_rows) as batches:  # closed, so the connection is free again
        for batch in batches:
            frame = batch.to_pandas(types_mapper={pyarrow.string(): text, pyarrow.string_view(): text}.get)
            try:
                schema.validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as errors:
                cases = errors.failure_cases
                for index, check, column in cases[["index", "check", "column"]].itertuples(index=False):
                    # a failure of a whole column (its type, say) has no row index
                    row = frame.loc[int(index)].to_dict() if pd.notna(index) else {}
                    failures.append((row, str(check), column))
    yield from failures


# -- the gate and the checks ---------------------------------------------------------------------

# The tables whose new rows gate the transform: one refused row keeps its whole order version out.
GATED_TABLES = ("orders", "order_lines")


def refuse_contract_breaches(con) -> int:
    """Validate the staged new rows of the gated tables; record each refused order, with the first
    reason found, in contract_rejections. Returns how many orders were refused."""
    failures: dict[str, str] = {}
    for table in GATED_TABLES:
        # only the columns the contract speaks of: moving rows into pandas is the costly part
        columns = ", ".join(SCHEMAS[table].to_schema().columns)
        for row, check, column in failing_rows(con, f"select {columns} from new_{table}", table):
            if row.get("order_id"):
                failures.setdefault(row["order_id"], f"{table}.{column or 'row'}: {check}")
    con.execute("delete from contract_rejections")
    if failures:
        con.executemany("insert into contract_rejections values (?, ?)", list(failures.items()))
    return len(failures)


# The rows a check reads: those the last transform touched, so a sync's cost follows its changes
# (the catalog and stock levels are small enough to read whole).
CHECKED_ROWS = {
    "orders": "select * from orders semi join last_transform_orders using (order_id)",
    "order_lines": "select * from order_lines semi join last_transform_orders using (order_id)",
    "inventory_movements": "select * from inventory_movements semi join last_transform_orders using (order_id)",
    "accounts": "select * from accounts where account_id in "
    "(select account_id from orders semi join last_transform_orders using (order_id))",
    "contacts": "select * from contacts where contact_id in "
    "(select contact_id from orders semi join last_transform_orders using (order_id))",
    "products": "select * from products",
    "inventory": "select * from inventory",
}


@dataclass
class CheckOutcome:
    table: str
    rows_checked: int
    failures: pd.DataFrame  # one row per failure: row, check, column
    quarantined: dict[str, int]  # reason -> order versions

    @property
    def passed(self) -> bool:
        return self.failures.empty


def check_table(con, table: str) -> CheckOutcome:
    """The rows the last transform touched in `table`, against its contract."""
    # fetchall, not fetchone: DuckDB opens no relation while a result is only partly read
    rows = con.execute(f"select count(*) from ({CHECKED_ROWS[table]})").fetchall()[0][0]
    failures = pd.DataFrame(list(failing_rows(con, CHECKED_ROWS[table], table)), columns=["row", "check", "column"])
    quarantined = dict(
        con.execute("select reason, count(*) from quarantine group by reason order by 2 desc").fetchall()
    )
    return CheckOutcome(table, rows, failures, quarantined)
