"""Top rows of the marketing marts from the local DuckDB warehouse (the end of `make demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

QUERIES: dict[str, str] = {
    "attribution by channel (conversions credited per model)": """
        select channel,
               round(sum(first_touch_credit), 2) as first_touch,
               round(sum(last_touch_credit), 2) as last_touch,
               round(sum(linear_credit), 2) as linear,
               round(sum(position_based_credit), 2) as position_based,
               round(sum(time_decay_credit), 2) as time_decay,
               round(sum(linear_commission), 2) as linear_commission
        from marketing.attribution group by channel order by linear desc limit {rows}""",
    "campaign effectiveness (all days)": """
        select utm_source, utm_medium, utm_campaign, sum(sessions) as sessions,
               sum(engaged_sessions) as engaged, sum(page_views) as page_views,
               sum(affiliate_clicks) as clicks, sum(conversions) as conversions,
               round(sum(commission), 2) as commission,
               round(sum(commission) / nullif(sum(affiliate_clicks), 0), 2) as epc
        from marketing.campaign_effectiveness group by 1, 2, 3 order by commission desc limit {rows}""",
}


def table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A plain aligned text table."""
    cells = [columns, *[["" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(db_path: Path, rows: int = 5) -> str:
    import duckdb

    out: list[str] = []
    with duckdb.connect(str(db_path), read_only=True) as con:
        for title, sql in QUERIES.items():
            result = con.execute(sql.format(rows=int(rows)))
            columns = [d[0] for d in result.description or []]
            out += [title, table(columns, result.fetchall()), ""]
    return "\n".join(out)
