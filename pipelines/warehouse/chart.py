"""A picture of the sales: net sales per marketplace and day for the last 30 days, from the daily_sales mart, as an
SVG file a person opens in a browser (and the Dagster UI shows on the daily_sales asset's page).

Written by hand, so it needs no plotting library: one line per marketplace and currency, a day missing from the
mart drawn as no sales."""

from __future__ import annotations

import base64
import os
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

from pipelines.warehouse.connection import owner_only_files, warehouse_path

DAYS = 30
WIDTH, HEIGHT = 860, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 50, 50
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

SALES = """
select marketplace_name || ' (' || currency || ')' as series, sales_date, sum(net_sales_amount) as net_sales_amount
from daily_sales
where sales_date > ?::date - ? and sales_date <= ?::date
group by all
order by all
"""


def chart_path(db=None) -> Path:
    """Where `report` writes the chart: data/warehouse.duckdb -> data/warehouse.daily-sales.svg."""
    path = warehouse_path(db)
    return path.with_name(f"{path.stem}.daily-sales.svg")


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above value (an axis's top)."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def daily_sales_svg(rows: list[tuple[str, date, Decimal]], last_day: date, days: int = DAYS) -> str:
    """The chart of `rows` (series, day, net sales) for the `days` days up to `last_day`."""
    first_day = last_day - timedelta(days=days - 1)
    series: dict[str, dict[date, float]] = {}
    for name, day, amount in rows:
        series.setdefault(name, {})[day] = float(amount or 0)
    top = _nice_ceiling(max([v for values in series.values() for v in values.values()] + [0]))
    bottom = min([v for values in series.values() for v in values.values()] + [0])  # refunds can exceed a day's sales
    span = top - bottom or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day - first_day).days / max(days - 1, 1)

    def y(value: float) -> float:
        return TOP + plot_h * (top - value) / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="24" font-size="16">Net sales per marketplace and day, last {days} days '
        f"(to {last_day.isoformat()}, each marketplace's own day)</text>",
    ]
    for i in range(5):  # the value axis: five steps
        value = bottom + span * i / 4
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,.2f}</text>')
    for offset in range(0, days, 5):  # a date every five days
        day = first_day + timedelta(days=offset)
        out.append(f'<text x="{x(day):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{day:%b %d}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#333"/>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#333"/>')
    if not series:
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">no sales in these '
            f"{days} days</text>"
        )
    for index, (name, values) in enumerate(sorted(series.items())):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(
            f"{x(first_day + timedelta(days=d)):.1f},{y(values.get(first_day + timedelta(days=d), 0)):.1f}"
            for d in range(days)
        )
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for day, value in sorted(values.items()):
            out.append(
                f'<circle cx="{x(day):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {day.isoformat()}: {value:,.2f}</title></circle>"
            )
        legend_y = TOP + 16 * index
        out.append(f'<rect x="{LEFT + plot_w + 16}" y="{legend_y - 9}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{LEFT + plot_w + 34}" y="{legend_y + 1}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_chart(con, path: Path, as_of: datetime, days: int = DAYS) -> Path:
    """Draw the daily_sales mart's last `days` days (to `as_of`'s day) into `path`, replaced whole."""
    last_day = as_of.date()
    rows = con.execute(SALES, [last_day, days, last_day]).fetchall()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with owner_only_files():
        temporary.write_text(daily_sales_svg(rows, last_day, days))
    os.replace(temporary, path)
    return path


def markdown_image(path: Path) -> str:
    """The chart inline, for a Dagster metadata value in Markdown."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![net sales per marketplace, last {DAYS} days](data:image/svg+xml;base64,{encoded})"
