"""The warehouse in SQL: warehouse/ declares it (reference data, formulas, tables, what each column means);
the models, one select per file, derive the public tables from the raw layer: staging/ → intermediate/ → core/,
and ledger/; marts/ answer the questions analysts ask."""

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent
# applied in this order: the tables and views use the reference data and formulas; the comments need the tables
SCHEMA_FILES = (
    "warehouse/reference.sql",
    "warehouse/marketplaces.sql",
    "warehouse/macros.sql",
    "warehouse/tables.sql",
    "warehouse/docs.sql",
)


@cache
def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


@cache
def schema_sql() -> str:
    """The warehouse's declaration: every statement of sql/warehouse/, in the order it is applied."""
    return "\n".join(read_sql(name) for name in SCHEMA_FILES)
