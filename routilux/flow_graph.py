"""Draw a flow: as a text tree for the terminal, as Mermaid or Graphviz DOT source, or as SVG/PNG.

Every function takes the plain description of :func:`routilux.flow_info.describe_flow`
(or ``DistributedRuntime.flow_info``), so a console can draw the same layout.
Text, Mermaid and DOT need nothing installed; SVG and PNG go through Graphviz's
layout engine (the ``graphviz`` Python package and the ``dot`` program).
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from routilux.errors import RoutiluxError

IMAGE_FORMATS = ("svg", "png")


class GraphRenderError(RoutiluxError):
    """A flow cannot be drawn in the asked format here (a missing program or package)."""


def edges(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Connections as ``{"source", "event", "target", "slot", "merge", "mapping"}`` (merge: the target slot's)."""
    merges = {(rid, s["name"]): s["merge_strategy"] for rid, r in info["routines"].items() for s in r["slots"]}
    out = []
    for conn in info["connections"]:
        source, event = conn["from"].split(".", 1)
        target, slot = conn["to"].split(".", 1)
        out.append({"source": source, "event": event, "target": target, "slot": slot,
                    "merge": merges.get((target, slot), "override"), "mapping": conn.get("param_mapping")})
    return out


def edge_label(edge: dict[str, Any]) -> str:
    """``event → slot``, with the slot's merge strategy (unless override) and the param mapping."""
    label = f"{edge['event']} → {edge['slot']}"
    if edge["merge"] != "override":
        label += f" ({edge['merge']})"
    if edge["mapping"]:
        label += " {" + ", ".join(f"{k}→{v}" for k, v in edge["mapping"].items()) + "}"
    return label


def entries(info: dict[str, Any]) -> list[str]:
    """Routines nothing connects into (the flow's entry points), in flow order; all of them if none."""
    targets = {e["target"] for e in edges(info)}
    found = [rid for rid in info["routines"] if rid not in targets]
    return found or list(info["routines"])


def to_text(info: dict[str, Any]) -> str:
    """A tree drawn from each entry routine along its connections, then each routine's class and slots."""
    out = edges(info)
    lines = [f"flow {info.get('flow_id')}" + (f" ({info['hash'][:12]})" if info.get("hash") else "")]
    seen: set[str] = set()

    def walk(rid: str, prefix: str, path: tuple[str, ...]) -> None:
        children = [e for e in out if e["source"] == rid]
        for n, edge in enumerate(children):
            last = n == len(children) - 1
            target = edge["target"]
            note = " ↺" if target in path else (" …" if target in seen else "")
            lines.append(f"{prefix}{'└' if last else '├'}─ {edge_label(edge)} ─▶ {target}{note}")
            if not note:
                seen.add(target)
                walk(target, prefix + ("   " if last else "│  "), (*path, target))

    for root in entries(info):
        lines.append(root)
        seen.add(root)
        walk(root, "", (root,))
    lines.append("")
    lines.append("routines:")
    for rid, r in info["routines"].items():
        slots = ", ".join(s["name"] + ("" if s["merge_strategy"] == "override" else f" ({s['merge_strategy']})")
                          for s in r["slots"])
        events = ", ".join(f"{e['name']}({', '.join(e['params'])})" for e in r["events"])
        lines.append(f"  {rid}: {r['class']}")
        lines.append(f"    slots: {slots or '-'}   events: {events or '-'}")
        if r["config"]:
            lines.append(f"    config: {json.dumps(r['config'], sort_keys=True, default=str)}")
    return "\n".join(lines)


def to_mermaid(info: dict[str, Any]) -> str:
    """A Mermaid ``flowchart LR``."""
    ids = {rid: f"r{n}" for n, rid in enumerate(info["routines"])}
    lines = ["flowchart LR"]
    for rid, r in info["routines"].items():
        lines.append(f'  {ids[rid]}["{_mermaid(rid)}<br/><small>{_mermaid(_short(r["class"]))}</small>"]')
    for edge in edges(info):
        lines.append(f'  {ids[edge["source"]]} -- "{_mermaid(edge_label(edge))}" --> {ids[edge["target"]]}')
    return "\n".join(lines)


def to_dot(info: dict[str, Any]) -> str:
    """Graphviz DOT source (left to right, one box per routine, one labelled arrow per connection)."""
    lines = [f"digraph {_quote(str(info.get('flow_id') or 'flow'))} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded", fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];']
    for rid, r in info["routines"].items():
        lines.append(f"  {_quote(rid)} [label={_quote(rid + chr(10) + _short(r['class']))}];")
    for edge in edges(info):
        style = ", style=bold" if edge["merge"] != "override" else ""
        lines.append(f"  {_quote(edge['source'])} -> {_quote(edge['target'])} [label={_quote(edge_label(edge))}{style}];")
    lines.append("}")
    return "\n".join(lines)


def to_image(info: dict[str, Any], fmt: str) -> bytes:
    """SVG or PNG bytes, laid out by Graphviz.

    Raises:
        GraphRenderError: the ``graphviz`` package or the ``dot`` program is missing.
    """
    if fmt not in IMAGE_FORMATS:
        raise GraphRenderError(f"unknown image format {fmt!r}; use one of {', '.join(IMAGE_FORMATS)}")
    try:
        import graphviz
    except ImportError:
        raise GraphRenderError(f"--format {fmt} needs the graphviz Python package: pip install 'routilux[cli]' "
                               "(text, mermaid and dot need nothing)") from None
    if shutil.which("dot") is None:
        raise GraphRenderError(f"--format {fmt} needs Graphviz's 'dot' program on PATH: install Graphviz "
                               "(apt-get install graphviz, brew install graphviz); text, mermaid and dot need nothing")
    return graphviz.Source(to_dot(info)).pipe(format=fmt)


def _short(class_path: Any) -> str:
    return str(class_path or "?").rsplit(".", 1)[-1]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _mermaid(text: str) -> str:
    return text.replace('"', "#quot;")
