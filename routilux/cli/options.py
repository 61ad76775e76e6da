"""Options every command shares, and how a subcommand is added with them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from routilux.cli.exits import Command, UsageError


def add_connection_arguments(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    """Options every command shares: where Redis (and the broker) is and which key prefix to use.

    ``nested``: for a sub-subcommand, whose defaults must not hide the parent command's values.
    """
    default = argparse.SUPPRESS if nested else None
    parser.add_argument("--redis-url", default=default, help="Redis URL (env ROUTILUX_REDIS_URL)")
    parser.add_argument("--broker-url", default=default, help="Celery broker when it is not the Redis, e.g. "
                                                              "amqp://host:5672// (env ROUTILUX_BROKER_URL)")
    parser.add_argument("--key-prefix", default=default, help="prefix of every Routilux key (env ROUTILUX_KEY_PREFIX)")


def add_command(sub: Any, name: str, func: Command, text: str) -> argparse.ArgumentParser:
    """Add subcommand ``name`` running ``func``, with the connection options; returns its parser."""
    parser = sub.add_parser(name, help=text, description=text)
    add_connection_arguments(parser)
    parser.set_defaults(func=func)
    return parser


def add_action(actions: Any, name: str, func: Command, text: str) -> argparse.ArgumentParser:
    """Add action ``name`` of a command (``routilux schedules add``...) running ``func``; returns its parser."""
    parser = actions.add_parser(name, help=text, description=text)
    add_connection_arguments(parser, nested=True)
    parser.set_defaults(func=func)
    return parser


def json_object(text: str, option: str = "--params") -> dict[str, Any]:
    """Parse an option's JSON object, or raise a UsageError naming the option."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object, e.g. '{{\"value\": 10}}'")
    return value
