"""CSV files that a spreadsheet opens without running anything in them (CSV injection).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
as a formula, and a file name or a name typed by a student can start so. OWASP's advice is to
write such a text cell with a single quote in front, which spreadsheets read as "this is text".
Numbers, numbers written as text (``-1``) and Otter's ``--`` placeholder are left as they are.
Every CSV the kit writes goes through ``to_csv``; ``read_csv`` takes the quote off again, so the
kit reads back exactly what it wrote.
"""

import re
from pathlib import Path
from typing import overload

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HARMLESS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|--")


def needs_quote(text: str) -> bool:
    """A cell a spreadsheet would run, or one that already starts with the quote this module adds
    (so that reading back never takes off a quote that was part of the text)."""
    if text.startswith("'"):
        return needs_quote(text[1:])
    return text.startswith(FORMULA_STARTS) and not HARMLESS.fullmatch(text)


def as_text(cell):
    return "'" + cell if isinstance(cell, str) and needs_quote(cell) else cell


def from_text(cell):
    return cell[1:] if isinstance(cell, str) and cell.startswith("'") and needs_quote(cell[1:]) else cell


def text_cells(table: pd.DataFrame, change) -> pd.DataFrame:
    """``table`` with ``change`` applied to its column names and to every cell of its columns that are not numbers."""
    table = table.rename(columns=change)
    text = [not pd.api.types.is_numeric_dtype(dtype) for dtype in table.dtypes]
    table.iloc[:, text] = table.iloc[:, text].map(change)
    return table


@overload
def to_csv(table: pd.DataFrame, path: None = None) -> str: ...
@overload
def to_csv(table: pd.DataFrame, path: Path) -> None: ...
def to_csv(table: pd.DataFrame, path: Path | None = None) -> str | None:
    """``table.to_csv(path, index=False)``, with no cell a spreadsheet would run."""
    return text_cells(table, as_text).to_csv(path, index=False)


def read_csv(path: Path, **options) -> pd.DataFrame:
    """``pd.read_csv``, with the quotes that ``to_csv`` added taken off."""
    return text_cells(pd.read_csv(path, **options), from_text)
