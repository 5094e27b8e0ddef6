"""SQL models, one select per file: staging/ reads the raw layer, core/ builds the public tables."""

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent


@cache
def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()
