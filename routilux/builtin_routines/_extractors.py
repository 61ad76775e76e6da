"""Built-in extractors of ResultExtractor: pure functions ``(data, config) -> Extraction | None``.

Each extractor returns ``None`` when it does not apply to the data and an
:class:`Extraction` when it found something. They read their switches from
the routine's config dict and keep no state, so they are safe to share
between threads and executions.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Callable, NamedTuple

try:  # PyYAML is optional: the YAML extractors simply stay silent without it
    import yaml as _yaml
except ImportError:  # pragma: no cover - depends on the environment
    _yaml = None

YAML_AVAILABLE = _yaml is not None

_FENCE = re.compile(r"```[ \t]*([\w+.\-]*)[^\n]*\n(.*?)```", re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Embedded-JSON search tries raw_decode at each opening bracket; cap it so a
# long text full of brackets cannot make one extraction quadratic.
_MAX_EMBEDDED_CANDIDATES = 50


class Extraction(NamedTuple):
    """One extractor's finding: the value, its format name, a confidence and metadata."""

    result: Any
    format: str
    confidence: float = 0.9
    metadata: dict[str, Any] | None = None


Extractor = Callable[[Any, dict[str, Any]], Any]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Return (language, body) for every fenced ``` block in ``text``; language is lowercased."""
    return [(lang.lower(), body) for lang, body in _FENCE.findall(text)]


def _loads_structure(text: str) -> Any:
    """Parse ``text`` as JSON and return it only if it is an object or array, else None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def _one_or_many(values: list[Any]) -> Any:
    """Return the single value, or the list when there are several."""
    return values[0] if len(values) == 1 else values


def extract_json_string(data: Any, config: dict[str, Any]) -> Extraction | None:
    """The whole string is a JSON object or array."""
    if not config.get("parse_json_strings", True) or not isinstance(data, str):
        return None
    value = _loads_structure(data)
    return None if value is None else Extraction(value, "json", 1.0, {"source": "string"})


def extract_json_blocks(data: Any, config: dict[str, Any]) -> Extraction | None:
    """Fenced blocks tagged ``json`` (or untagged blocks holding JSON)."""
    if not config.get("extract_json_blocks", True) or not isinstance(data, str):
        return None
    found = []
    for lang, body in code_blocks(data):
        if lang in ("json", ""):
            value = _loads_structure(body) if lang == "" else json.loads(body)
            if value is not None or lang == "json":
                found.append(value)
    if not found:
        return None
    return Extraction(_one_or_many(found), "json", 0.95, {"source": "code_block", "block_count": len(found)})


def _message_output(messages: list[Any]) -> tuple[str, int] | None:
    """Join the console output of interpreter-style messages (dicts with ``content``); return (text, outputs joined)."""
    if not messages or not all(isinstance(m, dict) and "content" in m for m in messages):
        return None
    outputs = [m for m in messages if m.get("type") == "console" or m.get("format") == "output"]
    chosen = outputs or messages
    return "\n".join(str(m["content"]) for m in chosen), len(chosen)


def extract_interpreter_output(data: Any, config: dict[str, Any]) -> Extraction | None:
    """Interpreter output: ```output blocks, or a list of message dicts with ``content``."""
    if not config.get("format_interpreter_output", True):
        return None
    if isinstance(data, list):
        found = _message_output(data)
        source = "messages"
    elif isinstance(data, str):
        blocks = [body for lang, body in code_blocks(data) if lang == "output"]
        found = ("\n".join(blocks), len(blocks)) if blocks else None
        source = "code_block"
    else:
        return None
    if found is None:
        return None
    text, count = found
    cleaned = _ANSI.sub("", text).strip()
    return Extraction(cleaned, "interpreter_output", 0.9, {"source": source, "output_count": count})


def extract_yaml_blocks(data: Any, config: dict[str, Any]) -> Extraction | None:
    """Fenced blocks tagged ``yaml``/``yml`` (needs PyYAML)."""
    if _yaml is None or not config.get("extract_yaml_blocks", False) or not isinstance(data, str):
        return None
    found = [_yaml.safe_load(body) for lang, body in code_blocks(data) if lang in ("yaml", "yml")]
    if not found:
        return None
    return Extraction(_one_or_many(found), "yaml", 0.85, {"source": "code_block", "block_count": len(found)})


def _element_to_dict(element: ET.Element) -> dict[str, Any]:
    """Turn an XML element into ``{tag: content}`` with attributes under ``@name`` keys."""
    content: dict[str, Any] = {f"@{k}": v for k, v in element.attrib.items()}
    for child in element:
        (tag, value), = _element_to_dict(child).items()
        if tag in content:  # repeated child tags become a list
            previous = content[tag]
            content[tag] = previous + [value] if isinstance(previous, list) else [previous, value]
        else:
            content[tag] = value
    text = (element.text or "").strip()
    if not content:
        return {element.tag: text}
    if text:
        content["#text"] = text
    return {element.tag: content}


def extract_xml_blocks(data: Any, config: dict[str, Any]) -> Extraction | None:
    """Fenced blocks tagged ``xml``, parsed into nested dicts."""
    if not config.get("extract_xml_blocks", False) or not isinstance(data, str):
        return None
    found = [_element_to_dict(ET.fromstring(body.strip())) for lang, body in code_blocks(data) if lang == "xml"]
    if not found:
        return None
    return Extraction(_one_or_many(found), "xml", 0.85, {"source": "code_block", "block_count": len(found)})


def _parse_nested(value: Any, parse_strings: bool) -> tuple[Any, int]:
    """Copy ``value`` with JSON strings inside it parsed; return (copy, number parsed)."""
    if isinstance(value, dict):
        pairs = [(k, _parse_nested(v, parse_strings)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(value, list):
        parts = [_parse_nested(v, parse_strings) for v in value]
        return [v for v, _ in parts], sum(n for _, n in parts)
    if parse_strings and isinstance(value, str):
        parsed = _loads_structure(value)
        if parsed is not None:
            inner, count = _parse_nested(parsed, parse_strings)
            return inner, count + 1
    return value, 0


def extract_structured(data: Any, config: dict[str, Any]) -> Extraction | None:
    """Data that is already a dict or list (JSON strings inside are parsed when enabled)."""
    if not isinstance(data, (dict, list)):
        return None
    nested = config.get("detect_nested_structures", True)
    result, parsed = _parse_nested(data, nested and config.get("parse_json_strings", True))
    return Extraction(result, type(data).__name__, 0.8, {"source": "structured", "nested_parsed": parsed})


def extract_code_blocks(data: Any, config: dict[str, Any]) -> Extraction | None:
    """Fenced blocks in one of ``code_block_languages``: the code string, or a list of blocks."""
    if not config.get("extract_code_blocks", True) or not isinstance(data, str):
        return None
    languages = config.get("code_block_languages") or []
    blocks = [(lang, body) for lang, body in code_blocks(data) if lang in languages]
    if not blocks:
        return None
    if len(blocks) == 1:
        lang, body = blocks[0]
        meta = {"language": lang, "block_count": 1, "extraction_method": f"{lang}_code_block"}
        return Extraction(body.rstrip("\n"), lang, 0.7, meta)
    result = [{"language": lang, "code": body.rstrip("\n")} for lang, body in blocks]
    meta = {"languages": [b[0] for b in blocks], "block_count": len(blocks), "extraction_method": "code_block"}
    return Extraction(result, "code_block", 0.7, meta)


def extract_embedded_json(data: Any, config: dict[str, Any]) -> Extraction | None:
    """The first JSON object or array embedded in prose (``detect_nested_structures``)."""
    if not config.get("detect_nested_structures", True) or not isinstance(data, str):
        return None
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[{\[]", data)][:_MAX_EMBEDDED_CANDIDATES]
    for start in starts:
        try:
            value, end = decoder.raw_decode(data, start)
        except ValueError:
            continue
        if isinstance(value, (dict, list)) and value:
            return Extraction(value, "json", 0.6, {"source": "embedded", "span": [start, end]})
    return None


def extract_yaml_string(data: Any, config: dict[str, Any]) -> Extraction | None:
    """The whole string is YAML describing a mapping or list (needs PyYAML)."""
    if _yaml is None or not config.get("parse_yaml_strings", False) or not isinstance(data, str):
        return None
    try:
        value = _yaml.safe_load(data)
    except _yaml.YAMLError:
        return None
    # Almost any text is valid YAML (a plain scalar); only structure counts as a finding
    if not isinstance(value, (dict, list)):
        return None
    return Extraction(value, "yaml", 0.5, {"source": "string"})


BUILTIN_EXTRACTORS: dict[str, Extractor] = {
    "json_string": extract_json_string,
    "json_code_block": extract_json_blocks,
    "interpreter_output": extract_interpreter_output,
    "yaml_code_block": extract_yaml_blocks,
    "xml_code_block": extract_xml_blocks,
    "structured": extract_structured,
    "code_block": extract_code_blocks,
    "embedded_json": extract_embedded_json,
    "yaml_string": extract_yaml_string,
}


def normalize(found: Any) -> Extraction | None:
    """Turn an extractor's return value into an Extraction.

    Accepted: None (no finding), an Extraction, ``(result, format)``,
    ``(result, format, metadata_dict)`` (upstream's custom-extractor shape),
    ``(result, format, confidence)`` and ``(result, format, confidence, metadata)``.
    """
    if found is None:
        return None
    if isinstance(found, Extraction):
        return found
    if isinstance(found, tuple) and len(found) == 3 and isinstance(found[2], dict):
        return Extraction(found[0], found[1], 0.9, found[2])
    if isinstance(found, tuple) and 2 <= len(found) <= 4:
        return Extraction(*found)
    raise TypeError(
        "an extractor must return None, an Extraction or a tuple "
        f"(result, format[, metadata]) or (result, format[, confidence[, metadata]]), not {type(found).__name__}"
    )
