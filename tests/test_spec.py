"""Flows as files: Flow.from_spec / load_spec / to_spec, and what a bad spec is told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from examples import orders
from routilux import ConditionalRouter, ErrorStrategy, Flow, Routine
from routilux.errors import SerializationError, SpecError
from routilux.spec import check_spec, spec_name

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


@spec_name("number_source")
class SpecNumbers(Routine):
    """Entry: emits ``value`` on ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=lambda value=0, **_: self.emit("out", value=value))
        self.define_event("out", ["value"])


class SpecScale(Routine):
    """Multiplies ``value`` by config ``factor``; fails while config ``fail`` is true."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("out", ["value"])
        self.set_config(factor=2, fail=False)

    def go(self, value: Any = 0, **_: Any) -> None:
        if self.get_config("fail"):
            raise RuntimeError("configured to fail")
        self.emit("out", value=value * self.get_config("factor"))


class SpecKeep(Routine):
    """Stores what its ``input`` slot holds in shared data ``kept``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, **data: Any) -> None:
        self.get_execution_context().job_state.update_shared_data("kept", data)


UPSTREAM_SPEC = {  # the shape upstream's later releases load
    "flow_id": "scaled",
    "routines": {
        "source": {"class": "number_source"},
        "scale": {"class": "SpecScale", "config": {"factor": 10}, "error_handler": {"strategy": "RETRY", "max_retries": 1,
                                                                                "retry_delay": 0.01}},
        "keep": {"class": "SpecKeep"},
    },
    "connections": [{"from": "source.out", "to": "scale.input"}, {"from": "scale.out", "to": "keep.input"}],
    "execution": {"timeout": 30},
}


def kept(flow: Flow, value: Any) -> Any:
    try:
        job = flow.execute("source", {"value": value}, timeout=20)
        assert job.status == "completed", job.error
        return job.get_shared_data("kept")
    finally:
        flow.shutdown()


def test_an_upstream_spec_builds_a_flow_that_runs() -> None:
    flow = Flow.from_spec(UPSTREAM_SPEC)
    assert flow.flow_id == "scaled" and flow.execution_timeout == 30
    handler = flow.routines["scale"].get_error_handler()
    assert handler.strategy is ErrorStrategy.RETRY and handler.max_retries == 1
    assert kept(flow, 4) == {"value": 40}


def test_to_spec_round_trips_through_from_spec_and_json() -> None:
    spec = {**UPSTREAM_SPEC, "execution": {"timeout": 5, "strategy": "concurrent", "max_workers": 3},
            "error_handler": "continue",
            "routines": {**UPSTREAM_SPEC["routines"], "keep": {"class": "SpecKeep", "slots": {"input": {"merge_strategy": "append"}}}},
            "connections": [*UPSTREAM_SPEC["connections"][:1],
                            {"from": "scale.out", "to": "keep.input", "param_mapping": {"value": "scaled"}}]}
    flow = Flow.from_spec(spec)
    written = flow.to_spec()
    assert written["routines"]["scale"]["config"] == {"factor": 10}  # only what differs from the constructor
    assert written["routines"]["keep"]["slots"] == {"input": {"merge_strategy": "append"}}
    assert written["connections"][1]["param_mapping"] == {"value": "scaled"}
    assert written["routines"]["source"]["class"] == "number_source"
    again = Flow.from_spec(json.loads(json.dumps(written)))
    assert again.to_spec() == written
    assert (again.execution_strategy, again.max_workers, again.error_handler.strategy) == ("concurrent", 3, ErrorStrategy.CONTINUE)
    assert kept(again, 1) == {"scaled": [10]}


def test_a_merge_strategy_set_by_a_spec_survives_serialization_as_published_flows_do() -> None:
    spec = {**UPSTREAM_SPEC, "routines": {**UPSTREAM_SPEC["routines"],
                                          "keep": {"class": "SpecKeep", "slots": {"input": {"merge_strategy": "append"}}}}}
    rebuilt = Flow.deserialize(Flow.from_spec(spec).serialize())
    assert rebuilt.routines["keep"].get_slot("input").merge_strategy == "append"


def test_a_spec_with_conditions_routes_with_the_safe_evaluator() -> None:
    spec = {
        "flow_id": "routing",
        "routines": {"source": {"class": "SpecNumbers"},
                     "router": {"class": "ConditionalRouter",
                                "config": {"routes": [["big", "data > 100"]], "default_route": "small"}},
                     "keep": {"class": "SpecKeep"}},
        "connections": [{"from": "source.out", "to": "router.input"}, {"from": "router.big", "to": "keep.input"},
                        {"from": "router.small", "to": "keep.input"}],
    }
    flow = Flow.from_spec(spec)
    assert isinstance(flow.routines["router"], ConditionalRouter)
    assert kept(flow, 500) == {"data": 500, "route": "big"}


def test_every_problem_is_listed_with_its_path_in_the_spec() -> None:
    bad = {
        "flow_id": "bad",
        "routines": {
            "source": {"class": "SpecNumbers"},
            "ghost": {"class": "NoSuchRoutine"},
            "scale": {"class": "SpecScale", "slots": {"input": {"merge_strategy": "sum"}}, "error_handler": {"strategy": "explode"}},
            "router": {"class": "ConditionalRouter", "config": {"routes": [["x", "data.__class__"]]}},
            "keep": {"class": "SpecKeep", "colour": "blue"},
        },
        "connections": [
            {"from": "source.out", "to": "scale.nope"},
            {"from": "source.missing", "to": "scale.input"},
            {"from": "source.out", "to": "keep.input", "param_mapping": {"valeu": "v"}},
            {"from": "source.out", "to": "keep.input", "param_mapping": ["value"]},
            {"from": "ghost.out", "to": "keep.input"},
            {"from": "nowhere.out", "to": "keep.input"},
            {"from": "source", "to": "keep.input"},
        ],
        "execution": {"strategy": "fast", "timeout": -1},
        "conections": [],
    }
    with pytest.raises(SpecError) as caught:
        Flow.from_spec(bad)
    problems = caught.value.problems
    expected = [
        "conections: unknown key",
        "execution.timeout: must be a positive number",
        "execution.strategy: unknown execution strategy 'fast'",
        "routines.ghost.class: unknown routine class 'NoSuchRoutine'",
        "routines.scale.error_handler.strategy: unknown error strategy 'explode'",
        "routines.scale.slots.input.merge_strategy: unknown merge strategy 'sum'",
        "routines.router.config: reading the attribute '__class__'",
        "routines.keep.colour: unknown key",
        "connections[0].to: unknown slot 'nope' of routine 'scale'",
        "connections[1].from: unknown event 'missing' of routine 'source'",
        "connections[2].param_mapping: maps 'valeu', which event 'out' does not carry",
        "connections[3].param_mapping: must map parameter names",
        "connections[5].from: unknown routine 'nowhere'",
        "connections[6].from: must be 'routine_id.event_name'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems  # connections[4] names a routine already reported


def test_a_routine_nothing_reaches_is_a_warning_not_an_error() -> None:
    spec = {**UPSTREAM_SPEC, "routines": {**UPSTREAM_SPEC["routines"], "orphan": {"class": "SpecKeep"}}}
    report = check_spec(spec)
    assert report.errors == [] and report.flow is not None
    assert report.warnings == ["routines.orphan: unreachable; nothing connects it to any routine with a 'trigger' slot"]


def test_a_class_is_found_only_among_imported_classes_by_name_or_full_key() -> None:
    spec = {"routines": {"a": {"class": f"{__name__}.SpecScale"}, "b": {"class": "os.path.join"}}}
    report = check_spec(spec)
    assert report.errors == [
        "routines.b.class: unknown routine class 'os.path.join': classes are found only among those this "
        "process imported (import the module that defines it, e.g. with --import MODULE)"
    ]


def summary_of(flow: Flow) -> Any:
    try:
        job = flow.execute("source", {"orders": orders.SAMPLE_ORDERS}, timeout=20)
        assert job.status == "completed", job.error
        return job.get_shared_data("summary")
    finally:
        flow.shutdown()


def test_load_spec_reads_the_example_yaml_and_json_files_alike(tmp_path: Path) -> None:
    from_yaml = Flow.load_spec(ROOT / "examples" / "orders.yaml")
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(from_yaml.to_spec()))
    from_json = Flow.load_spec(path)
    assert from_json.to_spec() == from_yaml.to_spec()
    assert summary_of(from_json) == summary_of(from_yaml) == summary_of(orders.make_flow())


def test_a_file_that_does_not_parse_says_where(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"routines": {')
    with pytest.raises(SpecError, match="(?s)broken.json.*line 1 column 15: invalid JSON"):
        Flow.load_spec(broken)
    yaml_file = tmp_path / "broken.yaml"
    yaml_file.write_text("routines: [unclosed\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        Flow.load_spec(yaml_file)


def test_a_spec_file_without_flow_id_takes_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "nightly.json"
    path.write_text(json.dumps({"routines": {"source": {"class": "SpecNumbers"}}}))
    assert Flow.load_spec(path).flow_id == "nightly"


def test_to_spec_refuses_config_that_is_not_plain_data() -> None:
    flow = Flow.from_spec(UPSTREAM_SPEC)
    flow.routines["scale"].set_config(factor=object())
    with pytest.raises(SerializationError, match=r"routines.scale.config\['factor'\] holds a object"):
        flow.to_spec()


def test_a_class_name_two_imported_classes_share_is_reported_and_the_full_key_chooses() -> None:
    def make() -> type:
        class SpecTwin(Routine):
            """One of two routine classes with the same name."""

        return SpecTwin

    first = make()

    class SpecTwin(Routine):  # noqa: F811 - the point of the test
        """The other one."""

    report = check_spec({"routines": {"a": {"class": "SpecTwin"}}})
    assert len(report.errors) == 1 and "routines.a.class: class name 'SpecTwin' is ambiguous" in report.errors[0]
    key = f"{first.__module__}.{first.__qualname__}"
    chosen = check_spec({"routines": {"a": {"class": key}}})
    assert type(chosen.flow.routines["a"]) is first
    assert chosen.flow.to_spec()["routines"]["a"]["class"] == key
