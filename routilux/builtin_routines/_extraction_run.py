"""Strategy logic of ResultExtractor: which extractors run, in what order, and which result wins."""

from __future__ import annotations

import logging
from typing import Any

from routilux.builtin_routines._extractors import BUILTIN_EXTRACTORS, Extraction, Extractor, normalize

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "priority", "all", "first_match")


def extractor_order(config: dict[str, Any], custom: dict[str, Extractor]) -> tuple[list[str], list[str]]:
    """Return (names to try in order, errors about unknown names in ``extractor_priority``).

    Registered extractors come before built-ins: a user who registers one means it to win.
    The ``priority`` strategy puts the names of ``extractor_priority`` in front.
    """
    default = list(custom) + [name for name in BUILTIN_EXTRACTORS if name not in custom]
    if config.get("strategy", "auto") != "priority":
        return default, []
    errors: list[str] = []
    front: list[str] = []
    for name in config.get("extractor_priority") or []:
        if name in default and name not in front:
            front.append(name)
        elif name not in default:
            errors.append(f"unknown extractor in extractor_priority: {name!r}")
    return front + [n for n in default if n not in front], errors


def _attempt(name: str, fn: Extractor, data: Any, config: dict[str, Any], errors: list[str]) -> Extraction | None:
    """Run one extractor; on failure record the error, or raise when ``continue_on_error`` is off."""
    try:
        return normalize(fn(data, config))
    except Exception as exc:  # an extractor is user-extensible code: any failure is possible
        if not config.get("continue_on_error", True):
            raise
        errors.append(f"{name}: {type(exc).__name__}: {exc}")
        if config.get("log_errors", True):
            logger.warning("ResultExtractor: extractor %r failed: %s", name, exc)
        return None


def run_extraction(data: Any, config: dict[str, Any], custom: dict[str, Extractor]) -> dict[str, Any]:
    """Extract a result from ``data``; return the ``output`` event's parameters as a dict."""
    strategy = config.get("strategy", "auto")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown ResultExtractor strategy {strategy!r}; expected one of {STRATEGIES}")
    order, errors = extractor_order(config, custom)
    table = {**BUILTIN_EXTRACTORS, **custom}
    found: list[tuple[str, Extraction]] = []
    attempted: list[str] = []
    for name in order:
        attempted.append(name)
        hit = _attempt(name, table[name], data, config, errors)
        if hit is None:
            continue
        found.append((name, hit))
        if strategy in ("first_match", "priority"):
            break
    base = {"strategy": strategy, "errors": errors, "attempted": attempted}
    if not found:
        return _fallback(data, config, base)
    if strategy == "all":
        results = [
            {"extractor": n, "format": e.format, "result": e.result, "confidence": e.confidence} for n, e in found
        ]
        return {
            "extracted_result": results,
            "format": "multiple",
            "metadata": {**base, "extractor": None, "match_count": len(found)},
            "confidence": max(e.confidence for _, e in found),
            "extraction_path": [n for n, _ in found],
        }
    # auto: the most confident finding wins; max() keeps the earliest on ties
    name, best = max(found, key=lambda pair: pair[1].confidence) if strategy == "auto" else found[0]
    return {
        "extracted_result": best.result,
        "format": best.format,
        "metadata": {"extraction_method": name, **(best.metadata or {}), **base, "extractor": name},
        "confidence": float(best.confidence),
        "extraction_path": [name],
    }


def _fallback(data: Any, config: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Build the output when no extractor matched: the original data, or None."""
    if config.get("return_original_on_failure", True):
        fmt = "text" if isinstance(data, str) else type(data).__name__
        return {
            "extracted_result": data,
            "format": fmt,
            "metadata": {**base, "extractor": None},
            "confidence": 0.0,
            "extraction_path": ["original"],
        }
    return {
        "extracted_result": None,
        "format": "none",
        "metadata": {**base, "extractor": None},
        "confidence": 0.0,
        "extraction_path": [],
    }
