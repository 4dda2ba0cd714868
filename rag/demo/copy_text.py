"""COPY's text format: NULL, escaping, and columns of numbers, flags and timestamps written as text."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

NULL = "\\N"  # COPY's NULL

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def copy(cursor: Any, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    if lines:
        data = io.StringIO("\n".join(lines) + "\n")
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", data)


def timestamps(epoch_s: Floats) -> list[str]:
    micros = (epoch_s * 1e6).astype(np.int64).astype("datetime64[us]")
    stamps: list[str] = np.datetime_as_string(micros, unit="ms", timezone="UTC").tolist()
    return stamps


def fixed(values: Floats, digits: int, *, where: Bools | None = None) -> list[str]:
    texts = [f"{x:.{digits}f}" for x in values.tolist()]
    if where is not None:
        texts = [t if keep else NULL for t, keep in zip(texts, where.tolist(), strict=True)]
    return texts


def flags(values: Bools) -> list[str]:
    return ["t" if v else "f" for v in values.tolist()]


def esc(text: str) -> str:
    """A value for COPY's text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def num(value: Decimal | None) -> str:
    return NULL if value is None else str(value)
