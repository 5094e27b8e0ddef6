"""SQL models, one select per file: staging/ reads the raw layer, core/ builds the public tables."""

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent


@cache
def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


# The warehouse's declarations: the tables and macros, then the reference data kept in files of their own.
SCHEMA_FILES = ("warehouse/schema.sql", "warehouse/marketplaces.sql")


def read_schema() -> str:
    """Every declaration of the warehouse, in the order it is applied."""
    return "\n".join(read_sql(name) for name in SCHEMA_FILES)
