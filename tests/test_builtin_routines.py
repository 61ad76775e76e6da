"""Behaviour of the eight built-in routines, driven through real flows."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from routilux import Flow
from routilux.builtin_routines import (
    ConditionalRouter,
    DataFlattener,
    DataTransformer,
    DataValidator,
    ResultExtractor,
    TextClipper,
    TextRenderer,
    TimeProvider,
)
from routilux.builtin_routines.text_processing import YAML_AVAILABLE, Extraction
from routilux.errors import SerializationError
from routilux.routine import Routine
from routilux.slot import Slot

pytestmark = pytest.mark.timeout(60)


class Feeder(Routine):
    """Entry routine: emits its entry params unchanged on ``output``."""

    def __init__(self) -> None:
        """Define the trigger slot and the output event."""
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self._trigger)
        self.output_event = self.define_event("output")

    def _trigger(self, **kwargs: Any) -> None:
        """Forward the entry params."""
        self.emit("output", **kwargs)


class Collector(Routine):
    """Records every payload its ``input`` slot receives in the job's shared log."""

    def __init__(self) -> None:
        """Define the input slot."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._collect)

    def _collect(self, **kwargs: Any) -> None:
        """Append the payload, tagged with this collector's id."""
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log({"collector": ctx.routine_id, "payload": kwargs})


def build_flow(routine: Routine, events: tuple[str, ...] = ("output",), slot: str = "input") -> Flow:
    """Wire feeder -> routine.<slot> and routine.<event> -> one collector per event."""
    flow = Flow()
    flow.add_routine(Feeder(), "feeder")
    flow.add_routine(routine, "r")
    flow.connect("feeder", "output", "r", slot)
    for event in events:
        flow.add_routine(Collector(), f"c_{event}")
        flow.connect("r", event, f"c_{event}", "input")
    return flow


def run_flow(flow: Flow, events: tuple[str, ...] = ("output",), **entry: Any) -> dict[str, list[dict[str, Any]]]:
    """Execute ``flow`` from the feeder; return the payloads each event's collector got."""
    try:
        job = flow.execute("feeder", entry_params=entry, timeout=20)
        assert job.status == "completed", (job.status, job.error)
        log = job.get_shared_log()
    finally:
        flow.shutdown()
    return {event: [e["payload"] for e in log if e["collector"] == f"c_{event}"] for event in events}


def run(routine: Routine, events: tuple[str, ...] = ("output",), slot: str = "input", **entry: Any) -> dict[str, list[dict[str, Any]]]:
    """Build a one-routine flow around ``routine`` and execute it once with ``entry``."""
    return run_flow(build_flow(routine, events, slot), events, **entry)


def only(results: dict[str, list[dict[str, Any]]], event: str = "output") -> dict[str, Any]:
    """Return the one payload of ``event``, failing if there was not exactly one."""
    assert len(results[event]) == 1, results
    return results[event][0]


def roundtrip(routine: Routine, events: tuple[str, ...] = ("output",), slot: str = "input") -> Flow:
    """Serialize a flow holding ``routine`` through JSON and rebuild it."""
    data = build_flow(routine, events, slot).serialize()
    return Flow.deserialize(json.loads(json.dumps(data)))


# -- TextClipper ----------------------------------------------------------------------


def test_text_clipper_passes_short_text_unchanged() -> None:
    out = only(run(TextClipper(), text="short text"))
    assert out == {"clipped_text": "short text", "was_clipped": False, "original_length": 10}


def test_text_clipper_clips_whole_lines_and_says_how_many_were_dropped() -> None:
    clipper = TextClipper()
    clipper.set_config(max_length=20)
    text = "line one\nline two\nline three\nline four"
    out = only(run(clipper, text=text))
    assert out["was_clipped"] is True
    assert out["original_length"] == len(text)
    assert out["clipped_text"] == "line one\nline two\n...(省略了2行)"


def test_text_clipper_keeps_tracebacks_whole() -> None:
    clipper = TextClipper()
    clipper.set_config(max_length=10)
    text = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom'
    out = only(run(clipper, text=text))
    assert out["clipped_text"] == text
    assert out["was_clipped"] is False


def test_text_clipper_clips_tracebacks_when_preservation_is_off() -> None:
    clipper = TextClipper()
    clipper.set_config(max_length=10, preserve_tracebacks=False, truncation_message="[{remaining} more]")
    out = only(run(clipper, text="Traceback (most recent call last):\nline\nline"))
    assert out["was_clipped"] is True
    assert out["clipped_text"].endswith("[2 more]")


def test_text_clipper_takes_max_length_from_the_input_over_the_config() -> None:
    out = only(run(TextClipper(), text="aaaa\nbbbb\ncccc", max_length=9))
    assert out["clipped_text"] == "aaaa\nbbbb\n...(省略了1行)"


def test_text_clipper_cuts_inside_a_first_line_longer_than_the_limit() -> None:
    clipper = TextClipper()
    clipper.set_config(max_length=5)
    out = only(run(clipper, text="abcdefghij\nsecond"))
    assert out["clipped_text"].startswith("abcde\n")
    assert out["was_clipped"] is True


# -- TextRenderer ---------------------------------------------------------------------


def test_text_renderer_renders_nested_dicts_as_indented_xml_tags_and_list_items_by_position() -> None:
    out = only(run(TextRenderer(), data={"name": "Ada", "info": {"age": 36, "langs": ["en", "fr"]}}))
    assert out["original_type"] == "dict"
    assert out["rendered_text"] == (
        "<name>Ada</name>\n<info>\n  <age>36</age>\n  <langs>\n    <item_0>en</item_0>\n    <item_1>fr</item_1>\n"
        "  </langs>\n</info>"
    )


def test_text_renderer_renders_markdown_with_type_hints_when_asked() -> None:
    renderer = TextRenderer()
    renderer.set_config(tag_format="markdown", include_type_hints=True, indent="    ")
    out = only(run(renderer, data={"title": "T", "tags": ["a"]}))
    assert out["rendered_text"] == "**title** (str): T\n**tags** (list):\n    - (str) a"


def test_text_renderer_renders_scalars_as_plain_text() -> None:
    out = only(run(TextRenderer(), data=42))
    assert out == {"rendered_text": "42", "original_type": "int"}


def test_text_renderer_marks_circular_references_instead_of_recursing() -> None:
    renderer = TextRenderer()
    looped: dict[str, Any] = {"a": 1}
    looped["me"] = looped
    sent: list[dict[str, Any]] = []
    renderer.emit = lambda event, **kw: sent.append(kw)  # type: ignore[method-assign]
    renderer.input_slot.receive({"data": looped})
    assert sent[0]["rendered_text"] == "<a>1</a>\n<me>[circular reference]</me>"


# -- ResultExtractor ------------------------------------------------------------------


def test_result_extractor_parses_json_from_a_code_block() -> None:
    out = only(run(ResultExtractor(), data='Result:\n```json\n{"score": 0.9, "ok": true}\n```\nDone.'))
    assert out["extracted_result"] == {"score": 0.9, "ok": True}
    assert out["format"] == "json"
    assert out["extraction_path"] == ["json_code_block"]
    assert 0.0 < out["confidence"] <= 1.0
    assert out["metadata"]["strategy"] == "auto"


def test_result_extractor_parses_a_string_that_is_json() -> None:
    out = only(run(ResultExtractor(), data='[1, 2, {"a": null}]'))
    assert out["extracted_result"] == [1, 2, {"a": None}]
    assert out["confidence"] == 1.0


def test_result_extractor_returns_the_code_of_a_python_block_with_its_language_as_format() -> None:
    out = only(run(ResultExtractor(), data="Try:\n```python\nprint('hi')\n```"))
    assert out["format"] == "python"
    assert out["extracted_result"] == "print('hi')"
    assert out["metadata"]["language"] == "python"
    assert out["metadata"]["extraction_method"] == "python_code_block"


def test_result_extractor_names_the_extraction_method_of_every_finding() -> None:
    out = only(run(ResultExtractor(), data='{"a": 1}'))
    assert out["metadata"]["extraction_method"] == "json_string"


def test_result_extractor_formats_interpreter_output_without_ansi_codes() -> None:
    messages = [
        {"role": "assistant", "type": "code", "content": "print(1)"},
        {"role": "computer", "type": "console", "format": "output", "content": "\x1b[32m1\x1b[0m\n"},
    ]
    out = only(run(ResultExtractor(), data=messages))
    assert out["format"] == "interpreter_output"
    assert out["extracted_result"] == "1"
    assert out["metadata"]["output_count"] == 1


def test_result_extractor_counts_the_outputs_it_joined() -> None:
    out = only(run(ResultExtractor(), data=[{"format": "output", "content": "a"}, {"format": "output", "content": "b"}]))
    assert out["extracted_result"] == "a\nb"
    assert out["metadata"]["output_count"] == 2


def test_result_extractor_parses_json_strings_nested_in_dicts() -> None:
    out = only(run(ResultExtractor(), data={"body": '{"id": 7}', "n": 1}))
    assert out["extracted_result"] == {"body": {"id": 7}, "n": 1}
    assert out["format"] == "dict"


def test_result_extractor_finds_json_embedded_in_prose() -> None:
    out = only(run(ResultExtractor(), data='The answer is {"value": 42} as computed.'))
    assert out["extracted_result"] == {"value": 42}


def test_result_extractor_returns_the_original_when_nothing_matches() -> None:
    out = only(run(ResultExtractor(), data="just words"))
    assert out["extracted_result"] == "just words"
    assert out["confidence"] == 0.0
    assert out["extraction_path"] == ["original"]


def test_result_extractor_returns_none_when_told_not_to_fall_back() -> None:
    extractor = ResultExtractor()
    extractor.set_config(return_original_on_failure=False)
    out = only(run(extractor, data="just words"))
    assert out["extracted_result"] is None
    assert out["extraction_path"] == []


def test_result_extractor_all_strategy_lists_every_finding() -> None:
    extractor = ResultExtractor()
    extractor.set_config(strategy="all")
    out = only(run(extractor, data='```json\n{"a": 1}\n```'))
    assert out["format"] == "multiple"
    names = [item["extractor"] for item in out["extracted_result"]]
    assert names[0] == "json_code_block" and "code_block" in names
    assert out["extraction_path"] == names


def test_result_extractor_priority_strategy_tries_the_listed_extractors_first() -> None:
    extractor = ResultExtractor()
    extractor.set_config(strategy="priority", extractor_priority=["code_block", "no_such_one"])
    out = only(run(extractor, data='```json\n{"a": 1}\n```'))
    assert out["extraction_path"] == ["code_block"]
    assert out["extracted_result"] == '{"a": 1}'
    assert any("no_such_one" in e for e in out["metadata"]["errors"])


def test_result_extractor_uses_registered_extractors_first() -> None:
    extractor = ResultExtractor()
    extractor.register_extractor(
        "answer_line", lambda data, config: (data.split("ANSWER:")[1].strip(), "answer") if "ANSWER:" in data else None
    )
    extractor.set_config(strategy="first_match")
    out = only(run(extractor, data='{"x": 1}\nANSWER: 42'))
    assert out["extracted_result"] == "42"
    assert out["format"] == "answer"
    assert out["extraction_path"] == ["answer_line"]


def test_a_registered_extractor_may_return_result_format_and_a_metadata_dict() -> None:
    extractor = ResultExtractor()
    extractor.register_extractor(
        "prefixed", lambda data, config: (data[7:], "custom", {"method": "prefix"}) if data.startswith("CUSTOM:") else None
    )
    out = only(run(extractor, data="CUSTOM:value"))
    assert (out["extracted_result"], out["format"]) == ("value", "custom")
    assert out["metadata"]["method"] == "prefix"


def test_result_extractor_records_a_failing_extractor_and_carries_on() -> None:
    extractor = ResultExtractor()
    extractor.set_config(log_errors=False)

    def broken(data: Any, config: dict[str, Any]) -> Extraction:
        raise RuntimeError("kaput")

    extractor.register_extractor("broken", broken)
    out = only(run(extractor, data='{"k": 2}'))
    assert out["extracted_result"] == {"k": 2}
    assert any("kaput" in e for e in out["metadata"]["errors"])


def test_result_extractor_reports_an_invalid_json_block_as_an_error() -> None:
    extractor = ResultExtractor()
    extractor.set_config(log_errors=False, extract_code_blocks=False)
    out = only(run(extractor, data="```json\n{not json}\n```"))
    assert any(e.startswith("json_code_block") for e in out["metadata"]["errors"])


def test_result_extractor_parses_xml_blocks_when_enabled() -> None:
    extractor = ResultExtractor()
    extractor.set_config(extract_xml_blocks=True)
    out = only(run(extractor, data='```xml\n<r a="1"><v>x</v><v>y</v></r>\n```'))
    assert out["format"] == "xml"
    assert out["extracted_result"] == {"r": {"@a": "1", "v": ["x", "y"]}}


@pytest.mark.skipif(YAML_AVAILABLE, reason="checks behaviour without PyYAML")
def test_result_extractor_ignores_yaml_without_pyyaml() -> None:
    extractor = ResultExtractor()
    extractor.set_config(extract_yaml_blocks=True, parse_yaml_strings=True, extract_code_blocks=False)
    out = only(run(extractor, data="```yaml\na: 1\n```"))
    assert out["format"] == "text"


# -- TimeProvider ---------------------------------------------------------------------


def test_time_provider_answers_a_request_with_the_current_time() -> None:
    before = time.time()
    out = only(run(TimeProvider(), slot="request"))
    assert before - 1 <= out["timestamp"] <= time.time() + 1
    parsed = datetime.fromisoformat(out["datetime"])
    assert parsed.tzinfo is not None
    assert abs(parsed.timestamp() - out["timestamp"]) < 1e-3
    assert out["time_string"] == out["datetime"]


FIXED = datetime(2024, 1, 15, 14, 30, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"format": "formatted"}, "2024年01月15日 14:30:05 星期一"),
        ({"format": "formatted", "include_weekday": False}, "2024年01月15日 14:30:05"),
        ({"format": "formatted", "locale": "en_US"}, "January 15, 2024 02:30:05 PM Monday"),
        ({"format": "custom", "custom_format": "%d/%m/%Y"}, "15/01/2024"),
        ({"format": "timestamp"}, str(FIXED.timestamp())),
    ],
)
def test_time_provider_formats_the_time_as_configured(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], expected: str) -> None:
    monkeypatch.setattr(TimeProvider, "_now", staticmethod(lambda: FIXED))
    provider = TimeProvider()
    provider.set_config(**config)
    out = only(run(provider, slot="request"))
    assert out["time_string"] == expected
    assert out["formatted"] == FIXED.strftime(config.get("custom_format", "%Y-%m-%d %H:%M:%S"))


# -- DataFlattener --------------------------------------------------------------------


def test_data_flattener_joins_nested_keys_and_flattens_lists_by_index_by_default() -> None:
    out = only(run(DataFlattener(), data={"user": {"name": "A", "tags": [1, 2]}, "n": 1}))
    assert out["flattened_data"] == {"user.name": "A", "user.tags.0": 1, "user.tags.1": 2, "n": 1}
    assert out["original_type"] == "dict"
    assert out["depth"] == 3


def test_data_flattener_with_preserve_lists_keeps_list_positions_under_the_separator() -> None:
    flattener = DataFlattener()
    flattener.set_config(separator="/", preserve_lists=True)
    out = only(run(flattener, data={"a": [{"b": 1}, 2]}))
    assert out["flattened_data"] == {"a/0/b": 1, "a/1": 2}
    assert out["depth"] == 3


def test_data_flattener_keeps_lists_as_values_without_preserve_lists() -> None:
    flattener = DataFlattener()
    flattener.set_config(preserve_lists=False)
    out = only(run(flattener, data={"a": [{"b": 1}, 2], "c": {"d": 3}}))
    assert out["flattened_data"] == {"a": [{"b": 1}, 2], "c.d": 3}
    assert out["depth"] == 2


def test_data_flattener_stops_at_max_depth() -> None:
    flattener = DataFlattener()
    flattener.set_config(max_depth=1)
    out = only(run(flattener, data={"a": {"b": {"c": 1}}}))
    assert out["flattened_data"] == {"a": {"b": {"c": 1}}}
    assert out["depth"] == 1


def test_data_flattener_wraps_a_scalar() -> None:
    out = only(run(DataFlattener(), data="x"))
    assert out == {"flattened_data": {"value": "x"}, "original_type": "str", "depth": 0}


# -- DataTransformer ------------------------------------------------------------------


def test_data_transformer_chains_configured_transformations() -> None:
    transformer = DataTransformer()
    transformer.set_config(transformations=["strip", "lowercase"])
    out = only(run(transformer, data="  Hello World  "))
    assert out == {"transformed_data": "hello world", "transformation_applied": ["strip", "lowercase"], "errors": []}


def test_data_transformer_applies_string_transformations_inside_dicts() -> None:
    transformer = DataTransformer()
    transformer.set_config(transformations=["uppercase", "remove_none"])
    out = only(run(transformer, data={"a": "x", "b": None, "c": 3}))
    assert out["transformed_data"] == {"a": "X", "c": 3}


def test_data_transformer_takes_transformations_from_the_input() -> None:
    out = only(run(DataTransformer(), data="12.5", transformations=["to_float"]))
    assert out["transformed_data"] == 12.5


def test_data_transformer_reports_unknown_and_failing_steps_and_skips_them() -> None:
    transformer = DataTransformer()
    transformer.set_config(transformations=["nope", "to_int", "strip_whitespace"])
    out = only(run(transformer, data=" abc "))
    assert out["transformed_data"] == "abc"
    assert out["transformation_applied"] == ["strip_whitespace"]
    assert len(out["errors"]) == 2


def test_data_transformer_applies_each_step_to_the_original_when_not_chaining() -> None:
    transformer = DataTransformer()
    transformer.set_config(transformations=["uppercase", "to_string"], chain_transformations=False)
    out = only(run(transformer, data="ab"))
    assert out["transformed_data"] == {"uppercase": "AB", "to_string": "ab"}


def test_data_transformer_uses_registered_transformations_and_keeps_them_out_of_config() -> None:
    transformer = DataTransformer()
    transformer.register_transformation("double", lambda v: v * 2)
    transformer.set_config(transformations=["double"])
    assert transformer.config() == {"transformations": ["double"], "chain_transformations": True}
    out = only(run(transformer, data=21))
    assert out["transformed_data"] == 42


# -- DataValidator --------------------------------------------------------------------

VALIDATOR_EVENTS = ("valid", "invalid")


def test_data_validator_emits_valid_for_data_that_follows_the_rules() -> None:
    validator = DataValidator()
    validator.set_config(rules={"name": "is_string", "age": ["is_int", "is_positive"]}, required_fields=["name"])
    results = run(validator, VALIDATOR_EVENTS, data={"name": "Ada", "age": 36})
    assert only(results, "valid") == {"validated_data": {"name": "Ada", "age": 36}}
    assert results["invalid"] == []


def test_data_validator_emits_invalid_with_every_error() -> None:
    validator = DataValidator()
    validator.set_config(rules={"age": "is_int", "name": "not_empty"}, required_fields=["email"])
    data = {"age": "old", "name": " "}
    results = run(validator, VALIDATOR_EVENTS, data=data)
    out = only(results, "invalid")
    assert out["data"] == data
    assert len(out["errors"]) == 3
    assert results["valid"] == []


def test_data_validator_rejects_extra_fields_in_strict_mode() -> None:
    validator = DataValidator()
    validator.set_config(rules={"a": "is_int"}, strict_mode=True)
    errors = only(run(validator, VALIDATOR_EVENTS, data={"a": 1, "b": 2}), "invalid")["errors"]
    assert errors == ["Unexpected field: 'b'"]


def test_data_validator_strict_mode_stops_at_the_first_error() -> None:
    validator = DataValidator()
    validator.set_config(rules={"a": "is_string", "b": "is_string"}, strict_mode=True)
    errors = only(run(validator, VALIDATOR_EVENTS, data={"a": 1, "b": 2, "c": 3}), "invalid")["errors"]
    assert errors == ["Field 'a' failed validation 'is_string'"]


def test_data_validator_takes_rules_from_the_input() -> None:
    results = run(DataValidator(), VALIDATOR_EVENTS, data={"n": -1}, rules={"n": "is_non_negative"})
    assert len(only(results, "invalid")["errors"]) == 1


def test_data_validator_uses_registered_validators() -> None:
    validator = DataValidator()
    validator.register_validator("is_even", lambda v: v % 2 == 0)
    validator.set_config(rules={"n": "is_even"})
    assert validator.validate({"n": 4}) == []
    assert validator.validate({"n": 3}) == ["Field 'n' failed validation 'is_even'"]
    assert json.loads(json.dumps(validator.config()))["rules"] == {"n": "is_even"}


def test_data_validator_does_not_count_booleans_as_numbers() -> None:
    validator = DataValidator()
    assert validator.validate(True, rules="is_number") != []
    assert validator.validate(2.5, rules=["is_number", "is_float", "is_positive"]) == []


# -- ConditionalRouter ----------------------------------------------------------------

ROUTER_EVENTS = ("high", "low", "normal", "output")


def make_router() -> ConditionalRouter:
    """A router with a string route, a dict route and a default route."""
    router = ConditionalRouter()
    router.set_config(
        routes=[("high", "data.get('priority') == 'high'"), ("low", {"priority": "low"})], default_route="normal"
    )
    return router


@pytest.mark.parametrize(("priority", "route"), [("high", "high"), ("low", "low"), ("other", "normal")])
def test_conditional_router_sends_data_down_the_matching_route(priority: str, route: str) -> None:
    results = run(make_router(), ROUTER_EVENTS, data={"priority": priority})
    assert only(results, route) == {"data": {"priority": priority}, "route": route}
    assert sum(len(v) for v in results.values()) == 1


def test_conditional_router_emits_output_as_unmatched_without_a_default() -> None:
    router = ConditionalRouter()
    router.set_config(routes=[("big", "data > 10")])
    results = run(router, ("big", "output"), data=3)
    assert only(results) == {"data": 3, "route": "unmatched"}


def test_conditional_router_emits_every_match_with_all_matches() -> None:
    router = ConditionalRouter()
    router.set_config(routes=[("pos", "data > 0"), ("even", "data % 2 == 0")], route_priority="all_matches")
    results = run(router, ("pos", "even", "output"), data=4)
    assert only(results, "pos")["route"] == "pos" and only(results, "even")["route"] == "even"


def test_conditional_router_expressions_see_config_and_stats() -> None:
    router = ConditionalRouter()
    router.set_config(
        routes=[("high", "data.get('value', 0) > config.get('threshold', 0)"), ("active", "stats.get('count', 0) < 10")],
        threshold=10,
    )
    router.set_stat("count", 5)
    assert router.route({"value": 15}) == ["high"]
    assert router.route({"value": 5}) == ["active"]


def test_conditional_router_calls_callable_conditions_with_what_they_accept() -> None:
    router = ConditionalRouter()
    router.set_config(routes=[("one", lambda d: d == 1), ("two", lambda d, cfg: d == cfg["two"])], two=2)
    router.add_route("three", lambda d, cfg, stats: d == 3)
    assert [router.route(n) for n in (1, 2, 3, 4)] == [["one"], ["two"], ["three"], []]
    assert [name for name, _ in router.get_config("routes")] == ["one", "two", "three"]
    assert all(callable(condition) for _, condition in router.get_config("routes"))
    assert router._config["routes"] == [["one", None], ["two", None], ["three", None]]  # plain data only


def test_conditional_router_refuses_to_serialize_a_lambda_the_evaluator_cannot_express() -> None:
    router = ConditionalRouter()
    router.add_route("yes", lambda d: json.dumps(d) == "{}")
    flow = build_flow(router, ("yes",))
    with pytest.raises(SerializationError, match="route 'yes'.*'json'"):
        flow.serialize()


def test_conditional_router_refuses_unsafe_expressions_when_configured() -> None:
    router = ConditionalRouter()
    with pytest.raises(ValueError):
        router.set_config(routes=[("x", "().__class__.__bases__")])
    with pytest.raises(ValueError):
        router.add_route("y", "__import__('os')")
    assert router.route({"a": 1}) == []


def test_conditional_router_treats_a_failing_condition_as_no_match() -> None:
    router = ConditionalRouter()
    router.set_config(routes=[("boom", "data['missing'] > 1"), ("fine", "True")])
    assert router.route({}) == ["fine"]


def test_conditional_router_defines_an_event_per_route_so_routes_can_be_connected() -> None:
    router = ConditionalRouter()
    router.add_route("later", {"k": 1})
    assert router.get_event("later") is not None
    results = run(router, ("later",), data={"k": 1})
    assert only(results, "later")["route"] == "later"


def test_conditional_router_serves_concurrent_executions_independently() -> None:
    flow = build_flow(make_router(), ROUTER_EVENTS)
    flow.set_execution_strategy("concurrent", max_workers=4)
    priorities = ["high", "low", "other"] * 4
    try:
        jobs = [flow.start("feeder", {"data": {"priority": p}}) for p in priorities]
        for job in jobs:
            assert job.wait(20) and job.status == "completed"
        for job, priority in zip(jobs, priorities):
            routes = [e["payload"]["route"] for e in job.get_shared_log()]
            assert routes == [{"high": "high", "low": "low"}.get(priority, "normal")]
    finally:
        flow.shutdown()


def test_time_provider_answers_direct_requests_outside_a_flow() -> None:
    provider = TimeProvider()
    got: list[dict[str, Any]] = []
    provider.get_event("output").connect(Slot("sink", None, lambda **kw: got.append(kw)))
    provider.trigger_slot.receive({})
    assert set(got[0]) == {"time_string", "timestamp", "datetime", "formatted"}


# -- serialization --------------------------------------------------------------------


def configured_routines() -> list[tuple[Routine, tuple[str, ...], str]]:
    """One routine of each kind with non-default config, with its events and input slot."""
    clipper = TextClipper()
    clipper.set_config(max_length=7, truncation_message="<{remaining}>")
    renderer = TextRenderer()
    renderer.set_config(tag_format="markdown")
    extractor = ResultExtractor()
    extractor.set_config(strategy="first_match", code_block_languages=["python"])
    provider = TimeProvider()
    provider.set_config(format="custom", custom_format="%Y")
    flattener = DataFlattener()
    flattener.set_config(separator="_")
    transformer = DataTransformer()
    transformer.set_config(transformations=["strip", "uppercase"])
    validator = DataValidator()
    validator.set_config(rules={"a": ["is_int"]}, required_fields=["a"])
    return [
        (clipper, ("output",), "input"),
        (renderer, ("output",), "input"),
        (extractor, ("output",), "input"),
        (provider, ("output",), "request"),
        (flattener, ("output",), "input"),
        (transformer, ("output",), "input"),
        (validator, VALIDATOR_EVENTS, "input"),
        (make_router(), ROUTER_EVENTS, "input"),
    ]


@pytest.mark.parametrize(
    ("routine", "events", "slot"), configured_routines(), ids=lambda v: type(v).__name__ if isinstance(v, Routine) else None
)
def test_every_builtin_survives_flow_serialization_with_its_config(routine: Routine, events: tuple[str, ...], slot: str) -> None:
    rebuilt = roundtrip(routine, events, slot)
    copy = rebuilt.routines["r"]
    assert type(copy) is type(routine)
    assert copy.config() == json.loads(json.dumps(routine.config()))
    assert len(rebuilt.connections) == 1 + len(events)
    rebuilt.shutdown()


def test_a_deserialized_router_still_routes_by_its_string_and_dict_conditions() -> None:
    events = ROUTER_EVENTS
    rebuilt = roundtrip(make_router(), events)
    results = run_flow(rebuilt, events, data={"priority": "low"})
    assert only(results, "low") == {"data": {"priority": "low"}, "route": "low"}


def test_a_deserialized_transformer_and_validator_still_work() -> None:
    transformer = DataTransformer()
    transformer.set_config(transformations=["strip", "uppercase"])
    out = only(run_flow(roundtrip(transformer), ("output",), data=" ok "))
    assert out["transformed_data"] == "OK"
    validator = DataValidator()
    validator.set_config(rules={"a": "is_int"}, required_fields=["a"])
    results = run_flow(roundtrip(validator, VALIDATOR_EVENTS), VALIDATOR_EVENTS, data={"b": 1})
    assert only(results, "invalid")["errors"] == ["Missing required field: 'a'"]
