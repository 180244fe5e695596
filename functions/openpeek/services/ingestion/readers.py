"""File formats an extractor reads from an object's blob: PDF text per page, JSONL and parquet rows. Bytes in,
Python values out; an unreadable file raises UnreadableBlob naming what is wrong with it."""

from __future__ import annotations

import io
import json
from typing import Any, Iterator

PDF_MAGIC = b"%PDF-"


class UnreadableBlob(ValueError):
    pass


def is_pdf(data: bytes, mime_type: str | None = None, filename: str | None = None) -> bool:
    return (data[:1024].lstrip().startswith(PDF_MAGIC) or (mime_type or "").lower() == "application/pdf"
            or (filename or "").lower().endswith(".pdf"))


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page, in order (page 1 first); a page without text gives ''."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableBlob("the PDF is encrypted")
        return [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as error:
        if isinstance(error, UnreadableBlob):
            raise
        raise UnreadableBlob(f"the PDF cannot be read: {error}") from error


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableBlob(f"the text is not UTF-8 (byte {error.start})") from error


def row_format(data: bytes, declared: str | None, filename: str | None, mime_type: str | None) -> str:
    if declared:
        return declared
    name = (filename or "").lower()
    if name.endswith(".parquet") or data[:4] == b"PAR1":
        return "parquet"
    if name.endswith((".jsonl", ".ndjson")) or (mime_type or "").lower() in ("application/x-ndjson",
                                                                             "application/jsonl"):
        return "jsonl"
    raise UnreadableBlob("the object is neither JSONL nor parquet (set row_format, or name the file .jsonl or "
                         ".parquet)")


def jsonl_rows(data: bytes) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UnreadableBlob(f"line {number} is not JSON: {error.msg}") from error
        if not isinstance(row, dict):
            raise UnreadableBlob(f"line {number} is not a JSON object")
        yield row


def parquet_columns(data: bytes) -> tuple[int, dict[str, Any]]:
    """(row count, {column: pyarrow array}) of a parquet file; vector columns stay arrow arrays so that a hundred
    thousand rows are converted in one numpy step rather than per value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise UnreadableBlob(f"the parquet file cannot be read: {error}") from error
    return table.num_rows, {name: table.column(name).combine_chunks() for name in table.column_names}
