"""Managed content: buckets, the objects they hold (blobs in the BlobStore, metadata in the table) and uploads."""
