"""What commands print: plain lines, JSON lines, tables, times, and a rich console when there is a terminal."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any


def interactive() -> bool:
    """Whether stdout is a terminal (live views and colours) rather than a pipe or file (plain lines)."""
    return sys.stdout.isatty()


def print_json(value: Any) -> None:
    """Print one JSON document on one line (JSON lines, for scripts)."""
    print(json.dumps(value, default=str, sort_keys=False), flush=True)


def rich_console(**options: Any) -> Any:
    """A rich Console for stdout, or None if rich is not installed (then output stays plain)."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(**options)


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned text columns; a "(none)" line when there are no rows."""
    if not rows:
        return ["(none)"]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [headers, *rows]]


def when(value: Any) -> str:
    """A timestamp (datetime, ISO text or epoch milliseconds) as local time to the second."""
    if value in (None, ""):
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000).strftime("%Y-%m-%d %H:%M:%S")
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def clip(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def folded_traceback(trace: str, lines: int = 8, indent: str = "    ") -> list[str]:
    """The last ``lines`` lines of a stack trace, indented, under a note of how many were folded away."""
    all_lines = trace.rstrip().splitlines()
    shown = all_lines[-lines:]
    head = [f"{indent}... {len(all_lines) - len(shown)} lines above (--json shows the whole trace)"] \
        if len(all_lines) > len(shown) else []
    return head + [indent + line for line in shown]
