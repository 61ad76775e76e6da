"""``python -m routilux.cli``: the ``routilux`` command."""

from __future__ import annotations

import sys

from routilux.cli import main

if __name__ == "__main__":
    sys.exit(main())
