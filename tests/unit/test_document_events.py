"""Document events for webhooks: one document.created and one document.updated per upsert, naming the documents;
document.deleted per delete."""

from __future__ import annotations


def test_upserts_and_deletes_announce_what_changed(client, services, tenant):
    client.post("/v1/namespaces/standalone", headers=tenant.headers,
                json={"namespace_id": "events", "vector_configs": [{"name": "emb", "dimension": 2}]})
    upsert = lambda ids: client.post("/v1/namespaces/events/documents/upsert", headers=tenant.headers,  # noqa: E731
                                     json={"documents": [{"document_id": i, "vectors": {"emb": [1.0, 0.5]}}
                                                         for i in ids]})
    upsert(["a", "b"])
    upsert(["b", "c"])
    client.delete("/v1/namespaces/events/documents/a", headers=tenant.headers)

    seen = [(e.type, e.data.get("document_ids") or e.data.get("document_id"))
            for e in services.events.recent() if e.type.startswith("document.")]
    assert seen == [("document.created", ["a", "b"]), ("document.created", ["c"]), ("document.updated", ["b"]),
                    ("document.deleted", "a")]
