"""What the per-channel assets' checks share: a check failing with the rows that make it fail as a table."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue


def rows_check(check_name: str, metadata: dict, key: str, columns: tuple[str, ...], rows: list[tuple]):
    """`check_name` passes when there are no `rows`; otherwise it fails as an error, `rows` under `key` as a
    Markdown table the UI draws."""
    if rows:
        metadata[key] = MetadataValue.md(
            "\n".join(
                ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
            )
        )
    return AssetCheckResult(
        check_name=check_name, passed=not rows, severity=AssetCheckSeverity.ERROR, metadata=metadata
    )
