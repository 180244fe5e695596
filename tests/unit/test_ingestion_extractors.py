"""Extractors that really run: chunking, PDF text per page, rows that bring their own vectors, image refusal."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openpeek.domain.chunking import ChunkingPlan, split
from openpeek.domain.errors import BadRequest
from openpeek.domain.inference import InferenceService
from openpeek.services.ingestion import extractors
from openpeek.services.ingestion.extractors import ExtractionFailed, Source, SourceBlob
from tests.pdf_bytes import pdf_with_pages


def texts(text: str, **parameters) -> list[str]:
    return [chunk.text for chunk in split(text, ChunkingPlan.from_parameters(parameters))]


def test_characters_with_overlap_cover_the_text_and_share_the_overlap():
    chunks = texts("abcdefghij", split_by="characters", chunk_size=4, chunk_overlap=1)
    assert chunks == ["abcd", "defg", "ghij"]


def test_words_sentences_and_paragraphs_count_their_own_unit():
    assert texts("one two three four five", split_by="words", chunk_size=2) == ["one two", "three four", "five"]
    assert texts("one two three four five", split_by="words", chunk_size=3, chunk_overlap=1) == [
        "one two three", "three four five"]
    assert texts("First one. Second! Third? Fourth.", split_by="sentences", chunk_size=2) == [
        "First one. Second!", "Third? Fourth."]
    assert texts("Para one\nstill one.\n\n  Para two.\n\n\nPara three.", split_by="paragraphs", chunk_size=2) == [
        "Para one\nstill one.\n\nPara two.", "Para three."]


def test_without_split_by_a_text_stays_whole_and_blank_text_has_no_chunk():
    assert texts("  a whole text  ") == ["a whole text"]
    assert texts("   \n ", split_by="words") == []


def test_chunk_offsets_point_into_the_source_text():
    text = "alpha beta gamma delta"
    for chunk in split(text, ChunkingPlan.from_parameters({"split_by": "words", "chunk_size": 2})):
        assert text[chunk.start:].startswith(chunk.text.split()[0])


@pytest.mark.parametrize("parameters, named", [
    ({"split_by": "lines"}, "split_by"),
    ({"split_by": "words", "chunk_size": 0}, "chunk_size"),
    ({"split_by": "words", "chunk_size": 3, "chunk_overlap": 3}, "chunk_overlap"),
    ({"split_by": "words", "chunk_overlap": -1}, "chunk_overlap"),
])
def test_bad_chunking_parameters_are_refused_naming_the_parameter(parameters, named):
    with pytest.raises(BadRequest) as raised:
        ChunkingPlan.from_parameters(parameters)
    assert raised.value.details["parameter"] == named


class CountingEmbedder:
    """A test double for the model: one distinct unit vector per call position, and a record of what it was asked."""

    service = InferenceService("all_minilm_l6_v2", 384, "text", "local")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        return [[1.0] + [0.0] * 383 for _ in texts]


def text_extractor(parameters=None, input_mappings=None, passthrough=None):
    embedder = CountingEmbedder()
    built = extractors.build({"feature_extractor_name": "text_extractor", "version": "v1",
                              "parameters": parameters or {}, "input_mappings": input_mappings,
                              "field_passthrough": passthrough}, lambda name: embedder)
    return built, embedder


def test_text_extractor_chunks_embeds_in_one_call_and_passes_fields_through():
    extractor, embedder = text_extractor({"split_by": "sentences", "chunk_size": 1}, {"text": "body"},
                                         [{"source_path": "meta.author", "target_path": "author"},
                                          {"source_path": "lang", "default": "en"}])
    source = Source("obj_1", {"meta": {"author": "Ada"}},
                    {"body": SourceBlob("body", "text", b"Cats purr. Dogs bark.")})
    drafts = extractor.drafts(source)
    assert [d.payload["text"] for d in drafts] == ["Cats purr.", "Dogs bark."]
    assert all(d.payload["author"] == "Ada" and d.payload["lang"] == "en" for d in drafts)
    assert [d.chunk_key for d in drafts] == ["c0", "c1"]
    extractor.complete(drafts)
    assert embedder.calls == [["Cats purr.", "Dogs bark."]]
    assert all(len(d.vectors["text_extractor_v1_embedding"]) == 384 for d in drafts)


def test_a_pdf_becomes_one_document_per_chunk_with_its_page_number():
    extractor, _ = text_extractor({"split_by": "words", "chunk_size": 3})
    pdf = pdf_with_pages(["alpha beta gamma delta", "the second page"])
    drafts = extractor.drafts(Source("obj_pdf", {}, {"file": SourceBlob("file", "pdf", pdf, "application/pdf")}))
    assert [(d.payload["page_number"], d.payload["text"]) for d in drafts] == [
        (1, "alpha beta gamma"), (1, "delta"), (2, "the second page")]
    assert len({d.chunk_key for d in drafts}) == 3


def test_unreadable_inputs_fail_their_source_alone_with_the_reason():
    extractor, _ = text_extractor()
    with pytest.raises(ExtractionFailed, match="PDF cannot be read"):
        extractor.drafts(Source("o", {}, {"f": SourceBlob("f", "pdf", b"%PDF-1.4 garbage")}))
    with pytest.raises(ExtractionFailed, match="not UTF-8"):
        extractor.drafts(Source("o", {}, {"f": SourceBlob("f", "text", b"\xff\xfe\xfa")}))
    with pytest.raises(ExtractionFailed, match="required passthrough field 'sku'"):
        text_extractor(passthrough=[{"source_path": "sku", "required": True}])[0].drafts(
            Source("o", {"text": "hello"}))
    with pytest.raises(ExtractionFailed, match="OPENPEEK_BEDROCK_ENABLED"):
        extractor.drafts(Source("o", {}, {"img": SourceBlob("img", "image", b"\x89PNG")}))


def test_image_extractor_is_refused_naming_the_setting_that_enables_a_model():
    with pytest.raises(BadRequest, match="OPENPEEK_BEDROCK_ENABLED") as raised:
        extractors.build({"feature_extractor_name": "image_extractor", "version": "v1"}, lambda name: None)
    assert raised.value.code == "feature_extractor_unavailable"


def passthrough(**parameters):
    return extractors.build({"feature_extractor_name": "passthrough_extractor", "version": "v1",
                             "parameters": parameters}, lambda name: pytest.fail("passthrough needs no model"))


VECTOR_FIELDS = [{"field": "emb", "name": "my_vec", "dimensions": 3}]


def test_passthrough_jsonl_rows_become_documents_with_their_own_vectors_and_bad_rows_are_counted():
    rows = [{"id": 1, "title": "a", "emb": [0.1, 0.2, 0.3]}, {"id": 2, "emb": [1, 2]},
            {"id": 3, "title": "c", "emb": [0.0, 1.0, 0.0]}]
    data = "\n".join(json.dumps(row) for row in rows).encode()
    extractor = passthrough(vector_fields=VECTOR_FIELDS)
    drafts = extractor.drafts(Source("o", {}, {"rows": SourceBlob("rows", "text", data, filename="rows.jsonl")}))
    assert [(d.payload["id"], d.vectors["my_vec"]) for d in drafts] == [(1, [0.1, 0.2, 0.3]), (3, [0.0, 1.0, 0.0])]
    assert "emb" not in drafts[0].payload and extractor.failed_rows == 1
    assert [index.name for index in extractor.vector_indexes()] == ["my_vec"]


def test_passthrough_parquet_rows_keep_their_columns_and_vectors():
    table = pa.table({"sku": ["x", "y"], "emb": pa.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]],
                                                         type=pa.list_(pa.float32(), 3))})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    drafts = passthrough(vector_fields=VECTOR_FIELDS).drafts(
        Source("o", {}, {"rows": SourceBlob("rows", "text", sink.getvalue())}))
    assert [(d.payload["sku"], d.vectors["my_vec"].tolist()) for d in drafts] == [("x", [0.5, 0.5, 0.0]),
                                                                         ("y", [0.0, 0.0, 1.0])]


def test_passthrough_without_vector_fields_is_one_document_per_object():
    drafts = passthrough().drafts(Source("o", {"title": "t", "n": 3}))
    assert [(d.chunk_key, d.payload, d.vectors) for d in drafts] == [("object", {"title": "t", "n": 3}, {})]


def test_passthrough_refuses_a_file_that_is_neither_jsonl_nor_parquet():
    with pytest.raises(ExtractionFailed, match="neither JSONL nor parquet"):
        passthrough(vector_fields=VECTOR_FIELDS).drafts(Source("o", {}, {"f": SourceBlob("f", "text", b"a,b\n")}))
