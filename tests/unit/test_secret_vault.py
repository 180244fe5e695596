"""The secret-at-rest rule (repositories/secrets.py) over the embedded encrypted store: unchanged values keep their
revision, a changed value is a new revision and the old one goes once the table took the new reference, a failed
table write drops what was made for it, an empty set of values removes the secret, and a copy's reference to another
owner's secret is never reused or deleted."""

from __future__ import annotations

import stat

import pytest

from openpeek.adapters.local.encrypted_secrets import EncryptedFolderSecretStore
from openpeek.domain.failures import ConditionFailed, SecretNotFound
from openpeek.repositories.secrets import SecretVault


@pytest.fixture
def vault(tmp_path):
    return SecretVault(EncryptedFolderSecretStore(tmp_path), environment="local")


def revisions(tmp_path) -> list[str]:
    return sorted(path.stem for path in (tmp_path / "secrets").rglob("*.fernet"))


def test_revisions_follow_the_records_reference(vault, tmp_path):
    first = vault.write("org_1", "namespace", "ns_1", {"key": "one"}, None, lambda reference: reference)
    assert vault.reveal(first) == {"key": "one"}
    assert first["name"] == "openpeek/local/org_1/namespace/ns_1"
    assert vault.write("org_1", "namespace", "ns_1", {"key": "one"}, first, lambda reference: reference) == first
    second = vault.write("org_1", "namespace", "ns_1", {"key": "two"}, first, lambda reference: reference)
    assert second["revision"] != first["revision"] and revisions(tmp_path) == [second["revision"]]
    assert vault.reveal(second) == {"key": "two"}
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600

    def lost(_reference):
        raise ConditionFailed()

    with pytest.raises(ConditionFailed):
        vault.write("org_1", "namespace", "ns_1", {"key": "three"}, second, lost)
    assert revisions(tmp_path) == [second["revision"]] and vault.reveal(second) == {"key": "two"}

    assert vault.write("org_1", "namespace", "ns_1", {"key": ""}, second, lambda reference: reference) is None
    assert revisions(tmp_path) == []
    with pytest.raises(SecretNotFound):
        vault.reveal(second)


def test_a_failed_create_leaves_no_secret_and_a_copy_never_touches_its_sources(vault, tmp_path):
    def lost(_reference):
        raise ConditionFailed()

    with pytest.raises(ConditionFailed):
        vault.write("org_1", "webhook", "wh_1", {"signing_secret": "s"}, None, lost, creating=True)
    assert revisions(tmp_path) == []
    source = vault.write("org_1", "namespace", "ns_1", {"key": "one"}, None, lambda reference: reference)
    copy = vault.write("org_1", "namespace", "ns_2", {"key": "one"}, source, lambda reference: reference)
    assert copy["name"].endswith("/ns_2") and vault.reveal(source) == vault.reveal(copy) == {"key": "one"}
    vault.forget("org_1", "namespace", "ns_2")
    assert vault.reveal(source) == {"key": "one"}


def test_the_store_refuses_names_that_leave_its_folder(tmp_path):
    store = EncryptedFolderSecretStore(tmp_path)
    with pytest.raises(ValueError):
        store.put("openpeek/local/../../etc/namespace/x", "r1", "value")
    with pytest.raises(ValueError):
        store.put("openpeek/local/org/namespace/x", "../r1", "value")
