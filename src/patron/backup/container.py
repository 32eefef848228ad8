"""The backup file: a tar archive, gzip-compressed, encrypted in chunks, with a SHA-256 trailer.

Layout, in order::

    header   b"PATRONBK" | version (1 byte) | key id (8) | salt (32) | chunk size (4, big-endian)
    chunks   last flag (1 byte) | length (4) | AES-256-GCM ciphertext and tag
    trailer  SHA-256 of every byte before it (32)

Each chunk holds ``chunk size`` bytes of the compressed stream (the last one may hold fewer).
The chunk key is derived from the backup key and the file's random salt (HKDF-SHA256), so no
two files share a key; the nonce is the chunk's number and its last flag (the STREAM
construction), and the header is the associated data of every chunk. Reordering, dropping or
truncating chunks, or editing the header, fails decryption; the trailer lets anyone check a copy
(``sha256sum -c`` on the ``.sha256`` file beside it) without the key. Memory stays bounded by a
few chunks whatever the size of the database.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from patron.backup.errors import BackupCorrupt, BackupWrongKey
from patron.backup.keys import key_id

MAGIC = b"PATRONBK"
VERSION = 1
CHUNK_SIZE = 1024 * 1024
SALT_BYTES = 32
TAG_BYTES = 16
DIGEST_BYTES = 32
HEADER = struct.Struct(">8sB8s32sI")
CHUNK_HEAD = struct.Struct(">BI")
COMPRESS_LEVEL = 6
GZIP_WBITS = 31
READ_SIZE = 256 * 1024

BytesDone = Callable[[int], None]


def _chunk_cipher(key: bytes, salt: bytes) -> AESGCM:
    info = b"patron-backup v1 chunks"
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)
    return AESGCM(derived)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class _EncryptingWriter(io.RawIOBase):
    """Encrypts what is written, chunk by chunk, and hashes every byte put in the file."""

    def __init__(self, file: BinaryIO, key: bytes, salt: bytes) -> None:
        self._file = file
        self._cipher = _chunk_cipher(key, salt)
        self._header = HEADER.pack(MAGIC, VERSION, key_id(key), salt, CHUNK_SIZE)
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._counter = 0
        self._emit(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buffer += data
        # A chunk goes out only once a byte after it is known to exist: the last one is flagged.
        while len(self._buffer) > CHUNK_SIZE:
            self._seal(bytes(self._buffer[:CHUNK_SIZE]), last=False)
            del self._buffer[:CHUNK_SIZE]
        return len(data)

    def finish(self) -> str:
        """Seal the last chunk, append the trailer, and return the file's SHA-256."""
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        digest = self._digest.digest()
        self._file.write(digest)
        return digest.hex()

    def _seal(self, plain: bytes, *, last: bool) -> None:
        sealed = self._cipher.encrypt(_nonce(self._counter, last), plain, self._header)
        self._counter += 1
        self._emit(CHUNK_HEAD.pack(1 if last else 0, len(sealed)) + sealed)

    def _emit(self, data: bytes) -> None:
        self._digest.update(data)
        self._file.write(data)


class _GzipWriter(io.RawIOBase):
    def __init__(self, inner: _EncryptingWriter) -> None:
        self._inner = inner
        self._compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, GZIP_WBITS)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._inner.write(self._compressor.compress(data))
        return len(data)

    def finish(self) -> None:
        self._inner.write(self._compressor.flush())


class _ProgressReader:
    """Reads a file for tarfile while hashing it and counting the bytes."""

    def __init__(self, file: BinaryIO, on_bytes: BytesDone | None) -> None:
        self._file = file
        self._on_bytes = on_bytes
        self.digest = hashlib.sha256()
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.digest.update(data)
        self.done += len(data)
        if self._on_bytes is not None:
            self._on_bytes(self.done)
        return data


class BackupWriter:
    """Write a backup: ``add_file`` and ``add_bytes`` members, then ``close`` for the checksum."""

    def __init__(self, file: BinaryIO, key: bytes, salt: bytes) -> None:
        self._encrypted = _EncryptingWriter(file, key, salt)
        self._gzip = _GzipWriter(self._encrypted)
        # Closed by ``close``, which must also finish the compressed and encrypted streams.
        self._tar = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115
            fileobj=self._gzip, mode="w|", format=tarfile.PAX_FORMAT
        )

    def add_file(self, name: str, path: Path, on_bytes: BytesDone | None = None) -> str:
        """Add a file and return its SHA-256."""
        info = tarfile.TarInfo(name)
        info.size = path.stat().st_size
        info.mode = 0o600
        with path.open("rb") as file:
            reader = _ProgressReader(file, on_bytes)
            self._tar.addfile(info, reader)  # type: ignore[arg-type]
        return reader.digest.hexdigest()

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> str:
        self._tar.close()
        self._gzip.finish()
        return self._encrypted.finish()


# ----- reading ---------------------------------------------------------------------------------
def check_file_checksum(path: Path, on_bytes: BytesDone | None = None) -> str:
    """The file's SHA-256 when it matches the trailer; ``BackupCorrupt`` when it does not."""
    size = path.stat().st_size
    if size < HEADER.size + CHUNK_HEAD.size + TAG_BYTES + DIGEST_BYTES:
        raise BackupCorrupt(f"{path.name} is too short to be a Patron backup.")
    digest = hashlib.sha256()
    with path.open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            raise BackupCorrupt(f"{path.name} is not a Patron backup.")
        file.seek(0)
        remaining, done = size - DIGEST_BYTES, 0
        while remaining:
            data = file.read(min(READ_SIZE * 4, remaining))
            digest.update(data)
            remaining -= len(data)
            done += len(data)
            if on_bytes is not None:
                on_bytes(done)
        trailer = file.read(DIGEST_BYTES)
    if digest.digest() != trailer:
        raise BackupCorrupt(
            f"The SHA-256 checksum of {path.name} does not match: the file was changed or damaged."
        )
    return trailer.hex()


class _DecryptingReader:
    def __init__(self, file: BinaryIO, key: bytes) -> None:
        self._file = file
        header = file.read(HEADER.size)
        if len(header) != HEADER.size:
            raise BackupCorrupt("The backup ends inside its header.")
        magic, version, stored_id, salt, self._chunk_size = HEADER.unpack(header)
        if magic != MAGIC:
            raise BackupCorrupt("This is not a Patron backup.")
        if version != VERSION:
            raise BackupCorrupt(f"Backup format {version} is not known to this Patron.")
        if stored_id != key_id(key):
            raise BackupWrongKey(
                f"The backup was made with the key {stored_id.hex()}; the configured key is "
                f"{key_id(key).hex()}. Set PATRON_BACKUP_KEY to the key it was made with."
            )
        self._header = header
        self._cipher = _chunk_cipher(key, salt)
        self._counter = 0
        self._pending = b""
        self._ended = False

    def read(self, size: int) -> bytes:
        while not self._pending and not self._ended:
            self._pending = self._next_chunk()
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _next_chunk(self) -> bytes:
        head = self._file.read(CHUNK_HEAD.size)
        if len(head) != CHUNK_HEAD.size:
            raise BackupCorrupt("The backup is truncated.")
        flag, length = CHUNK_HEAD.unpack(head)
        if flag not in (0, 1) or length > self._chunk_size + TAG_BYTES:
            raise BackupCorrupt("The backup is damaged (a chunk header is wrong).")
        sealed = self._file.read(length)
        if len(sealed) != length:
            raise BackupCorrupt("The backup is truncated.")
        try:
            plain = self._cipher.decrypt(_nonce(self._counter, flag == 1), sealed, self._header)
        except InvalidTag:
            raise BackupCorrupt(
                f"Chunk {self._counter} of the backup cannot be decrypted: the file was changed."
            ) from None
        self._counter += 1
        if flag == 1:
            self._ended = True
            if len(self._file.read(DIGEST_BYTES + 1)) != DIGEST_BYTES:
                raise BackupCorrupt("The backup has bytes where its checksum should end it.")
        return plain


class _GunzipReader:
    def __init__(self, inner: _DecryptingReader) -> None:
        self._inner = inner
        self._decompressor = zlib.decompressobj(GZIP_WBITS)

    def read(self, size: int = -1) -> bytes:
        size = READ_SIZE if size < 0 else size
        out = bytearray()
        try:
            while len(out) < size and not self._decompressor.eof:
                data = self._decompressor.unconsumed_tail or self._inner.read(READ_SIZE)
                if not data:
                    raise BackupCorrupt("The compressed stream of the backup ends early.")
                out += self._decompressor.decompress(data, size - len(out))
        except zlib.error as exc:
            raise BackupCorrupt(f"The backup does not decompress: {exc}.") from None
        return bytes(out)


def read_members(
    path: Path, key: bytes, into: Path, on_bytes: BytesDone | None = None
) -> dict[str, tuple[Path, str]]:
    """Decrypt the backup into the directory ``into``: each member's path and SHA-256.

    Unauthenticated bytes are never used: a chunk is decrypted (and checked) before any of
    its bytes reach the archive reader.
    """
    found: dict[str, tuple[Path, str]] = {}
    with path.open("rb") as file:
        stream = _GunzipReader(_DecryptingReader(file, key))
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
                _extract(archive, into, found, lambda: file.tell(), on_bytes)
        except tarfile.TarError as exc:
            raise BackupCorrupt(f"The backup's archive is damaged: {exc}.") from None
    return found


def _extract(
    archive: tarfile.TarFile,
    into: Path,
    found: dict[str, tuple[Path, str]],
    position: Callable[[], int],
    on_bytes: BytesDone | None,
) -> None:
    for member in archive:
        if not member.isfile() or "/" in member.name or member.name.startswith("."):
            raise BackupCorrupt(f"The backup holds an unexpected entry {member.name!r}.")
        source = archive.extractfile(member)
        assert source is not None  # a regular file always has content
        target = into / member.name
        digest = hashlib.sha256()
        with target.open("wb") as out:
            while data := source.read(READ_SIZE):
                digest.update(data)
                out.write(data)
                if on_bytes is not None:
                    on_bytes(position())
        found[member.name] = (target, digest.hexdigest())
