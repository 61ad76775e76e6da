"""``routilux flows`` (published flows and their versions) and ``routilux graph`` (draw a flow).

(The flow spec file commands, validate/run/publish, are in flows.py.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.exits import EXIT_FAILED, UsageError, fail
from routilux.cli.options import add_command
from routilux.cli.output import print_json, table, when
from routilux.cli.process import import_modules

FORMATS = ("text", "mermaid", "dot", "svg", "png")


def register(sub: Any) -> None:
    """Add the ``flows`` and ``graph`` commands."""
    flows = add_command(sub, "flows", cmd_flows, "list published flows and their versions")
    flows.add_argument("--json", action="store_true", help="one JSON object per flow and line")

    graph = add_command(sub, "graph", cmd_graph, "draw a flow: its routines and connections")
    graph.add_argument("flow", metavar="FLOW_ID_OR_FILE",
                       help="a published flow id or hash, a flow spec file (YAML/JSON), or a JSON file of "
                            "Flow.serialize() output")
    graph.add_argument("--format", "-f", choices=FORMATS, default="text",
                       help="text (default), mermaid, dot; svg and png need Graphviz")
    graph.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    graph.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                       help="module defining the routine classes a flow spec file names (repeatable)")


def cmd_flows(args: argparse.Namespace) -> int:
    """Print published flows: id, latest hash, number of versions, last publication."""
    with runtime_from(args) as runtime:
        flows = runtime.flows()
    if args.json:
        for flow in flows:
            print_json(flow)
        return 0
    cells = [[f["flow_id"], f["latest"][:16], str(len(f["versions"])), when(f["versions"][-1]["published_at"])]
             for f in flows]
    print("\n".join(table(["FLOW", "LATEST", "VERSIONS", "PUBLISHED"], cells)))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    """Draw a published flow or a flow file in the asked format."""
    from routilux import flow_graph

    info = flow_info_of(args)
    if args.format in flow_graph.IMAGE_FORMATS:
        try:
            data = flow_graph.to_image(info, args.format)
        except flow_graph.GraphRenderError as exc:  # the request was right; this host lacks a program
            return fail(str(exc), EXIT_FAILED)
        if not args.output and sys.stdout.isatty():
            raise UsageError(f"--format {args.format} writes binary data: give --output FILE or redirect stdout")
    else:
        render = {"text": flow_graph.to_text, "mermaid": flow_graph.to_mermaid, "dot": flow_graph.to_dot}
        data = (render[args.format](info) + "\n").encode()
    if args.output:
        with open(args.output, "wb") as out:
            out.write(data)
        print(f"wrote {args.output} ({len(data)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def flow_info_of(args: argparse.Namespace) -> dict[str, Any]:
    """The flow's description, from a file when FLOW_ID_OR_FILE names one, else from the store."""
    if os.path.isfile(args.flow):
        return _from_file(args.flow, args.imports)
    if args.flow.endswith((".json", ".yaml", ".yml")) or os.sep in args.flow:
        raise UsageError(f"no such file: {args.flow}")
    with runtime_from(args) as runtime:
        return runtime.flow_info(args.flow)


def _from_file(path: str, imports: list[str]) -> dict[str, Any]:
    """Describe a flow spec file (YAML or JSON, see ``Flow.load_spec``) or a JSON file of ``Flow.serialize()``."""
    from routilux.errors import RoutiluxError
    from routilux.flow import Flow
    from routilux.flow_info import describe_flow

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.loads(handle.read()) if path.endswith(".json") else None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    try:
        if isinstance(data, dict) and data.get("_type") == "Flow":
            return describe_flow(data)
        import_modules(imports)  # a spec names routine classes, found only among imported modules
        return describe_flow(Flow.load_spec(path).serialize())
    except RoutiluxError as exc:
        raise UsageError(f"{path}: {' '.join(str(exc).split())}") from None
