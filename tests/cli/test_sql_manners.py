"""`sql` keeps DuckDB's hints and aligns numbers as a spreadsheet does (#28)."""

from __future__ import annotations

from conftest import refused


def test_a_misspelt_table_keeps_duckdbs_hint(shop):
    shop.add_channel()
    line = refused(shop.capsys, "--db", shop.db, "sql", "select * from ordrs")
    assert "ordrs" in line and 'Did you mean "orders"' in line


def test_a_misspelt_column_keeps_duckdbs_hint(shop):
    shop.add_channel()
    line = refused(shop.capsys, "--db", shop.db, "sql", "select statsu from orders")
    assert "statsu" in line and 'Candidate bindings: "status"' in line


def test_numbers_are_right_aligned_and_text_left_aligned(shop):
    shop.add_channel()
    out = shop.ok("sql", "select * from (values (1, 'a', 2.5), (100, 'bcd', 12.25)) t(n, word, amount) order by n")
    lines = out.splitlines()
    assert lines[0] == "  n  word      amount" and lines[2:] == ["  1  a           2.50", "100  bcd        12.25"], (
        lines
    )
