"""Retriever stages, one module per stage (see registry.py for how they are found)."""
