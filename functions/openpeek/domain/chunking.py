"""Text chunking for the text extractor: a text cut into chunks counted in the `split_by` unit (characters, words,
sentences, paragraphs), `chunk_size` units per chunk, consecutive chunks sharing `chunk_overlap` units.

Pure: strings in, strings out. Each chunk keeps the character offset it starts at so a document can point back into
its source text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openpeek.domain.errors import BadRequest

SPLIT_STRATEGIES = ("characters", "words", "sentences", "paragraphs", "pages", "none")
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 0
MAX_CHUNK_SIZE = 10_000  # the SDK's TextExtractorParams bounds
MAX_CHUNK_OVERLAP = 5_000

_WORD = re.compile(r"\S+")
# A sentence ends at . ! or ? (optionally followed by closing quotes or brackets) before whitespace or the end.
_SENTENCE = re.compile(r"[^.!?]*(?:[.!?]+[\"'”’)\]]*|$)", re.S)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True)
class ChunkingPlan:
    split_by: str = "none"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP

    @staticmethod
    def from_parameters(parameters: dict | None) -> "ChunkingPlan":
        """The plan a collection's extractor parameters describe; a bad value is a 400 naming the parameter.
        No `split_by` (or 'none') keeps each text whole: one document per text."""
        parameters = parameters or {}
        split_by = parameters.get("split_by") or "none"
        size = parameters.get("chunk_size", DEFAULT_CHUNK_SIZE)
        overlap = parameters.get("chunk_overlap", DEFAULT_CHUNK_OVERLAP)
        if split_by not in SPLIT_STRATEGIES:
            raise BadRequest(f"split_by must be one of {', '.join(SPLIT_STRATEGIES)}; got {split_by!r}",
                             code="invalid_extractor_parameters", details={"parameter": "split_by", "value": split_by})
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_CHUNK_SIZE:
            raise BadRequest(f"chunk_size must be an integer from 1 to {MAX_CHUNK_SIZE}; got {size!r}",
                             code="invalid_extractor_parameters", details={"parameter": "chunk_size", "value": size})
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= MAX_CHUNK_OVERLAP:
            raise BadRequest(f"chunk_overlap must be an integer from 0 to {MAX_CHUNK_OVERLAP}; got {overlap!r}",
                             code="invalid_extractor_parameters",
                             details={"parameter": "chunk_overlap", "value": overlap})
        if split_by != "none" and overlap >= size:
            raise BadRequest(f"chunk_overlap ({overlap}) must be smaller than chunk_size ({size}), or chunking "
                             "would never advance", code="invalid_extractor_parameters",
                             details={"parameter": "chunk_overlap", "value": overlap, "chunk_size": size})
        return ChunkingPlan(split_by, size, overlap)


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int  # character offset of the chunk's first unit in the source text


def split(text: str, plan: ChunkingPlan) -> list[Chunk]:
    """The text's chunks in order; blank text has none. 'pages' is the PDF reader's unit: within one page's text
    it keeps the page whole."""
    if not text or not text.strip():
        return []
    if plan.split_by in ("none", "pages"):
        stripped = text.strip()
        return [Chunk(0, stripped, text.index(stripped[0]))]
    if plan.split_by == "characters":
        return _characters(text, plan.chunk_size, plan.chunk_overlap)
    units = _units(text, plan.split_by)
    separator = " " if plan.split_by in ("words", "sentences") else "\n\n"
    return _group(units, plan.chunk_size, plan.chunk_overlap, separator)


def _characters(text: str, size: int, overlap: int) -> list[Chunk]:
    step = size - overlap
    chunks = []
    start = 0
    while start < len(text):
        piece = text[start:start + size]
        if piece.strip():
            chunks.append(Chunk(len(chunks), piece, start))
        if start + size >= len(text):
            break
        start += step
    return chunks


def _units(text: str, split_by: str) -> list[tuple[str, int]]:
    """(unit, offset) pairs: words, sentences or paragraphs, stripped, blank ones dropped."""
    if split_by == "words":
        return [(match.group(), match.start()) for match in _WORD.finditer(text)]
    if split_by == "sentences":
        found = []
        for match in _SENTENCE.finditer(text):
            sentence = match.group()
            stripped = sentence.strip()
            if stripped:
                found.append((" ".join(stripped.split()), match.start() + sentence.index(stripped[0])))
        return found
    found = []
    position = 0
    for paragraph in _PARAGRAPH_BREAK.split(text):
        offset = text.index(paragraph, position) if paragraph else position
        position = offset + len(paragraph)
        stripped = paragraph.strip()
        if stripped:
            found.append((stripped, offset + paragraph.index(stripped[0])))
    return found


def _group(units: list[tuple[str, int]], size: int, overlap: int, separator: str) -> list[Chunk]:
    chunks = []
    step = size - overlap
    start = 0
    while start < len(units):
        window = units[start:start + size]
        chunks.append(Chunk(len(chunks), separator.join(unit for unit, _ in window), window[0][1]))
        if start + size >= len(units):
            break
        start += step
    return chunks
