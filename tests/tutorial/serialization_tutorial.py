"""The serialization tutorial of the upstream docs, its six steps in order, as one Python session.

A verbatim copy of the code blocks of docs/source/tutorial/serialization.rst (Steps 1-6,
trailing whitespace stripped). tests/test_tutorial.py runs this file in a fresh interpreter in a
temporary folder and compares what it prints with the tutorial's Expected Output. Do not edit it
to make it pass: the tutorial is what users paste.
"""

# ----------------------------------------------------------------------------
# Step 1: Basic Flow Serialization
# ----------------------------------------------------------------------------

from routilux import Flow, Routine
import json

class SimpleProcessor(Routine):
    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.process)
        self.output_event = self.define_event("output", ["result"])

    def process(self, data=None, **kwargs):
        data_value = data or kwargs.get("data", "")
        result = f"Processed: {data_value}"
        self.emit("output", result=result)

class DataSource(Routine):
    def __init__(self):
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self.send)
        self.output_event = self.define_event("output", ["data"])

    def send(self, **kwargs):
        self.emit("output", data="test")

# Create and configure flow
flow = Flow(flow_id="serializable_flow")

source = DataSource()
processor = SimpleProcessor()

source_id = flow.add_routine(source, "source")
processor_id = flow.add_routine(processor, "processor")

flow.connect(source_id, "output", processor_id, "input")

# Serialize flow (default: include_execution_state=False)
# This only serializes flow structure, not execution state
flow_data = flow.serialize()

# Save to file
with open("flow.json", "w") as f:
    json.dump(flow_data, f, indent=2)

print("Flow serialized to flow.json")
print(f"Flow ID: {flow_data['flow_id']}")
print(f"Routines: {len(flow_data['routines'])}")
print(f"Contains job_state: {'job_state' in flow_data}")


# ----------------------------------------------------------------------------
# Step 2: Deserializing Flows
# ----------------------------------------------------------------------------

from routilux import Flow
import json

# Load from file
with open("flow.json", "r") as f:
    flow_data = json.load(f)

# Deserialize flow (create new instance and deserialize)
restored_flow = Flow()
restored_flow.deserialize(flow_data)

print(f"Restored flow ID: {restored_flow.flow_id}")
print(f"Routines: {len(restored_flow.routines)}")

# Execute restored flow
# Find entry routine ID (first routine in this case)
entry_id = list(restored_flow.routines.keys())[0]
job_state = restored_flow.execute(entry_id)

print(f"Execution status: {job_state.status}")


# ----------------------------------------------------------------------------
# Step 3: Serialization Requirements
# ----------------------------------------------------------------------------

from routilux import Flow, Routine

class ConfigurableProcessor(Routine):
    """Correct: Uses _config for configuration"""

    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.process)
        self.output_event = self.define_event("output", ["result"])
        # Configuration stored in _config (serializable)
        self.set_config(threshold=10, enabled=True)

    def process(self, data=None, **kwargs):
        threshold = self.get_config("threshold", default=5)
        enabled = self.get_config("enabled", default=False)

        if enabled:
            data_value = data or kwargs.get("data", 0)
            result = data_value * threshold
            self.emit("output", result=result)

class BadProcessor(Routine):
    """Incorrect: Uses constructor parameters"""

    def __init__(self, threshold=10):  # ❌ Don't do this!
        super().__init__()
        self.threshold = threshold  # ❌ Not serializable!
        self.input_slot = self.define_slot("input", handler=self.process)

    def process(self, **kwargs):
        # This will break serialization
        pass

flow = Flow(flow_id="config_flow")

# Correct usage
processor = ConfigurableProcessor()
processor_id = flow.add_routine(processor, "processor")

# Serialize (works correctly)
flow_data = flow.serialize()
print("Serialization successful")

# Deserialize
restored = Flow.deserialize(flow_data)
print(f"Restored processor threshold: {restored.routines[processor_id].get_config('threshold')}")


# ----------------------------------------------------------------------------
# Step 4: Saving and Loading JobState
# ----------------------------------------------------------------------------

from routilux import Flow, Routine, JobState

class DataSource(Routine):
    def __init__(self):
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self.send)
        self.output_event = self.define_event("output", ["data"])

    def send(self, **kwargs):
        self.emit("output", data="test_data")

class Processor(Routine):
    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.process)
        self.output_event = self.define_event("output", ["result"])

    def process(self, data=None, **kwargs):
        data_value = data or kwargs.get("data", "")
        result = f"Processed: {data_value}"
        self.emit("output", result=result)

flow = Flow(flow_id="recovery_flow")

source = DataSource()
processor = Processor()

source_id = flow.add_routine(source, "source")
processor_id = flow.add_routine(processor, "processor")

flow.connect(source_id, "output", processor_id, "input")

# Execute and save state
job_state = flow.execute(source_id)

# Save JobState
job_state.save("workflow_state.json")
print(f"JobState saved. Status: {job_state.status}")

# Later, load and resume
saved_state = JobState.load("workflow_state.json")
print(f"Loaded JobState. Status: {saved_state.status}")
print(f"Flow ID: {saved_state.flow_id}")


# ----------------------------------------------------------------------------
# Step 5: Understanding Multiple Executions
# ----------------------------------------------------------------------------

from routilux import Flow, Routine

class DataSource(Routine):
    def __init__(self):
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self.send)
        self.output_event = self.define_event("output", ["data"])

    def send(self, value=None, **kwargs):
        value = value or kwargs.get("value", "default")
        self.emit("output", data=value)

flow = Flow(flow_id="multi_execution_flow")
source = DataSource()
source_id = flow.add_routine(source, "source")

# First execution
job_state1 = flow.execute(source_id, entry_params={"value": "A"})
print(f"Execution 1 - Job ID: {job_state1.job_id}, Status: {job_state1.status}")

# Second execution (independent)
job_state2 = flow.execute(source_id, entry_params={"value": "B"})
print(f"Execution 2 - Job ID: {job_state2.job_id}, Status: {job_state2.status}")

# Access all executions
all_executions = flow.get_all_executions()
print(f"Total executions tracked: {len(all_executions)}")

# Access specific execution
execution1 = flow.get_execution(job_state1.job_id)
print(f"Retrieved execution 1: {execution1.job_id if execution1 else None}")


# ----------------------------------------------------------------------------
# Step 6: Complete Example - Cross-Host Execution Recovery
# ----------------------------------------------------------------------------

from routilux import Flow, Routine, JobState
import json
import os

class DataProcessor(Routine):
    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.process)
        self.output_event = self.define_event("output", ["result"])
        self.set_config(multiplier=2, prefix="Result")

    def process(self, data=None, **kwargs):
        data_value = data or kwargs.get("data", 0)
        multiplier = self.get_config("multiplier", default=1)
        prefix = self.get_config("prefix", default="")

        result = data_value * multiplier
        output = f"{prefix}: {result}" if prefix else str(result)

        self.emit("output", result=output)
        print(f"Processed {data_value} -> {output}")

class DataSource(Routine):
    def __init__(self):
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self.generate)
        self.output_event = self.define_event("output", ["data"])

    def generate(self, value=5, **kwargs):
        value = value or kwargs.get("value", 5)
        self.emit("output", data=value)

def save_for_distribution():
    """Save workflow structure for distribution"""
    flow = Flow(flow_id="distributed_workflow")

    source = DataSource()
    processor = DataProcessor()

    source_id = flow.add_routine(source, "source")
    processor_id = flow.add_routine(processor, "processor")

    flow.connect(source_id, "output", processor_id, "input")

    # Serialize flow structure only (no execution state)
    flow_data = flow.serialize(include_execution_state=False)

    with open("workflow_structure.json", "w") as f:
        json.dump(flow_data, f, indent=2)

    print("Workflow structure saved to workflow_structure.json")
    return flow

def execute_and_save_state():
    """Execute workflow and save execution state"""
    # Load workflow structure
    with open("workflow_structure.json", "r") as f:
        flow_data = json.load(f)

    flow = Flow()
    flow.deserialize(flow_data)

    # Execute
    entry_id = list(flow.routines.keys())[0]
    job_state = flow.execute(entry_id, entry_params={"value": 10})

    # Save execution state separately
    job_state_data = job_state.serialize()
    with open("execution_state.json", "w") as f:
        json.dump(job_state_data, f, indent=2)

    print(f"Execution state saved. Job ID: {job_state.job_id}")
    return job_state

def restore_on_remote_host():
    """Simulate restoring on a remote host"""
    # Load workflow structure
    with open("workflow_structure.json", "r") as f:
        flow_data = json.load(f)

    # Load execution state
    with open("execution_state.json", "r") as f:
        job_state_data = json.load(f)

    # Restore flow
    flow = Flow()
    flow.deserialize(flow_data)

    # Restore execution state
    job_state = JobState()
    job_state.deserialize(job_state_data)

    print(f"Restored flow: {flow.flow_id}")
    print(f"Restored execution: {job_state.job_id}, Status: {job_state.status}")

    # Verify configuration
    processor_id = list(flow.routines.keys())[1]
    processor = flow.routines[processor_id]
    print(f"Processor config: multiplier={processor.get_config('multiplier')}")

    return flow, job_state

def main():
    # Step 1: Save workflow structure
    save_for_distribution()

    # Step 2: Execute and save state
    job_state = execute_and_save_state()

    # Step 3: Simulate restoring on remote host
    restored_flow, restored_job_state = restore_on_remote_host()

    # Clean up
    for fname in ["workflow_structure.json", "execution_state.json"]:
        if os.path.exists(fname):
            os.remove(fname)

if __name__ == "__main__":
    main()
