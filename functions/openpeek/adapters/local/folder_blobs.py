"""BlobStore on a local folder: the embedded runtime's stand-in for S3.

Each key maps to a plain file under the root (`clusters/clu_1/assignments.parquet` is a file you can open), so a
developer can inspect what the services wrote. S3 semantics are kept where the services can notice them: a reader never
sees half a blob, `list` takes a plain string prefix rather than a folder, and keys come back sorted bytewise.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Iterator

from openpeek.domain.failures import BlobNotFound, DependencyUnavailable

# Temp files live next to their target so os.replace stays a same-filesystem rename (atomic). This marker keeps them
# out of `list`, and keys may not use it, so a half-written file can never be mistaken for a blob.
_TEMP_MARKER = ".openpeek-tmp-"
_MAX_SEGMENT_BYTES = 255  # NAME_MAX on the filesystems we run on; longer names fail late and obscurely otherwise
_CREATE_ATTEMPTS = 3


def _key_segments(key: str) -> list[str]:
    """The path segments of a key, or ValueError when the key could name something outside the root or be read
    differently by the filesystem than by S3 (empty or dot segments, backslashes, NUL)."""
    if not isinstance(key, str) or not key:
        raise ValueError("blob key must be a non-empty string")
    if "\x00" in key or "\\" in key:
        raise ValueError(f"blob key {key!r} contains a NUL or a backslash")
    if key.startswith("/"):
        raise ValueError(f"blob key {key!r} is absolute; keys are relative to the store")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"blob key {key!r} has an empty, '.' or '..' segment")
        if segment.startswith(_TEMP_MARKER):
            raise ValueError(f"blob key {key!r} uses the reserved temp-file marker {_TEMP_MARKER!r}")
        if len(segment.encode("utf-8", "surrogateescape")) > _MAX_SEGMENT_BYTES:
            raise ValueError(f"blob key {key!r} has a segment longer than {_MAX_SEGMENT_BYTES} bytes")
    return segments


class FolderBlobStore:
    """BlobStore whose keys are files under `root`.

    One limit S3 does not have: a key cannot be both a blob and the folder of other blobs (`a` and `a/b`), because a
    path cannot be both a file and a directory; such a put raises ValueError and leaves the existing blob intact.
    `content_type` is accepted for parity with S3 and not stored: nothing reads it back through the port.
    """

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root).resolve()
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DependencyUnavailable(f"cannot create blob folder {self._root}: {error}") from error

    @property
    def root(self) -> Path:
        return self._root

    def uri(self, key: str) -> str:
        # A prefix (trailing "/") names a folder; the path stays inside root like every other key.
        folder = key.endswith("/")
        path = self._path(key.rstrip("/")) if key.strip("/") else self._root
        return path.as_uri() + ("/" if folder else "")

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._write_atomically(path, data)
                return
            except FileNotFoundError as error:
                # A concurrent delete pruned the folder between mkdir and the temp file; making it again is safe.
                if attempt == _CREATE_ATTEMPTS:
                    raise DependencyUnavailable(f"cannot write blob {key!r}: {error}") from error
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as error:
                raise ValueError(f"blob key {key!r} collides with an existing blob or folder of blobs") from error
            except OSError as error:
                raise DependencyUnavailable(f"cannot write blob {key!r}: {error}") from error

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        except OSError as error:
            raise DependencyUnavailable(f"cannot read blob {key!r}: {error}") from error

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        if not isinstance(prefix, str):
            raise ValueError("blob prefix must be a string")
        start = self._walk_start(prefix)
        if start is None:
            return []
        return sorted(key for key in self._keys_under(start, prefix) if key.startswith(prefix))

    def delete(self, key: str) -> None:
        self._unlink(self._path(key), key)

    def delete_prefix(self, prefix: str) -> int:
        # Counting only the files this call removed keeps the answer true when another writer deletes concurrently.
        return sum(1 for key in self.list(prefix) if self._unlink(self._path(key), key))

    # ---------------------------------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*_key_segments(key))

    def _write_atomically(self, path: Path, data: bytes) -> None:
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_MARKER, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        self._fsync_directory(path.parent)

    @staticmethod
    def _fsync_directory(directory: Path) -> None:
        """Make the rename itself durable; without it a crash can lose a blob the caller was told was written."""
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return  # platforms that cannot open a directory (Windows) give no such guarantee anyway
        try:
            os.fsync(fd)
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EBADF):  # filesystems that cannot fsync a directory
                raise
        finally:
            os.close(fd)

    def _walk_start(self, prefix: str) -> Path | None:
        """The deepest folder every matching key lies under, or None when no valid key can start with prefix."""
        folder, _, _ = prefix.rpartition("/")
        if not folder:
            return None if prefix.startswith("/") else self._root
        try:
            return self._root.joinpath(*_key_segments(folder))
        except ValueError:
            return None

    def _keys_under(self, start: Path, prefix: str) -> Iterator[str]:
        def fail(error: OSError) -> None:
            # Folders vanishing mid-walk are a concurrent delete_prefix, not a failure; anything else is.
            if not isinstance(error, (FileNotFoundError, NotADirectoryError)):
                raise DependencyUnavailable(f"cannot list blobs under {prefix!r}: {error}") from error

        for directory, folders, files in os.walk(start, onerror=fail):
            relative = Path(directory).relative_to(self._root).as_posix()
            base = "" if relative == "." else relative + "/"
            # Skip sibling folders that cannot hold a match, so a narrow prefix does not walk the whole store.
            folders[:] = [
                name
                for name in folders
                if (base + name + "/").startswith(prefix) or prefix.startswith(base + name + "/")
            ]
            for name in files:
                if not name.startswith(_TEMP_MARKER):
                    yield base + name

    def _unlink(self, path: Path, key: str) -> bool:
        """Remove the blob file and the folders it leaves empty; False when there was nothing to remove."""
        if path.is_dir():
            return False  # a folder of blobs is not itself a blob
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as error:
            raise DependencyUnavailable(f"cannot delete blob {key!r}: {error}") from error
        self._prune_empty_folders(path.parent)
        return True

    def _prune_empty_folders(self, folder: Path) -> None:
        while folder != self._root and self._root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone and re-created by a writer): leave it
            folder = folder.parent
