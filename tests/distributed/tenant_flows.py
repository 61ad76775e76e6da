"""Flow of the tenant tests: a job is one activation that naps, so a job's end marks when its one read was."""

from __future__ import annotations

from routilux import Flow
from priority_flows import Nap


def solo_flow(flow_id: str = "solo-nap") -> Flow:
    """nap, alone."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Nap(), "nap")
    return flow
