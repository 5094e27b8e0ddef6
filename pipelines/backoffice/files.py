"""A back-office file: a UTF-8 CSV with a header, read whole before anything is written, and refused at its
first wrong line with the line's number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from pipelines.backoffice.orders import EntryRefused


def csv_rows(path: str | Path, columns: list[str], what: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, fields by column, stripped) of each row that is not blank; EntryRefused names the file, the
    line and what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise EntryRefused(f"{path}: cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise EntryRefused(f"{path} is not UTF-8 text; save the {what} as UTF-8 CSV") from None
    # strict: a quote left open is an error, not a field running to the end of the file
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise EntryRefused(f"{path} line 1: missing column(s) {', '.join(missing)}; expected {','.join(columns)}")
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # a blank line
            if len(fields) != len(header):
                raise EntryRefused(
                    f"{path} line {reader.line_num}: {len(fields)} fields, but the header has {len(header)}"
                )
            yield reader.line_num, {name: (value or "").strip() for name, value in zip(header, fields)}
    except csv.Error as error:
        raise EntryRefused(f"{path} line {reader.line_num}: {error} (a quote left open?)") from None
