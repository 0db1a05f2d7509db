"""Readers that yield a tabular source in chunks of string columns, whatever its format.

Every value arrives as text (or a datetime, from typed sources) so ids keep their leading zeros and
each column is parsed once, by the normaliser, with errors counted rather than raised.
"""

from __future__ import annotations

import bz2
import codecs
import csv
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

from reco.exceptions import ConfigurationError, InputError

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz", ".csv.bz2", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
VALID_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
DEFAULT_ENCODING = "utf-8-sig"  # UTF-8, with or without a byte-order mark


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


def check_columns(names: list[str], source: str) -> None:
    """Refuse a source whose header names a column twice: which one it meant cannot be known (pandas would
    quietly read the second as 'NAME.1' and ingest the first)."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise InputError(f"column {name!r} appears twice in the header (columns {seen[name]} and {position}); "
                             "rename or remove one", source=source, column=name)
        seen[name] = position


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


def read_file(path: Path, chunk_rows: int, delimiter: str | None = None, encoding: str | None = None
              ) -> Generator[Chunk, None, None]:
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
        yield from _read_csv(path, chunk_rows, delimiter, check_encoding(encoding))


def check_encoding(encoding: str | None) -> str:
    """A text encoding Python knows (default UTF-8, with or without a byte-order mark)."""
    if encoding is None:
        return DEFAULT_ENCODING
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ConfigurationError(f"unknown encoding {encoding!r}; e.g. utf-8, latin-1, cp1252, utf-16") from exc
    return encoding


def text_error(path: Path, encoding: str, exc: UnicodeDecodeError | None = None) -> InputError:
    """The error for a file that is not text in ``encoding``, naming the line of its first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with _open_binary(path) as fh:
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as bad:
                line += block[: bad.start].count(b"\n")
                shown = block[bad.start: bad.start + 1].hex().upper()
                context = block[max(0, bad.start - 20): bad.start + 20].decode(encoding, errors="replace")
                return InputError(
                    f"not {encoding} text: byte 0x{shown} in line {line} (data row {line - 1}) near {context!r}; give "
                    "the file's encoding with --encoding, e.g. latin-1 or cp1252",
                    source=str(path), row=line - 1)
            line += block.count(b"\n")
    return InputError(f"not {encoding} text: {exc}; give the file's encoding with --encoding", source=str(path))


def sniff_delimiter(path: Path, encoding: str = "utf-8-sig") -> str:
    """The most frequent of , ; TAB | in the header line (tab for .tsv files)."""
    if ".tsv" in path.name.lower():
        return "\t"
    try:
        with _open_text(path, encoding) as fh:
            header = fh.readline()
    except UnicodeDecodeError as exc:
        raise text_error(path, encoding, exc) from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read file: {exc}", source=str(path)) from exc
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_binary(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".zip"):
        archive = zipfile.ZipFile(path)
        return archive.open(archive.namelist()[0])
    return open(path, "rb")


def _open_text(path: Path, encoding: str) -> IO[str]:
    """The file as text: strictly decoded, so two customers 'Müller' and 'Mäller' in latin-1 never merge
    into one 'M\ufffdller'."""
    return io.TextIOWrapper(_open_binary(path), encoding=encoding)


def _read_csv(path: Path, chunk_rows: int, delimiter: str | None, encoding: str) -> Iterator[Chunk]:
    if delimiter is None:
        delimiter = sniff_delimiter(path, encoding)
    try:
        with _open_text(path, encoding) as fh:
            header = next(csv.reader([fh.readline()], delimiter=delimiter), [])
    except UnicodeDecodeError as exc:
        raise text_error(path, encoding, exc) from exc
    except (OSError, EOFError, csv.Error) as exc:
        raise InputError(f"cannot read file: {exc}", source=str(path)) from exc
    check_columns([h.strip() for h in header], str(path))
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            sep=delimiter,
            chunksize=chunk_rows,
            skipinitialspace=True,
            encoding=encoding,
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
    except UnicodeDecodeError as exc:
        raise text_error(path, encoding, exc) from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read file: {exc}", source=str(path)) from exc


def _read_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
        check_columns(list(pf.schema_arrow.names), str(path))
        first = 1
        for batch in pf.iter_batches(batch_size=chunk_rows):
            frame = _stringify(batch.to_pandas())
            yield Chunk(_index_from(frame, first), first)
            first += len(frame)
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"not a readable Parquet file: {exc}", source=str(path)) from exc


def safe_url(url: str) -> str:
    """A database URL with its password hidden, for messages, reports and the audit log."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "an unparseable URL"


def single_select(query: str) -> str:
    """``query`` if it is one SELECT (or WITH ... SELECT) statement, else an InputError: ingest reads a
    source, it never changes one. Semicolons inside quotes and comments do not count; one at the end is
    dropped."""
    statements, current, i, n = [], [], 0, len(query)
    while i < n:
        ch = query[i]
        if ch in "'\"":
            end = i + 1
            while end < n and not (query[end] == ch and not (end + 1 < n and query[end + 1] == ch)):
                end += 2 if query[end] == ch else 1
            current.append(query[i:end + 1])
            i = end + 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
        elif query.startswith("/*", i):
            end = query.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == ";":
            statements.append("".join(current))
            current, i = [], i + 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    statements = [st.strip() for st in statements if st.strip()]
    if len(statements) != 1:
        raise InputError(f"--sql must be one SELECT statement; got {len(statements)} statements")
    first = statements[0].split(None, 1)[0].upper() if statements[0] else ""
    if first not in ("SELECT", "WITH"):
        raise InputError(f"--sql must be a SELECT statement (or WITH ... SELECT); it begins with {first!r}")
    return query.strip().rstrip(";").rstrip()


def read_sql(query: str, source_url: str, chunk_rows: int) -> Generator[Chunk, None, None]:
    """Yield the result of ``query``, one SELECT, in chunks from a SQLite or PostgreSQL database opened
    read-only: SQLite with ``mode=ro``, PostgreSQL in a read-only transaction. So even a statement that
    slipped past ``single_select`` (a function that writes) cannot change the source."""
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    shown = safe_url(source_url)
    query = single_select(query)
    try:
        url = make_url(source_url)
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise InputError(f"database backend {backend!r} is not supported for --sql; valid: sqlite, postgresql",
                             source=shown)
        if backend == "postgresql" and url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if backend == "sqlite":
            if not url.database or url.database == ":memory:":
                raise InputError("--source-url names no SQLite database file", source=shown)
            if not Path(url.database).exists():
                raise InputError("SQLite database file not found", source=shown)
            url = url.set(database=f"file:{url.database}", query={**url.query, "mode": "ro", "uri": "true"})
        label = f"query on {shown}"
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise InputError(f"cannot use --source-url: {str(exc).replace(source_url, shown)}", source=shown) from exc
    if backend == "postgresql":
        @event.listens_for(engine, "begin")
        def _read_only(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")

    try:
        with engine.connect() as conn:
            first = 1
            for frame in pd.read_sql(text(query), conn, chunksize=chunk_rows):
                check_columns([str(c) for c in frame.columns], label)
                frame = _stringify(frame)
                yield Chunk(_index_from(frame, first), first)
                first += len(frame)
    except SQLAlchemyError as exc:
        raise InputError(f"query failed: {getattr(exc, 'orig', exc)}", source=label) from exc
    finally:
        engine.dispose()
