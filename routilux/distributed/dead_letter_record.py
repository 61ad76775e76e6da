"""The dead-letter record: one shape, one timestamp format, and the one Python writer.

Every dead letter has the fields of :data:`FIELDS`: the job and activation (empty
for a message that is not a Routilux activation), why it is here, the body as it
arrived, its content type, ``ts`` in epoch milliseconds, and the stack trace of the
last error (empty where there was none). The Lua scripts
write theirs through ``dead_letter()`` in lua/_common.lua, with the same fields
(the time from Redis's clock); Python code writes through :func:`write_dead_letter`.
"""

from __future__ import annotations

import time
from typing import Any

from routilux.distributed.constants import DEAD_LETTER_REASON_CHARS
from routilux.distributed.protocol.constants import DEAD_LETTERS_MAXLEN

FIELDS = ("job", "activation", "reason", "body", "content_type", "ts", "trace")


def dead_letter_record(reason: str, body: bytes, content_type: str = "", job: str = "",
                       activation: str = "") -> dict[str, Any]:
    """The fields of one dead letter, stamped now (epoch milliseconds)."""
    return {"job": job, "activation": activation, "reason": reason[:DEAD_LETTER_REASON_CHARS], "body": body or b"",
            "content_type": content_type, "ts": int(time.time() * 1000), "trace": ""}


def write_dead_letter(client: Any, stream: str, reason: str, body: bytes, content_type: str = "") -> None:
    """Append a message that is not a runnable activation to the dead-letter ``stream`` through redis ``client``."""
    client.xadd(stream, dead_letter_record(reason, body, content_type), maxlen=DEAD_LETTERS_MAXLEN,
                approximate=True)
