"""The upstream docs' tutorials print what their Expected Output says.

* Serialization (docs/source/tutorial/serialization.rst): its six steps, copied verbatim into
  tests/tutorial/serialization_tutorial.py, run in order in ONE fresh interpreter in a temp dir.
* Error handling (docs/source/tutorial/error_handling.rst): Steps 1-7 as behaviour tests; the code
  is the tutorial's, only the retry delays are smaller (0.01 s instead of 0.1 s).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine

pytestmark = pytest.mark.timeout(60)

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# --------------------------------------------------------------------------- serialization tutorial

SERIALIZATION_EXPECTED_OUTPUT = """\
Flow serialized to flow.json
Flow ID: serializable_flow
Routines: 2
Contains job_state: False
Restored flow ID: serializable_flow
Routines: 2
Execution status: completed
Serialization successful
Restored processor threshold: 10
JobState saved. Status: completed
Loaded JobState. Status: completed
Flow ID: recovery_flow
Execution 1 - Job ID: <uuid1>, Status: completed
Execution 2 - Job ID: <uuid2>, Status: completed
Total executions tracked: 2
Retrieved execution 1: <uuid1>
Workflow structure saved to workflow_structure.json
Processed 10 -> Result: 20
Execution state saved. Job ID: <uuid3>
Restored flow: distributed_workflow
Restored execution: <uuid3>, Status: completed
Processor config: multiplier=2
"""


def mask_uuids(text: str) -> str:
    """Replace each distinct uuid with <uuidN>, numbered by first appearance."""
    numbers: dict[str, int] = {}
    return UUID.sub(lambda m: f"<uuid{numbers.setdefault(m.group(0), len(numbers) + 1)}>", text)


def test_mask_uuids_numbers_each_distinct_uuid_by_first_appearance() -> None:
    a, b = "12345678-1234-1234-1234-123456789abc", "abcdef01-2345-6789-abcd-ef0123456789"
    assert mask_uuids(f"{a} {b} {a}") == "<uuid1> <uuid2> <uuid1>"


def test_the_serialization_tutorial_run_in_one_session_prints_its_expected_output(tmp_path: Path) -> None:
    script = TESTS_DIR / "tutorial" / "serialization_tutorial.py"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert mask_uuids(done.stdout) == SERIALIZATION_EXPECTED_OUTPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.json", "workflow_state.json"]  # Step 6 cleans up


# --------------------------------------------------------------------------- error handling tutorial


def test_error_handling_step_1_stop_is_the_default_and_downstream_does_not_run(capsys: pytest.CaptureFixture[str]) -> None:
    class UnreliableRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])
            self.call_count = 0

        def process(self, **kwargs):
            self.call_count += 1
            if self.call_count < 3:
                raise ValueError(f"Error on attempt {self.call_count}")
            self.emit("output", data=f"Success after {self.call_count} attempts")

    class SuccessRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.input_slot = self.define_slot("input", handler=self.receive)
            self.executed = False

        def receive(self, data=None, **kwargs):
            data_value = data or kwargs.get("data", "")
            self.executed = True
            print(f"Success routine received: {data_value}")

    # Test with STOP strategy (default)
    print("=== STOP Strategy (default) ===")
    flow1 = Flow(flow_id="stop_test")
    unreliable1 = UnreliableRoutine()
    success1 = SuccessRoutine()

    u1_id = flow1.add_routine(unreliable1, "unreliable")
    s1_id = flow1.add_routine(success1, "success")

    flow1.connect(u1_id, "output", s1_id, "input")

    # No error handler set - uses default STOP
    job_state1 = flow1.execute(u1_id)
    print(f"Status: {job_state1.status}")
    print(f"Success executed: {success1.executed}")

    assert capsys.readouterr().out == "=== STOP Strategy (default) ===\nStatus: failed\nSuccess executed: False\n"


def test_error_handling_step_2_continue_completes_despite_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    class FailingRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])

        def process(self, **kwargs):
            raise ValueError("This error will be logged but execution continues")

    class SuccessRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.input_slot = self.define_slot("input", handler=self.receive)

        def receive(self, data=None, **kwargs):
            print("Success routine executed despite upstream error")

    flow = Flow(flow_id="continue_test")

    failing = FailingRoutine()
    success = SuccessRoutine()

    failing_id = flow.add_routine(failing, "failing")
    success_id = flow.add_routine(success, "success")

    flow.connect(failing_id, "output", success_id, "input")

    # Set CONTINUE strategy
    error_handler = ErrorHandler(strategy=ErrorStrategy.CONTINUE)
    flow.set_error_handler(error_handler)

    job_state = flow.execute(failing_id)
    print(f"Status: {job_state.status}")  # Still "completed" despite error

    assert capsys.readouterr().out == "Status: completed\n"


def test_error_handling_step_3_retry_retries_until_the_routine_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    class UnreliableRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])
            self.call_count = 0

        def process(self, **kwargs):
            self.call_count += 1
            print(f"Attempt {self.call_count}")

            if self.call_count < 3:
                raise ValueError(f"Error on attempt {self.call_count}")

            self.emit("output", data=f"Success after {self.call_count} attempts")

    flow = Flow(flow_id="retry_test")

    unreliable = UnreliableRoutine()
    unreliable_id = flow.add_routine(unreliable, "unreliable")

    # Set RETRY strategy with configuration
    error_handler = ErrorHandler(
        strategy=ErrorStrategy.RETRY,
        max_retries=5,
        retry_delay=0.01,  # Initial delay (the tutorial's 0.1, made smaller)
        retry_backoff=2.0  # Exponential backoff multiplier
    )
    flow.set_error_handler(error_handler)

    job_state = flow.execute(unreliable_id)
    print(f"Status: {job_state.status}")
    print(f"Total attempts: {unreliable.call_count}")

    assert capsys.readouterr().out == "Attempt 1\nAttempt 2\nAttempt 3\nStatus: completed\nTotal attempts: 3\n"


def test_error_handling_step_4_skip_completes_and_downstream_gets_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    class OptionalRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])

        def process(self, **kwargs):
            raise ValueError("This routine will be skipped")

    class RequiredRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.input_slot = self.define_slot("input", handler=self.receive)
            self.executed = False

        def receive(self, data=None, **kwargs):
            self.executed = True
            print("Required routine executed")

    flow = Flow(flow_id="skip_test")

    optional = OptionalRoutine()
    required = RequiredRoutine()

    opt_id = flow.add_routine(optional, "optional")
    req_id = flow.add_routine(required, "required")

    flow.connect(opt_id, "output", req_id, "input")

    # Set SKIP strategy for optional routine
    skip_handler = ErrorHandler(strategy=ErrorStrategy.SKIP)
    optional.set_error_handler(skip_handler)

    job_state = flow.execute(opt_id)
    print(f"Status: {job_state.status}")
    print(f"Required executed: {required.executed}")

    assert capsys.readouterr().out == "Status: completed\nRequired executed: False\n"


def test_error_handling_step_5_routine_handlers_override_the_flow_handler(capsys: pytest.CaptureFixture[str]) -> None:
    class CriticalRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])

        def process(self, **kwargs):
            raise ValueError("Critical error")

    class OptionalRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])

        def process(self, **kwargs):
            raise ValueError("Optional error")

    flow = Flow(flow_id="routine_level_test")

    critical = CriticalRoutine()
    optional = OptionalRoutine()

    crit_id = flow.add_routine(critical, "critical")
    opt_id = flow.add_routine(optional, "optional")

    # Flow-level: CONTINUE (non-critical default)
    flow.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))

    # Routine-level: STOP for critical routine
    critical.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))

    # Routine-level: SKIP for optional routine
    optional.set_error_handler(ErrorHandler(strategy=ErrorStrategy.SKIP))

    # Test critical (should fail)
    job_state1 = flow.execute(crit_id)
    print(f"Critical status: {job_state1.status}")

    # Test optional (should complete)
    job_state2 = flow.execute(opt_id)
    print(f"Optional status: {job_state2.status}")

    assert capsys.readouterr().out == "Critical status: failed\nOptional status: completed\n"


def test_error_handling_step_6_critical_routines_retry_and_optional_ones_complete(capsys: pytest.CaptureFixture[str]) -> None:
    class CriticalRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])
            self.call_count = 0

        def process(self, **kwargs):
            self.call_count += 1
            if self.call_count < 3:
                raise ValueError("Critical error")
            self.emit("output", data="Critical success")

    class OptionalRoutine(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.process)
            self.output_event = self.define_event("output", ["data"])

        def process(self, **kwargs):
            raise ValueError("Optional error - will be skipped")

    flow = Flow(flow_id="critical_test")

    critical = CriticalRoutine()
    optional = OptionalRoutine()

    crit_id = flow.add_routine(critical, "critical")
    opt_id = flow.add_routine(optional, "optional")

    # Mark as critical with retry
    critical.set_as_critical(max_retries=5, retry_delay=0.01)

    # Mark as optional with skip
    optional.set_as_optional()

    # Test critical
    job_state1 = flow.execute(crit_id)
    print(f"Critical status: {job_state1.status}")
    print(f"Critical attempts: {critical.call_count}")

    # Test optional
    job_state2 = flow.execute(opt_id)
    print(f"Optional status: {job_state2.status}")

    assert capsys.readouterr().out == "Critical status: completed\nCritical attempts: 3\nOptional status: completed\n"


def test_error_handling_step_7_a_downstream_retry_makes_the_workflow_resilient(capsys: pytest.CaptureFixture[str]) -> None:
    class DataSource(Routine):
        def __init__(self):
            super().__init__()
            self.trigger_slot = self.define_slot("trigger", handler=self.generate)
            self.output_event = self.define_event("output", ["data"])

        def generate(self, **kwargs):
            self.emit("output", data="test_data")

    class UnreliableValidator(Routine):
        def __init__(self):
            super().__init__()
            self.input_slot = self.define_slot("input", handler=self.validate)
            self.output_event = self.define_event("output", ["data", "valid"])
            self.call_count = 0

        def validate(self, data=None, **kwargs):
            self.call_count += 1
            data_value = data or kwargs.get("data", "")

            if self.call_count < 2:
                raise ValueError("Validation failed")

            self.emit("output", data=data_value, valid=True)

    class Processor(Routine):
        def __init__(self):
            super().__init__()
            self.input_slot = self.define_slot("input", handler=self.process)
            self.output_event = self.define_event("output", ["result"])

        def process(self, data=None, valid=None, **kwargs):
            data_value = data or kwargs.get("data", "")
            is_valid = valid if valid is not None else kwargs.get("valid", False)

            if is_valid:
                result = f"Processed: {data_value}"
                self.emit("output", result=result)
            else:
                raise ValueError("Cannot process invalid data")

    class Sink(Routine):
        def __init__(self):
            super().__init__()
            self.input_slot = self.define_slot("input", handler=self.receive)

        def receive(self, result=None, **kwargs):
            result_value = result or kwargs.get("result", "")
            print(f"Final result: {result_value}")

    def main():
        flow = Flow(flow_id="resilient_workflow")

        source = DataSource()
        validator = UnreliableValidator()
        processor = Processor()
        sink = Sink()

        source_id = flow.add_routine(source, "source")
        validator_id = flow.add_routine(validator, "validator")
        processor_id = flow.add_routine(processor, "processor")
        sink_id = flow.add_routine(sink, "sink")

        flow.connect(source_id, "output", validator_id, "input")
        flow.connect(validator_id, "output", processor_id, "input")
        flow.connect(processor_id, "output", sink_id, "input")

        # Set retry for validator (transient failures)
        validator.set_as_critical(max_retries=3, retry_delay=0.01)

        # Set continue for processor (non-critical)
        processor.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))

        job_state = flow.execute(source_id)

        print(f"\nExecution status: {job_state.status}")
        print(f"Validator attempts: {validator.call_count}")

    main()

    assert capsys.readouterr().out == (
        "Final result: Processed: test_data\n\nExecution status: completed\nValidator attempts: 2\n"
    )
