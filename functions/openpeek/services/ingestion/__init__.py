"""Ingestion: batches turn a bucket's objects into a collection's documents through the collection's feature
extractor (text chunks and embeddings, PDF text, rows that bring their own vectors)."""
