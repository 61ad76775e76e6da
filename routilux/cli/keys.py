"""``routilux signing-keys``: which key ids signed the activations still stored, for safe key rotation."""

from __future__ import annotations

import argparse
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.options import add_command
from routilux.cli.output import table


def register(sub: Any) -> None:
    """Add the ``signing-keys`` command."""
    add_command(sub, "signing-keys", cmd_signing_keys,
                "count the stored activations of unfinished jobs by the key id that signed them "
                "(a key may be dropped once its count is 0)")


def cmd_signing_keys(args: argparse.Namespace) -> int:
    """Print, per key id, how many stored activations it signed."""
    with runtime_from(args) as runtime:
        usage = runtime.signing_key_usage()
        signer = runtime.settings.keyring.signer
    rows = [[kid or "(unsigned)", str(count), "signs" if kid and kid == signer else ""]
            for kid, count in sorted(usage.items())]
    print("\n".join(table(["KEY ID", "ACTIVATIONS", ""], rows)) if rows else "no stored activations")
    return 0
