"""The warehouse in SQL: warehouse/ declares it (reference data, formulas, tables, and in docs.yml what each
table and column means); the models, one select per file, derive the public tables from the raw layer:
staging/ → intermediate/ → core/, and ledger/; marts/ answer the questions analysts ask."""

from functools import cache
from pathlib import Path

import yaml

SQL_DIR = Path(__file__).parent
# applied in this order: the tables and views use the reference data and formulas; the comments need the tables
SCHEMA_FILES = (
    "warehouse/reference.sql",
    "warehouse/marketplaces.sql",
    "warehouse/macros.sql",
    "warehouse/tables.sql",
    "warehouse/docs.yml",
)


@cache
def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@cache
def comments_sql(name: str) -> str:
    """A docs file's descriptions (tables and views: description, columns) as `comment on` statements."""
    statements = []
    for kind, relations in yaml.safe_load((SQL_DIR / name).read_text()).items():
        for relation, described in relations.items():
            if "description" in described:
                statements.append(
                    f"comment on {kind.removesuffix('s')} {relation} is {_quote(described['description'])};"
                )
            statements += [
                f"comment on column {relation}.{column} is {_quote(text)};"
                for column, text in described.get("columns", {}).items()
            ]
    return "\n".join(statements)


@cache
def schema_sql() -> str:
    """The warehouse's declaration: every statement of sql/warehouse/, in the order it is applied."""
    return "\n".join(comments_sql(name) if name.endswith(".yml") else read_sql(name) for name in SCHEMA_FILES)
