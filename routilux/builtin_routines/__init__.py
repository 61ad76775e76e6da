"""Built-in routines: generic, reusable building blocks for Routilux flows.

All of them have no-argument constructors, take their settings through
``set_config`` and keep only plain data in ``_config``, so a flow using them
serializes and deserializes like any other.
"""

from __future__ import annotations

from routilux.builtin_routines.conditions import register_condition
from routilux.builtin_routines.control_flow import ConditionalRouter
from routilux.builtin_routines.data_processing import DataTransformer, DataValidator
from routilux.builtin_routines.subflow import SubFlow
from routilux.builtin_routines.text_processing import ResultExtractor, TextClipper, TextRenderer
from routilux.builtin_routines.utils import DataFlattener, TimeProvider
from routilux.builtin_routines.waiting import WaitForPost

__all__ = [
    "TextClipper",
    "TextRenderer",
    "ResultExtractor",
    "TimeProvider",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ConditionalRouter",
    "SubFlow",
    "register_condition",
    "WaitForPost",
]
