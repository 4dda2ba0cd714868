"""Tables for people: human column names, formatted numbers, local times, blank cells for nothing.

A page names the columns it shows and what each one holds (`Column`); `show_table` converts times
to the reader's time zone, scales durations and shares, picks the decimals that fit the values and
draws missing values as empty cells. Its CSV download keeps the machine-readable values under the
same human names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Literal, TypeAlias, assert_never
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from rag.text import zone_named
from ui.downloads import csv_download

# What a column holds, which decides how it is shown:
#   text; count (whole numbers, 1,234); number (decimals that fit its values); dollars ($0.0123);
#   share (0..1, shown as 42%); duration_ms (milliseconds, shown in ms or s); time (a moment, in
#   the reader's time zone); time_ago ("3 minutes ago"); day (a calendar date); flag (yes/no);
#   bytes (a size in bytes, shown as 12.3KB or 4.5MB).
Kind = Literal[
    "text",
    "id",
    "count",
    "number",
    "bytes",
    "dollars",
    "share",
    "progress",
    "duration_ms",
    "time",
    "time_ago",
    "day",
    "flag",
]
Width = Literal["small", "medium", "large"]

TIME_FORMAT = "D MMM YYYY, HH:mm"  # Moment.js; no offset: every time is already the reader's
DAY_FORMAT = "D MMM YYYY"
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Column:
    label: str
    kind: Kind = "text"
    help: str | None = None
    width: Width | None = None
    decimals: int | None = None  # a number's, when every row of its kind should read alike


# Frame column -> its label (a text column) or its Column; shown in this order.
Columns: TypeAlias = Mapping[str, str | Column]


def reader_timezone() -> tzinfo:
    """The browser's time zone (IANA name); UTC when it is unknown, as in tests."""
    return zone_named(st.context.timezone)


def local_times(values: pd.Series, zone: tzinfo) -> pd.Series:
    """Moments in `zone` (naive ones are taken as UTC); None and NaN become NaT."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(zone)


def fitting_decimals(
    values: pd.Series, *, significant: int, smallest: bool = False, at_least: int = 0, at_most: int = 4
) -> int:
    """Decimals that show `significant` digits of the typical (median) or `smallest` non-zero value."""
    sizes = pd.to_numeric(values, errors="coerce").dropna().abs()
    sizes = sizes[sizes > 0]
    if sizes.empty:
        return at_least
    anchor = float(sizes.min() if smallest else sizes.median())
    wanted = significant - 1 - math.floor(math.log10(anchor))
    return min(max(wanted, at_least), at_most)


def dollars(amount: float | None) -> str:
    """An amount for people: "$1,234.50", "$0.0123" (three significant digits below a dollar)."""
    if amount is None or math.isnan(amount):
        return "–"
    places = fitting_decimals(pd.Series([amount]), significant=3, at_least=2, at_most=6)
    whole, fraction = f"{amount:,.{places}f}".split(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def duration_unit(ms: pd.Series) -> Literal["ms", "s"]:
    """Seconds when the column's typical duration is a second or more."""
    typical = pd.to_numeric(ms, errors="coerce").dropna().median()
    return "s" if not pd.isna(typical) and typical >= 1000 else "ms"


def table_view(frame: pd.DataFrame, columns: Columns, zone: tzinfo) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame as shown: only `columns`, in their order, under their labels, values converted,
    and the column configuration that formats each one."""
    shown = pd.DataFrame(index=frame.index)
    config: dict[str, Any] = {}
    for name, spec in columns.items():
        column = spec if isinstance(spec, Column) else Column(spec)
        shown[column.label], config[column.label] = _shown_column(frame[name], column, zone)
    return shown.reset_index(drop=True), config


# What a stored value is in, named in a download's column: the cells are not converted there.
_STORED_UNITS: dict[Kind, str] = {
    "bytes": "bytes",
    "dollars": "$",
    "share": "0-1",
    "duration_ms": "ms",
    "time": "UTC",
    "time_ago": "UTC",
}


def download_frame(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """`columns` of the frame as stored (UTC times, ms, 0..1 shares), named by their labels and units."""
    stored = pd.DataFrame(index=frame.index)
    for name, spec in columns.items():
        kind = spec.kind if isinstance(spec, Column) else "text"
        values = local_times(frame[name], UTC) if kind in ("time", "time_ago") else frame[name]
        stored[_stored_label(spec)] = values
    return stored.reset_index(drop=True)


def show_table(
    frame: pd.DataFrame,
    columns: Columns,
    *,
    download: str | None = None,
    height: int | Literal["auto"] = "auto",
) -> None:
    """Draw `frame` for people; with `download`, a CSV button of the same columns (`<download>.csv`)."""
    view, config = table_view(frame, columns, reader_timezone())
    st.dataframe(view, hide_index=True, width="stretch", height=height, column_config=config, placeholder="")
    if download:
        csv_download(download_frame(frame, columns), download)


def _stored_label(spec: str | Column) -> str:
    if isinstance(spec, str):
        return spec
    unit = _STORED_UNITS.get(spec.kind)
    return f"{spec.label} ({unit})" if unit else spec.label


def _shown_column(values: pd.Series, column: Column, zone: tzinfo) -> tuple[pd.Series, Any]:
    common: dict[str, Any] = {"help": column.help, "width": column.width}
    config = st.column_config
    match column.kind:
        case "text":
            text = values.astype(object).where(values.notna(), None)
            return text, config.TextColumn(**common)
        case "flag":
            return values, config.CheckboxColumn(**common)
        case "id":
            return values, config.NumberColumn(format="%d", **common)
        case "count":
            return values, config.NumberColumn(format="%,.0f", **common)
        case "number":
            places = fitting_decimals(values, significant=3) if column.decimals is None else column.decimals
            return values, config.NumberColumn(format=f"%,.{places}f", **common)
        case "bytes":
            return pd.to_numeric(values, errors="coerce"), config.NumberColumn(format="bytes", **common)
        case "dollars":
            places = fitting_decimals(values, significant=3, smallest=True, at_least=2, at_most=6)
            return values, config.NumberColumn(format=f"$%,.{places}f", **common)
        case "share":
            percent = pd.to_numeric(values, errors="coerce") * 100
            places = fitting_decimals(percent, significant=2, smallest=True, at_most=1)
            return percent, config.NumberColumn(format=f"%.{places}f%%", **common)
        case "progress":
            return values, config.ProgressColumn(min_value=0, max_value=100, format="%d%%", **common)
        case "duration_ms":
            ms = pd.to_numeric(values, errors="coerce")
            if duration_unit(ms) == "s":
                places = fitting_decimals(ms / 1000, significant=2, at_most=1)
                return ms / 1000, config.NumberColumn(format=f"%,.{places}f s", **common)
            places = fitting_decimals(ms, significant=2, at_most=1)
            return ms, config.NumberColumn(format=f"%,.{places}f ms", **common)
        case "time" | "time_ago":
            shown_format = TIME_FORMAT if column.kind == "time" else "distance"
            zone_help = column.help or f"In your time zone ({zone})"
            return local_times(values, zone), config.DatetimeColumn(
                format=shown_format, help=zone_help, width=column.width
            )
        case "day":
            return values, config.DateColumn(format=DAY_FORMAT, **common)
        case _:
            assert_never(column.kind)
