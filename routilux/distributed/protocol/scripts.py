"""The Lua scripts of the Redis protocol, loaded once per client with the shared prelude."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

NAMES = (
    "submit", "claim", "commit", "renew", "bounce", "expire", "redue", "mark", "pause", "resume", "cancel",
    "timeout", "delete", "abandon", "reject", "rescue", "replay",
)


@lru_cache(maxsize=None)
def source(name: str) -> str:
    """Return the full text of a script: the prelude, then the script."""
    folder = resources.files("routilux.distributed.protocol") / "lua"
    prelude = (folder / "_common.lua").read_text(encoding="utf-8")
    return prelude + "\n" + (folder / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Registered scripts of one Redis client, callable as ``scripts.claim(keys, args)``."""

    def __init__(self, client: Any) -> None:
        for name in NAMES:
            setattr(self, name, client.register_script(source(name)))
