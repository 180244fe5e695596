"""The cluster map's compact binary form: what a browser reads straight into typed arrays, instead of parsing megabytes
of JSON.

Layout (all little-endian):

    bytes 0..7     magic b"OPMAP\\x00" and the format version as uint16 (1)
    bytes 8..11    uint32: length H of the header, a multiple of 4
    bytes 12..     the header: UTF-8 JSON, padded with spaces to H bytes
    then           the columns the header lists, in order, each at a 4-byte aligned offset from the end of the header

The header carries what the points need to be drawn (run, dimensions, the page's offset and count, the cluster ids the
`cluster` column indexes, the centroids with their labels) and `columns`: [{name, type, byte_offset, byte_length}],
type float32 (x, y, z), int32 (cluster: an index into cluster_ids, -1 for noise) or utf8-lines (document_id: the
ids joined by newlines)."""

from __future__ import annotations

import json
import struct
import sys
from array import array
from typing import Any, Sequence

MAGIC = b"OPMAP\x00"
VERSION = 1


def _little_endian(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _padded(data: bytes, fill: bytes = b"\x00") -> bytes:
    return data + fill * (-len(data) % 4)


def pack(header: dict[str, Any], columns: Sequence[tuple[str, Any]]) -> bytes:
    """`columns`: (name, array('f') | array('i') | list[str]) in the order they are written."""
    described: list[dict[str, Any]] = []
    bodies: list[bytes] = []
    offset = 0
    for name, values in columns:
        if isinstance(values, array):
            kind = {"f": "float32", "i": "int32"}[values.typecode]
            body = _little_endian(values)
        else:
            kind = "utf8-lines"
            body = "\n".join(values).encode("utf-8")
        described.append({"name": name, "type": kind, "byte_offset": offset, "byte_length": len(body)})
        body = _padded(body)
        bodies.append(body)
        offset += len(body)
    encoded = _padded(json.dumps({**header, "columns": described}, separators=(",", ":")).encode("utf-8"), b" ")
    return b"".join([MAGIC, struct.pack("<HI", VERSION, len(encoded)), encoded, *bodies])


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reader of the same format (tests and tools): (header, {name: array | list[str]})."""
    if data[:6] != MAGIC:
        raise ValueError("not a packed cluster map")
    version, length = struct.unpack_from("<HI", data, 6)
    if version != VERSION:
        raise ValueError(f"packed map version {version} is not {VERSION}")
    header = json.loads(data[12:12 + length])
    start = 12 + length
    columns: dict[str, Any] = {}
    for column in header["columns"]:
        body = data[start + column["byte_offset"]:start + column["byte_offset"] + column["byte_length"]]
        if column["type"] == "utf8-lines":
            columns[column["name"]] = body.decode("utf-8").split("\n") if body else []
        else:
            values = array("f" if column["type"] == "float32" else "i")
            values.frombytes(body)
            if sys.byteorder == "big":
                values.byteswap()
            columns[column["name"]] = values
    return header, columns
