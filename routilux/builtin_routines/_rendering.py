"""Pure functions behind TextClipper and TextRenderer (no routine state involved)."""

from __future__ import annotations

from typing import Any

CIRCULAR_MARKER = "[circular reference]"


def clip_text(text: str, max_length: int, preserve_tracebacks: bool, message: str) -> tuple[str, bool]:
    """Clip ``text`` line by line to ``max_length`` characters; return (text, was_clipped).

    Whole lines are kept while they fit; the rest is replaced by ``message``
    formatted with ``remaining`` (the number of dropped lines). A first line
    longer than the limit is cut inside the line so the result is never empty.
    """
    if len(text) <= max_length or (preserve_tracebacks and "Traceback" in text):
        return text, False
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    for line in lines:
        # +1 accounts for the newline that joins this line to the previous one
        cost = len(line) + (1 if kept else 0)
        if used + cost > max_length:
            break
        kept.append(line)
        used += cost
    if not kept:
        kept = [lines[0][: max(max_length, 0)]]
        remaining = len(lines) - 1
    else:
        remaining = len(lines) - len(kept)
    try:
        note = message.format(remaining=remaining)
    except (KeyError, IndexError, ValueError):
        # A user-supplied message with stray braces must not break clipping
        note = message
    return "\n".join(kept) + "\n" + note, True


def _is_container(value: Any) -> bool:
    """Tell whether ``value`` is rendered as nested structure rather than a scalar."""
    return isinstance(value, (dict, list, tuple, set, frozenset)) and len(value) > 0


def _items(value: Any) -> list[tuple[str, Any]]:
    """Return (label, child) pairs of a container; sequence items are labelled ``item_0``, ``item_1``..."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return [(f"item_{i}", v) for i, v in enumerate(value)]


def render_xml(data: Any, indent: str = "  ", type_hints: bool = False) -> str:
    """Render ``data`` as XML-like tags (values are not escaped: the output is for reading)."""
    if not _is_container(data):
        return str(data)
    lines: list[str] = []
    _xml_children(data, indent, type_hints, 0, {id(data)}, lines)
    return "\n".join(lines)


def _xml_children(data: Any, indent: str, hints: bool, level: int, seen: set[int], out: list[str]) -> None:
    """Append one tag per child of ``data`` to ``out``; ``seen`` holds ids on the current path."""
    pad = indent * level
    for tag, value in _items(data):
        attr = f' type="{type(value).__name__}"' if hints else ""
        if _is_container(value) and id(value) in seen:
            out.append(f"{pad}<{tag}{attr}>{CIRCULAR_MARKER}</{tag}>")
        elif _is_container(value):
            out.append(f"{pad}<{tag}{attr}>")
            seen.add(id(value))
            _xml_children(value, indent, hints, level + 1, seen, out)
            seen.discard(id(value))  # siblings may share an object without it being a cycle
            out.append(f"{pad}</{tag}>")
        else:
            out.append(f"{pad}<{tag}{attr}>{value}</{tag}>")


def render_markdown(data: Any, indent: str = "  ", type_hints: bool = False) -> str:
    """Render ``data`` as markdown: ``**key**: value`` for mappings, ``- value`` for sequences."""
    if not _is_container(data):
        return str(data)
    lines: list[str] = []
    _md_children(data, indent, type_hints, 0, {id(data)}, lines)
    return "\n".join(lines)


def _md_children(data: Any, indent: str, hints: bool, level: int, seen: set[int], out: list[str]) -> None:
    """Append one markdown line (plus nested lines) per child of ``data`` to ``out``."""
    pad = indent * level
    is_map = isinstance(data, dict)
    for label, value in _items(data):
        hint = f" ({type(value).__name__})" if hints else ""
        head = f"{pad}**{label}**{hint}:" if is_map else f"{pad}-{hint}"
        if _is_container(value) and id(value) in seen:
            out.append(f"{head} {CIRCULAR_MARKER}")
        elif _is_container(value):
            out.append(head)
            seen.add(id(value))
            _md_children(value, indent, hints, level + 1, seen, out)
            seen.discard(id(value))
        else:
            out.append(f"{head} {value}")
