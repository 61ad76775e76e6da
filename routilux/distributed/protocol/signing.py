"""Signed activation bodies: an HMAC-SHA256 over each body, with the id of the key that made it.

With ``ROUTILUX_SIGNING_KEYS="kid1:secret1,kid2:secret2"`` the first key signs
and every key verifies, so keys rotate without downtime. A signed body is::

    b"RXS1" | key id length (1 byte) | key id | HMAC-SHA256 (32 bytes) | envelope msgpack

The MAC covers the magic, the key id and the envelope bytes. Checking it needs
no msgpack decoding at all, so a worker with keys refuses an unsigned or badly
signed body before it decodes anything of the activation. A worker without keys
accepts signed bodies (it strips the frame unchecked) and unsigned ones, so
producers can start signing before workers start requiring it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from routilux.errors import SignatureError

__all__ = ["MAGIC", "Keyring", "NO_KEYS"]

MAGIC = b"RXS1"
_MAC_LEN = 32


class Keyring:
    """Signing keys: ``keys[0]`` signs, all of them verify.

    Args:
        keys: (key id, secret) pairs, the signing key first.
    """

    def __init__(self, keys: tuple[tuple[str, bytes], ...] = ()) -> None:
        self._keys = dict(keys)
        self._signer = keys[0] if keys else None

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Build a keyring from ``"kid1:secret1,kid2:secret2"`` (empty: no keys).

        Raises:
            ValueError: an entry has no key id or no secret, or a key id repeats or is too long.
        """
        pairs: list[tuple[str, bytes]] = []
        for entry in (part.strip() for part in spec.split(",")):
            if not entry:
                continue
            kid, sep, secret = entry.partition(":")
            kid, secret = kid.strip(), secret.strip()
            if not sep or not kid or not secret:
                raise ValueError("each signing key must be KEY_ID:SECRET (comma-separated; the first one signs)")
            if len(kid.encode()) > 255:
                raise ValueError(f"signing key id {kid[:20]!r}... is over 255 bytes")
            if any(kid == k for k, _ in pairs):
                raise ValueError(f"signing key id {kid!r} appears twice")
            pairs.append((kid, secret.encode()))
        return cls(tuple(pairs))

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:  # never show secrets
        return f"Keyring(signer={self.signer!r}, key_ids={list(self._keys)!r})"

    @property
    def signer(self) -> str | None:
        """The id of the key that signs, or None without keys."""
        return self._signer[0] if self._signer else None

    def seal(self, body: bytes) -> bytes:
        """Return ``body`` signed with the first key (unchanged without keys)."""
        if self._signer is None:
            return body
        kid, secret = self._signer
        head = MAGIC + bytes([len(kid.encode())]) + kid.encode()
        return head + _mac(secret, head, body) + body

    def open(self, sealed: Any) -> bytes:
        """Return the body inside ``sealed`` once its signature checks out.

        Without keys, a signed frame is stripped unchecked and anything else is
        returned as it is.

        Raises:
            SignatureError: with keys, ``sealed`` is not signed, is signed with an
                unknown key id, or its MAC does not match.
        """
        if not isinstance(sealed, (bytes, bytearray, memoryview)):
            if self._keys:
                raise SignatureError(f"unsigned activation: the body is a {type(sealed).__name__}, not signed bytes")
            return sealed
        sealed = bytes(sealed)
        if not sealed.startswith(MAGIC):
            if self._keys:
                raise SignatureError("unsigned activation: this worker requires signed messages")
            return sealed
        kid, mac, body = _split(sealed)
        if not self._keys:
            return body
        secret = self._keys.get(kid)
        if secret is None:
            raise SignatureError(f"activation signed with unknown key id {kid!r}")
        if not hmac.compare_digest(mac, _mac(secret, sealed[: len(MAGIC) + 1 + len(kid.encode())], body)):
            raise SignatureError(f"bad signature (key id {kid!r}): the activation was altered or signed with another secret")
        return body

    @staticmethod
    def key_id(sealed: bytes) -> str | None:
        """The key id a stored body is signed with, or None if it is not signed."""
        if not sealed.startswith(MAGIC):
            return None
        try:
            return _split(sealed)[0]
        except SignatureError:
            return None


NO_KEYS = Keyring()


def _mac(secret: bytes, head: bytes, body: bytes) -> bytes:
    return hmac.new(secret, head + body, hashlib.sha256).digest()


def _split(sealed: bytes) -> tuple[str, bytes, bytes]:
    """(key id, MAC, body) of a signed frame."""
    start = len(MAGIC) + 1
    if len(sealed) < start:
        raise SignatureError("truncated signed activation")
    end = start + sealed[len(MAGIC)]
    if len(sealed) < end + _MAC_LEN:
        raise SignatureError("truncated signed activation")
    try:
        kid = sealed[start:end].decode()
    except UnicodeDecodeError as exc:
        raise SignatureError("signed activation with a key id that is not UTF-8") from exc
    return kid, sealed[end : end + _MAC_LEN], sealed[end + _MAC_LEN :]
