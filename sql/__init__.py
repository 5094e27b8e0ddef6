"""The warehouse in SQL: warehouse/ declares it (reference data, formulas, tables, and in docs.yml what each
table and column means); the models, one select per file, derive the public tables from the raw layer:
staging/ → intermediate/ → core/, and ledger/; marts/ answer the questions analysts ask."""

from functools import cache
from pathlib import Path

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


def quote(text: str) -> str:
    """A SQL string literal of `text`."""
    return "'" + text.replace("'", "''") + "'"


@cache
def comments_sql(name: str) -> str:
    """A docs file's descriptions (tables and views: description, columns) as `comment on` statements."""
    import yaml  # imported here: the CLI's quick commands do not need it (their schema comes from cache)

    # libyaml's parser where installed: the pure-Python one takes 10 ms over docs.yml at each process's start
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    statements = []
    for kind, relations in yaml.load((SQL_DIR / name).read_text(), Loader=loader).items():
        for relation, described in relations.items():
            if "description" in described:
                statements.append(
                    f"comment on {kind.removesuffix('s')} {relation} is {quote(described['description'])};"
                )
            statements += [
                f"comment on column {relation}.{column} is {quote(text)};"
                for column, text in described.get("columns", {}).items()
            ]
    return "\n".join(statements)


@cache
def schema_sql() -> str:
    """The warehouse's declaration: every statement of sql/warehouse/, in the order it is applied."""
    return "\n".join(comments_sql(name) if name.endswith(".yml") else read_sql(name) for name in SCHEMA_FILES)
