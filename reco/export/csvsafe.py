"""CSV cells that a spreadsheet would run as a formula, neutralised (OWASP's rule for CSV injection).

A CRM user opens an export in a spreadsheet; a product name such as ``=cmd|' /C calc'!A0`` would run
there. Every text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading single quote, which spreadsheets show as text. Only CSV is changed: Parquet holds typed
values that no spreadsheet evaluates, so it keeps the exact text.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that could start a formula quoted (numbers are left as they are)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(neutralise)
    return out
