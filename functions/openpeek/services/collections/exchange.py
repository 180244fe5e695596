"""A collection's documents in and out (CollectionsApi export / import, import/infer, import/validate-mapping).

Export reads the collection's documents wherever its tier keeps them, writes one file (JSONL, CSV or Parquet; or
WebDataset tar shards) and, when asked, a separate vectors file into the blob store under the namespace's prefix, and
answers with download URLs good for an hour. The files stay until the collection (or its namespace) is deleted.
Writing into the caller's own storage through a "storage connection" is not offered: this deployment has no storage
connections, so a `destination` is refused with 400.

Import rebuilds documents from one external export with a validated mapping (domain/imports.py) and writes them
through the collection's document writer, the one a hand-written document goes through.
"""

from __future__ import annotations

import csv
import io
import re
import tarfile
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import orjson

from openpeek.domain import imports as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, DomainError
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject
from openpeek.ports import BlobStore
from openpeek.repositories.objects import ObjectRepository
from openpeek.services.collections.collections import CollectionService
from openpeek.services.collections.documents import MAX_SCAN, CollectionDocumentService
from openpeek.services.content.objects import ObjectService

MAX_EXPORT_DOCUMENTS = MAX_SCAN  # one export is built in memory: beyond this, narrow it with filters or sample_size
MAX_SHARDS_LISTED = 200
MAX_MEDIA_MEMBER_BYTES = 512 * 1024 * 1024
MAX_IMPORT_DOCUMENTS = 10_000
LINEAGE_COLUMNS = ("lineage_chain", "source_content_hash", "document_created_at")
_CONTENT_TYPES = {"json": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet",
                  "webdataset": "application/x-tar"}
_EXTENSIONS = {"json": "jsonl", "csv": "csv", "parquet": "parquet"}
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")


def export_prefix(namespace_id: str, collection_id: str) -> str:
    """Under the namespace's own prefix, so deleting the namespace deletes its exports."""
    return f"namespaces/{namespace_id}/exports/{collection_id}/"


@dataclass(frozen=True)
class _Written:
    key: str
    size: int


class CollectionExchange:
    def __init__(self, collections: CollectionService, documents: Callable[[], CollectionDocumentService],
                 blobs: BlobStore, objects: ObjectRepository, object_service: ObjectService | None) -> None:
        self._collections = collections
        self._documents = documents  # the document service in force: the tiering wiring replaces it at start-up
        self._blobs = blobs
        self._objects = objects
        self._object_service = object_service

    def forget_collection(self, namespace: Namespace, collection: Collection) -> None:
        """A deleted collection's exports go with it."""
        self._blobs.delete_prefix(export_prefix(namespace.namespace_id, collection.collection_id))

    # -- export ---------------------------------------------------------------------------------------------------

    def export(self, namespace: Namespace, identifier: str, request: dict[str, Any], *,
               base_url: str) -> dict[str, Any]:
        if request.get("destination") is not None:
            raise BadRequest("this deployment has no storage connections to write an export into; leave out "
                             "destination and fetch the files from download_url", code="destination_unsupported",
                             details={"field": "destination"})
        fmt = request.get("format") or ("parquet" if _parquet_available() else "json")
        if fmt == "parquet" and not _parquet_available():
            raise BadRequest("Parquet export is not available in this runtime (pyarrow is not installed); ask for "
                             "json or csv", code="export_format_unavailable", details={"format": "parquet"})
        if (request.get("include_media") or request.get("samples_per_shard") not in (None, 1000)) and \
                fmt != "webdataset":
            raise BadRequest("include_media and samples_per_shard apply to the webdataset format only",
                             code="invalid_export", details={"format": fmt})
        collection = self._collections.get(namespace, identifier)
        include_vectors = bool(request.get("include_vectors"))
        documents = self._read(namespace, collection.collection_id, request.get("filters"), include_vectors,
                               request.get("sample_size"))
        rows = [_row(document, request.get("select_fields"), bool(request.get("include_lineage")))
                for document in documents]
        folder = f"{export_prefix(namespace.namespace_id, collection.collection_id)}{new_id('exp')}/"
        name = _UNSAFE_KEY.sub("_", collection.collection_name)
        answer: dict[str, Any] = {"format": fmt, "document_count": len(rows), "exported_at": isoformat(utcnow())}
        if fmt == "webdataset":
            answer.update(self._webdataset(namespace, folder, rows, documents, request, base_url))
        else:
            written = self._put(folder + f"{name}.{_EXTENSIONS[fmt]}", _encode(fmt, rows), fmt)
            answer.update(download_url=self._url(written.key, fmt, base_url), s3_path=self._blobs.uri(written.key),
                          file_size_bytes=written.size)
        if include_vectors:
            vector_format = "json" if fmt == "webdataset" else fmt
            vector_rows = [{"document_id": document["document_id"], **(document.get("vectors") or {})}
                           for document in documents]
            written = self._put(folder + f"{name}_vectors.{_EXTENSIONS[vector_format]}",
                                _encode(vector_format, vector_rows), vector_format)
            answer.update(vectors_download_url=self._url(written.key, vector_format, base_url),
                          vectors_s3_path=self._blobs.uri(written.key))
        return answer

    def _read(self, namespace: Namespace, collection_id: str, filters: dict[str, Any] | None, with_vectors: bool,
              sample_size: int | None) -> list[dict[str, Any]]:
        cap = min(sample_size or MAX_EXPORT_DOCUMENTS, MAX_EXPORT_DOCUMENTS)
        found = []
        for document in self._documents().each(namespace, collection_id, filters=filters, with_vectors=with_vectors):
            if len(found) == cap:
                if sample_size is None or sample_size > MAX_EXPORT_DOCUMENTS:
                    raise BadRequest(f"an export holds at most {MAX_EXPORT_DOCUMENTS:,} documents; narrow it with "
                                     "filters or set sample_size", code="export_too_large",
                                     details={"max": MAX_EXPORT_DOCUMENTS})
                break
            found.append(document)
        return found

    def _webdataset(self, namespace: Namespace, folder: str, rows: list[dict[str, Any]],
                    documents: list[dict[str, Any]], request: dict[str, Any], base_url: str) -> dict[str, Any]:
        per_shard = request.get("samples_per_shard") or 1000
        with_media = bool(request.get("include_media"))
        media = {"samples_with_media": 0, "samples_without_media": 0, "members_written": 0,
                 "members_skipped_too_large": 0, "objects_not_found": 0, "download_failures": 0, "media_bytes": 0}
        shards, total = [], 0
        count = max(1, -(-len(rows) // per_shard))
        for number in range(count):
            part = range(number * per_shard, min(len(rows), (number + 1) * per_shard))
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for position in part:
                    key = _UNSAFE_KEY.sub("_", str(documents[position]["document_id"]))
                    _add_member(tar, f"{key}.json", orjson.dumps(rows[position], default=str))
                    if with_media:
                        self._add_media(namespace, tar, key, documents[position], media)
            filename = f"documents-{number:06d}.tar"
            written = self._put(folder + filename, buffer.getvalue(), "webdataset")
            total += written.size
            shards.append({"filename": filename, "s3_path": self._blobs.uri(written.key),
                           "download_url": self._url(written.key, "webdataset", base_url),
                           "sample_count": len(part), "file_size_bytes": written.size})
        answer = {"download_url": shards[0]["download_url"], "s3_path": self._blobs.uri(folder),
                  "file_size_bytes": total, "shard_count": count,
                  "shard_pattern": f"documents-{{000000..{count - 1:06d}}}.tar", "shards": shards[:MAX_SHARDS_LISTED]}
        if with_media:
            answer["media"] = media
        return answer

    def _add_media(self, namespace: Namespace, tar: tarfile.TarFile, key: str, document: dict[str, Any],
                   media: dict[str, int]) -> None:
        """The bytes of the document's root object beside its row; every outcome is counted."""
        obj = self._root_object(namespace, document)
        blob = next(iter(obj.blobs), None) if obj is not None else None
        if obj is None or blob is None:
            media["samples_without_media"] += 1
            if document.get("root_object_id"):
                media["objects_not_found"] += 1
            return
        if int(blob.get("size_bytes") or 0) > MAX_MEDIA_MEMBER_BYTES:
            media["members_skipped_too_large"] += 1
            media["samples_without_media"] += 1
            return
        try:
            data = self._blobs.get(blob["blob_key"])
        except (DomainError, DependencyUnavailable, OSError):
            media["download_failures"] += 1
            media["samples_without_media"] += 1
            return
        _add_member(tar, f"{key}.{_extension(blob)}", data)
        media["samples_with_media"] += 1
        media["members_written"] += 1
        media["media_bytes"] += len(data)

    def _root_object(self, namespace: Namespace, document: dict[str, Any]) -> BucketObject | None:
        object_id, bucket_id = document.get("root_object_id"), document.get("root_bucket_id")
        if not object_id or not bucket_id:
            return None
        return self._objects.get(namespace.org_id, namespace.namespace_id, str(bucket_id), str(object_id))

    def _put(self, key: str, data: bytes, fmt: str) -> _Written:
        self._blobs.put(key, data, _CONTENT_TYPES[fmt])
        return _Written(key, len(data))

    def _url(self, key: str, fmt: str, base_url: str) -> str:
        url = self._object_service.blob_download_url(key, _CONTENT_TYPES[fmt], base_url=base_url) \
            if self._object_service is not None else None
        if url is None:
            raise DependencyUnavailable("this deployment hands out no download URLs")
        return url

    # -- import ---------------------------------------------------------------------------------------------------

    def infer(self, request: dict[str, Any]) -> dict[str, Any]:
        rows = (request.get("sample_rows") or [])[: request.get("sample_size") or 100]
        fields, warnings = rules.infer_fields(rows, request.get("known_index_dims"))
        if request.get("source_schema"):
            warnings.append("source_schema is advisory: the types above come from the sample rows")
        return {"fields": fields, "warnings": warnings}

    def validate(self, request: dict[str, Any]) -> dict[str, Any]:
        errors = rules.validate_mapping(rules.ImportMapping.parse(request["mapping"]), request.get("source_fields"),
                                        request.get("known_index_dims"))
        return {"ok": not errors, "errors": errors}

    def import_export(self, namespace: Namespace, identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        """Rebuild the export's documents, check the mapping against the collection's vector indexes, and write
        them (nothing on dry_run). A mapping with problems is refused whole (400, each problem named)."""
        collection = self._collections.get(namespace, identifier)
        mapping = rules.ImportMapping.parse(request["mapping"])
        dims = {index.vector_name: index.dimension for index in collection.vector_indexes}
        dims.update({index.feature_uri: index.dimension for index in collection.vector_indexes})
        dims.update({spec.name: spec.dimension for spec in namespace.vector_indexes() if not spec.sparse})
        problems = rules.validate_mapping(mapping, None, dims)
        if problems:
            raise BadRequest(f"the mapping has {len(problems)} problem(s): {problems[0]['error']}",
                             code="invalid_mapping", details={"errors": problems})
        if request.get("export") is None:
            raise BadRequest("send the export to import", code="invalid_import", details={"field": "export"})
        explode = rules.Explode.parse(request.get("explode"))
        rebuilt, errors = rules.reconstruct(request["export"], mapping, explode, collection.collection_id)
        if len(rebuilt) > MAX_IMPORT_DOCUMENTS:
            raise BadRequest(f"one import writes at most {MAX_IMPORT_DOCUMENTS:,} documents; this export makes "
                             f"{len(rebuilt):,}", code="import_too_large", details={"max": MAX_IMPORT_DOCUMENTS})
        dry_run = bool(request.get("dry_run"))
        written, refused = self._documents().write_imported(
            namespace, collection.collection_id, [(doc.position, doc.document_id, doc.body) for doc in rebuilt],
            dry_run=dry_run)
        errors += refused
        warnings = []
        if request.get("seed_ledger"):
            warnings.append("seed_ledger has no effect here: a batch skips an object by the documents it already "
                            "wrote, not by a ledger")
        return {"imported": written, "reconstructed": len(rebuilt) - len(refused),
                "skipped": len(errors), "dry_run": dry_run, "errors": sorted(errors, key=lambda e: e["row"]),
                "warnings": warnings}


# -- row shaping and encoders ----------------------------------------------------------------------------------------


def _row(document: dict[str, Any], select: list[str] | None, lineage: bool) -> dict[str, Any]:
    view = {key: value for key, value in document.items() if key != "vectors"}
    if select:
        row: dict[str, Any] = {"document_id": view.get("document_id")}
        for path in select:
            row[path] = rules.lookup(view, path)
    else:
        row = view
    if lineage:
        row["lineage_chain"] = view.get("lineage_chain") or []
        row["source_content_hash"] = view.get("content_hash")
        row["document_created_at"] = view.get("created_at")
    return row


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _encode(fmt: str, rows: list[dict[str, Any]]) -> bytes:
    """JSON lines keep objects and lists as they are; CSV and Parquet carry them as JSON text (see _cell)."""
    if fmt == "json":
        return b"".join(orjson.dumps(row, default=str) + b"\n" for row in rows)
    columns = _columns(rows)
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
        return text.getvalue().encode()
    return _parquet(columns, rows)


def _cell(value: Any) -> Any:
    """A CSV or Parquet cell: objects and lists as JSON text, so every row of a column keeps one type."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, default=str).decode()
    return value


def _parquet(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        kinds = {type(value) for value in values if value is not None}
        numeric = all(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
                      for value in values)
        if kinds == {list} and all(value is None or all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in value) for value in values):
            arrays[column] = pa.array(values, type=pa.list_(pa.float32()))  # a vector column
        elif kinds and numeric and float in kinds:
            arrays[column] = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        elif len(kinds) <= 1 and kinds <= {int, str, bool}:
            arrays[column] = pa.array(values)
        else:  # objects, lists and mixed types as JSON text: one type per column
            arrays[column] = pa.array([None if v is None else v if isinstance(v, str) else
                                       orjson.dumps(v, default=str).decode() for v in values], type=pa.string())
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays) if arrays else pa.table({"document_id": pa.array([], pa.string())}), sink)
    return sink.getvalue()


def _parquet_available() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _extension(blob: dict[str, Any]) -> str:
    filename = blob.get("filename") or ""
    if "." in filename:
        return _UNSAFE_KEY.sub("_", filename.rsplit(".", 1)[1].lower()) or "bin"
    mime = (blob.get("mime_type") or "").split(";")[0]
    return {"text/plain": "txt", "image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf",
            "video/mp4": "mp4", "audio/mpeg": "mp3"}.get(mime, "bin")
