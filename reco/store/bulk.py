"""Bulk work shared by every store module: a DataFrame staged in a temp table, then merged into its
table with one ``INSERT ... SELECT ... ON CONFLICT`` (SQLite and PostgreSQL share the SQL, and the exact
number of rows changed is known; on PostgreSQL the staging table is filled with ``COPY``), and reads of
the rows whose column is in a long list of values, a bounded ``IN`` list at a time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

IN_CHUNK = 1_000  # values bound in one IN list (SQLite limits bound parameters)


def rows_in(conn: Connection, stmt: Select, column: ColumnElement, values: Sequence[object]) -> list[Row]:
    """The rows of ``stmt`` whose ``column`` is one of ``values`` (repeats read once), ``IN_CHUNK`` values a
    query, in the statement's order within each chunk."""
    ids = list(dict.fromkeys(values))
    return [row for start in range(0, len(ids), IN_CHUNK)
            for row in conn.execute(stmt.where(column.in_(ids[start:start + IN_CHUNK]))).fetchall()]


def rows(df: pd.DataFrame, columns: Sequence[str], sqlite: bool) -> list[tuple]:
    """DataFrame -> list of DB-API tuples (NaN/NaT -> None; timestamps as SQLite text where needed).

    Column by column in numpy, then zipped: pandas' where/astype/itertuples cost ~2 ms even for one row.
    """
    values = []
    for col in columns:
        series = df[col]
        if sqlite and pd.api.types.is_datetime64_any_dtype(series):
            stamps = series.to_numpy(dtype="datetime64[us]")
            text = np.char.replace(np.datetime_as_string(stamps, unit="us"), "T", " ").astype(object)
            text[np.isnat(stamps)] = None
            values.append(text)
            continue
        array = series.to_numpy(dtype=object)
        missing = pd.isna(array)
        if missing.any():
            array[missing] = None
        values.append(array)
    return list(zip(*(v.tolist() for v in values), strict=True))


def stage_insert(conn: Connection, table: str, columns: Sequence[str], df: pd.DataFrame, on_conflict: str) -> int:
    """Load ``df`` into a temp staging table, then merge it into ``table``; returns rows changed."""
    if df.empty:
        return 0
    stage = f"reco_stage_{table}"
    cols = ", ".join(columns)
    sqlite = conn.dialect.name == "sqlite"
    values = rows(df, columns, sqlite)
    if sqlite:
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT * FROM {table} WHERE 0")
        conn.exec_driver_sql(f"DELETE FROM {stage}")
        marks = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {stage} ({cols}) VALUES ({marks})", values)
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DROP")
        conn.exec_driver_sql(f"TRUNCATE {stage}")
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
    result = conn.exec_driver_sql(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} WHERE true {on_conflict}"
    )
    return int(result.rowcount)
