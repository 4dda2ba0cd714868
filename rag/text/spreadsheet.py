"""CSV for people to open in a spreadsheet: no cell is read as a formula.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which
some strip first) as a formula: `=HYPERLINK(...)` in a question would reach whoever opens the
download. Per OWASP's CSV injection advice such text cells get a leading `'`, which spreadsheets
show as text. Numbers stay numbers: only text cells, and column names, are changed. Rows end in
CRLF (RFC 4180), so a cell holding a lone carriage return is quoted, not split into a new row.
"""

from __future__ import annotations

import pandas as pd

# The fullwidth forms too: some spreadsheets in CJK locales read them as the ASCII ones.
_FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")


def neutralised(value: object) -> object:
    """`value` with a leading `'` if it is text a spreadsheet would read as a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in _FORMULA_STARTS or value.lstrip()[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV without its index, every text cell and column name neutralised."""
    safe = frame.copy()
    safe.columns = pd.Index([neutralised(c) for c in frame.columns])
    for i in range(safe.shape[1]):
        column = safe.iloc[:, i]
        if not (
            pd.api.types.is_numeric_dtype(column)
            or pd.api.types.is_datetime64_any_dtype(column)
            or pd.api.types.is_timedelta64_dtype(column)
        ):
            safe.isetitem(i, column.astype(object).map(neutralised).to_numpy(dtype=object))
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
