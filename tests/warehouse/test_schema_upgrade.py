"""A warehouse last written by an older version of the program: the first command after the upgrade finds the
tables the new version reads, whether it writes (a sync) or only reads (status, sql)."""

from __future__ import annotations

import duckdb
from conftest import channel_add

from pipelines.cli import commands as cli


def as_an_older_version_left_it(db: str) -> None:
    """The schema of before a table was added: the table missing, and the digest of another schema."""
    con = duckdb.connect(db)
    con.execute("drop table publish_failures")
    con.execute("update applied_schema set digest = 'an older schema'")
    con.close()


def test_a_reader_after_an_upgrade_finds_the_new_tables(db, sandbox, marketplace, capsys):
    assert cli.main(["--db", db, *channel_add(sandbox, start=marketplace.now)]) == 0
    as_an_older_version_left_it(db)
    capsys.readouterr()
    assert cli.main(["--db", db, "status"]) == 0, capsys.readouterr().err
    assert cli.main(["--db", db, "sql", "select count(*) as failures from publish_failures"]) == 0
    assert "failures" in capsys.readouterr().out
