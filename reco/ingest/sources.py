"""Readers that yield a tabular source in chunks of string columns, whatever its format.

Every value arrives as text (or a datetime, from typed sources) so ids keep their leading zeros and
each column is parsed once, by the normaliser, with errors counted rather than raised.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow.parquet as pq

from reco.exceptions import InputError

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz", ".csv.bz2", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
VALID_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES


@dataclass(frozen=True)
class Chunk:
    """A block of source rows; ``first_row`` is the 1-based data-row number of its first row."""

    frame: pd.DataFrame
    first_row: int


def _stringify(df: pd.DataFrame) -> pd.DataFrame:
    """Typed columns -> text; integer-valued floats lose their '.0' (ids read via NULL-able floats)."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_string_dtype(s):
            out[col] = s
        elif pd.api.types.is_float_dtype(s):
            finite = s.dropna()
            if len(finite) and (finite == finite.round()).all() and finite.abs().max() < 2**53:
                out[col] = s.astype("Int64").astype(object).where(s.notna(), None).map(
                    lambda v: None if v is None else str(v)
                )
            else:
                out[col] = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else repr(v))
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.map(lambda v: None if pd.isna(v) else ("true" if v else "false"))
        else:
            out[col] = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
    return pd.DataFrame(out, index=df.index)


def _index_from(df: pd.DataFrame, first_row: int) -> pd.DataFrame:
    df.index = pd.RangeIndex(first_row, first_row + len(df))
    return df


def file_kind(path: Path) -> str:
    """'csv' or 'parquet' from the file name, or an InputError listing what is understood."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputError(
        f"unsupported file type; valid endings: {', '.join(VALID_SUFFIXES)}", source=str(path)
    )


def read_file(path: Path, chunk_rows: int, delimiter: str | None = None) -> Generator[Chunk, None, None]:
    """Yield ``path`` in chunks; raises InputError for a missing, empty or unreadable file."""
    if not path.exists():
        raise InputError("file not found", source=str(path))
    if path.is_dir():
        raise InputError("is a directory, not a file (only presets such as 'dunnhumby' read a folder)",
                         source=str(path))
    kind = file_kind(path)
    if path.stat().st_size == 0:
        raise InputError("file is empty", source=str(path))
    if kind == "parquet":
        yield from _read_parquet(path, chunk_rows)
    else:
        yield from _read_csv(path, chunk_rows, delimiter)


def sniff_delimiter(path: Path) -> str:
    """The most frequent of , ; TAB | in the header line (tab for .tsv files)."""
    if ".tsv" in path.name.lower():
        return "\t"
    try:
        with _open_text(path) as fh:
            header = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", source=str(path)) from exc
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_text(path: Path) -> IO[str]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", encoding="utf-8-sig", errors="replace")
    if name.endswith(".zip"):
        archive = zipfile.ZipFile(path)
        return io.TextIOWrapper(archive.open(archive.namelist()[0]), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def _read_csv(path: Path, chunk_rows: int, delimiter: str | None) -> Iterator[Chunk]:
    if delimiter is None:
        delimiter = sniff_delimiter(path)
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            sep=delimiter,
            chunksize=chunk_rows,
            skipinitialspace=True,
            encoding="utf-8-sig",
            encoding_errors="replace",
        )
        first = 1
        for frame in reader:
            frame.columns = [str(c).strip() for c in frame.columns]
            yield Chunk(_index_from(frame, first), first)
            first += len(frame)
    except pd.errors.EmptyDataError as exc:
        raise InputError("file is empty (no header row)", source=str(path)) from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"not a readable CSV file: {exc}", source=str(path)) from exc
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", source=str(path)) from exc


def _read_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
        first = 1
        for batch in pf.iter_batches(batch_size=chunk_rows):
            frame = _stringify(batch.to_pandas())
            yield Chunk(_index_from(frame, first), first)
            first += len(frame)
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"not a readable Parquet file: {exc}", source=str(path)) from exc


def read_sql(query: str, source_url: str, chunk_rows: int) -> Generator[Chunk, None, None]:
    """Yield the result of ``query`` on any SQLAlchemy database in chunks."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        url = make_url(source_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        label = f"query on {url.render_as_string(hide_password=True)}"
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise InputError(f"cannot use --source-url: {exc}", source=source_url) from exc
    try:
        with engine.connect() as conn:
            first = 1
            for frame in pd.read_sql(text(query), conn, chunksize=chunk_rows):
                frame = _stringify(frame)
                yield Chunk(_index_from(frame, first), first)
                first += len(frame)
    except SQLAlchemyError as exc:
        raise InputError(f"query failed: {getattr(exc, 'orig', exc)}", source=label) from exc
    finally:
        engine.dispose()
