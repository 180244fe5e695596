"""Copying a namespace's content into another (namespace clone; manifests copy only the buckets' definitions).

Buckets and objects keep their ids in the copy: documents copied with the namespace carry `source_object_id` and
collections name their source buckets by id, and both must still point at the right thing in the clone. The ids are
unique within a namespace's partition, which is all they need. Blob bytes are copied under the target namespace's
prefix, so deleting either namespace leaves the other whole."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import content_prefix
from openpeek.ports import BlobStore
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.objects import ObjectRepository


class ContentCopier:
    def __init__(self, buckets: BucketRepository, objects: ObjectRepository, blobs: BlobStore) -> None:
        self._buckets = buckets
        self._objects = objects
        self._blobs = blobs

    def copy(self, source: Namespace, target: Namespace) -> dict[str, int]:
        """Every bucket, object and blob of `source` into `target`; returns how many buckets and objects."""
        old_prefix, new_prefix = content_prefix(source.namespace_id), content_prefix(target.namespace_id)
        buckets = objects = 0
        for bucket in self._buckets.list(source.org_id, source.namespace_id):
            self._buckets.create(replace(bucket, namespace_id=target.namespace_id, org_id=target.org_id, version=1))
            buckets += 1
            for obj in self._objects.iterate_bucket(source.org_id, source.namespace_id, bucket.bucket_id):
                blobs = []
                for blob in obj.blobs:
                    key = blob["blob_key"]
                    new_key = new_prefix + key[len(old_prefix):] if key.startswith(old_prefix) else key
                    if new_key != key:
                        self._blobs.put(new_key, self._blobs.get(key), blob.get("mime_type") or
                                        "application/octet-stream")
                    blobs.append({**blob, "blob_key": new_key})
                self._objects.create(replace(obj, namespace_id=target.namespace_id, org_id=target.org_id,
                                             blobs=tuple(blobs), version=1))
                objects += 1
        return {"buckets": buckets, "objects": objects}
