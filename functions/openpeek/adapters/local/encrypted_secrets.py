"""The SecretStore of the embedded runtime: each secret revision is a Fernet token (AES-128-CBC with an HMAC-SHA256
tag) in its own 0600 file under <data_dir>/secrets/, encrypted with the key in <data_dir>/secret.key (0600, made on
first use). The database then holds only references: a copy of openpeek.db alone discloses no secret, and the key file
is the one thing to keep out of backups that leave the machine."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from openpeek.domain.failures import DependencyUnavailable, SecretNotFound

_SAFE_PART = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
KEY_FILE = "secret.key"
FOLDER = "secrets"


def _private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all, readable by its owner only."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class EncryptedFolderSecretStore:
    def __init__(self, data_dir: Path) -> None:
        self._root = Path(data_dir) / FOLDER
        self._key_path = Path(data_dir) / KEY_FILE
        self._fernet: Fernet | None = None

    # -- the port ----------------------------------------------------------------------------------------------------

    def put(self, name: str, revision: str, value: str) -> None:
        folder = self._folder(name)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private_file(folder / self._file_name(revision), self._cipher().encrypt(value.encode()))
        except OSError as error:
            raise DependencyUnavailable(f"cannot write secret {name}: {error}") from error

    def get(self, name: str, revision: str) -> str:
        path = self._folder(name) / self._file_name(revision)
        try:
            token = path.read_bytes()
        except FileNotFoundError:
            raise SecretNotFound(f"secret {name} (revision {revision}) is not in {self._root}") from None
        except OSError as error:
            raise DependencyUnavailable(f"cannot read secret {name}: {error}") from error
        try:
            return self._cipher().decrypt(token).decode()
        except InvalidToken:
            raise DependencyUnavailable(f"secret {name} does not decrypt with {self._key_path} (was the key file "
                                        "replaced?)") from None

    def delete_revision(self, name: str, revision: str) -> None:
        (self._folder(name) / self._file_name(revision)).unlink(missing_ok=True)

    def delete(self, name: str) -> None:
        shutil.rmtree(self._folder(name), ignore_errors=True)

    # -- helpers -----------------------------------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        parts = name.split("/")
        if not parts or not all(_SAFE_PART.match(part) and part not in (".", "..") for part in parts):
            raise ValueError(f"unsafe secret name {name!r}")
        return self._root.joinpath(*parts)

    @staticmethod
    def _file_name(revision: str) -> str:
        if not _SAFE_PART.match(revision) or revision in (".", ".."):
            raise ValueError(f"unsafe secret revision {revision!r}")
        return f"{revision}.fernet"

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._key())
        return self._fernet

    def _key(self) -> bytes:
        """The key file, made on first use. It appears whole (written aside, then linked into place), so a process
        starting at the same time reads either no file or the full key, and the first link wins."""
        if not self._key_path.exists():
            self._key_path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self._key_path.parent, prefix=".tmp-key-")
            try:
                with os.fdopen(descriptor, "wb") as file:  # mkstemp makes it 0600
                    file.write(Fernet.generate_key())
                    file.flush()
                    os.fsync(file.fileno())
                os.link(temporary, self._key_path)
            except FileExistsError:
                pass
            finally:
                Path(temporary).unlink(missing_ok=True)
        return self._key_path.read_bytes().strip()
