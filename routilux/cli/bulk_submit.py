"""``routilux submit FLOW --entry E --params-file jobs.jsonl``: one job per line of entry parameters."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from routilux.cli.exits import UsageError
from routilux.cli.options import json_object
from routilux.errors import BulkSubmitError


def read_params_file(path: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The JSON objects of a JSON Lines file ("-": stdin), blank lines skipped; and each one's line number.

    Raises:
        UsageError: the file cannot be read, or a line is not a JSON object.
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--params-file {path}: {exc}") from exc
    params, lines = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            params.append(json_object(line, f"--params-file {path} line {number}"))
            lines.append(number)
    return params, lines


def submit_file(runtime: Any, flow: str, entry: str, path: str, priority: int | None,
                tenant: str | None = None, concurrency_key: str | None = None) -> list[str]:
    """Submit a job per line of ``path``; print each job id as its chunk is submitted; returns them.

    Raises:
        UsageError: the file is malformed, or a line was refused (naming its line; the jobs of the
            lines before its chunk were started and printed).
    """
    params, lines = read_params_file(path)
    items = [{"flow": flow, "entry": entry, "params": p, "priority": priority, "tenant": tenant,
              "concurrency_key": concurrency_key} for p in params]
    try:
        ids = runtime.submit_many(items)
    except BulkSubmitError as exc:
        for job_id in exc.submitted:
            print(job_id, flush=True)
        raise UsageError(f"--params-file {path} line {lines[exc.index]}: {exc.__cause__ or exc}; "
                         f"{len(exc.submitted)} jobs of the lines before it were started") from exc
    for job_id in ids:
        print(job_id, flush=True)
    return ids
