"""``routilux validate`` and ``routilux run``: spec files from the command line, no Redis needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routilux.cli import main

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "orders.yaml")
ORDERS = json.dumps({"orders": [{"order_id": "A-1", "sku": "coffee", "quantity": 2},
                                {"order_id": "A-2", "sku": "caviar", "quantity": 1}]})


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``routilux ARGS`` in this process; returns (exit code, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def write(tmp_path: Path, spec: dict[str, Any], name: str = "flow.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def test_validate_accepts_the_example_spec(cli) -> None:
    code, out, err = cli("validate", EXAMPLE, "--import", "examples.orders")
    assert code == 0, err
    assert "ok: flow 'orders', 5 routines, 5 connections, 0 warning(s)" in out


def test_validate_lists_every_problem_with_its_path_and_exits_1(cli, tmp_path: Path) -> None:
    spec = {"flow_id": "x", "routines": {"source": {"class": "OrderSource"}, "totals": {"class": "OrderTotals"},
                                         "lost": {"class": "OrderPricing"}},
            "connections": [{"from": "source.order", "to": "totals.inbox"},
                            {"from": "source.order", "to": "totals.results", "param_mapping": {"x": 1}}]}
    code, out, err = cli("validate", write(tmp_path, spec), "--import", "examples.orders")
    assert code == 1
    lines = err.splitlines()
    assert any(line.endswith("error: connections[0].to: unknown slot 'inbox' of routine 'totals' (OrderTotals); "
                             "it has 'results'") for line in lines), err
    assert any("error: connections[1].param_mapping: must map parameter names" in line for line in lines), err
    assert any("warning: routines.lost: unreachable" in line for line in lines), err
    assert "2 error(s), 2 warning(s)" in out  # totals: its only wire was refused


def test_validate_names_a_class_no_imported_module_defines(cli, tmp_path: Path) -> None:
    code, _, err = cli("validate", write(tmp_path, {"routines": {"source": {"class": "OrderSauce"}}}))
    assert code == 1
    assert "error: routines.source.class: unknown routine class 'OrderSauce'" in err


def test_run_prints_the_job_summary_and_exits_0_when_it_completes(cli) -> None:
    code, out, err = cli("run", EXAMPLE, "--import", "examples.orders", "--entry", "source", "--params", ORDERS)
    assert code == 0, err
    assert "status:   completed" in out and "flow:     orders" in out


def test_run_json_prints_the_whole_job_state(cli) -> None:
    code, out, _ = cli("run", EXAMPLE, "--import", "examples.orders", "--params", ORDERS, "--json")
    state = json.loads(out)
    assert code == 0 and state["status"] == "completed"
    assert state["shared_data"]["summary"]["rejected"] == {"A-2": "unknown sku 'caviar'"}


def test_run_exits_1_when_the_job_fails(cli, tmp_path: Path) -> None:
    spec = {"routines": {"source": {"class": "OrderSource"},
                         "router": {"class": "ConditionalRouter", "config": {"routes": [["bomb", "9**9**9**9 > 0"]]}}},
            "connections": [{"from": "source.order", "to": "router.input"}]}
    code, out, _ = cli("run", write(tmp_path, spec), "--import", "examples.orders", "--entry", "source", "--params", ORDERS)
    assert code == 1
    assert "status:   failed" in out and "exponent of **" in out


def test_run_refuses_a_bad_spec_bad_params_or_an_unknown_entry_with_exit_2(cli, tmp_path: Path) -> None:
    bad = write(tmp_path, {"routines": {"a": {"class": "Nope"}}})
    code, _, err = cli("run", bad, "--entry", "a")
    assert code == 2 and "routines.a.class: unknown routine class 'Nope'" in err
    code, _, err = cli("run", EXAMPLE, "--import", "examples.orders", "--params", "[1]")
    assert code == 2 and "--params must be a JSON object" in err
    code, _, err = cli("run", EXAMPLE, "--import", "examples.orders", "--entry", "nobody")
    assert code == 2 and "--entry 'nobody' is not a routine of the flow" in err
