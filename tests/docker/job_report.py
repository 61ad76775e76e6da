"""Run inside a project container (``python - JOB_ID ...`` on stdin): one JSON line per job.

Each line holds the job's status, its ``summary`` shared data and how many history
records each (routine, event) pair has, so the test can compare every job with the
same batch run on the local engine: a lost or doubled step shows up in the counts.
"""

import json
import sys
from collections import Counter

from routilux.distributed import DistributedRuntime

with DistributedRuntime() as runtime:
    for job_id in sys.argv[1:]:
        state = runtime.get_job(job_id)
        counts = Counter(f"{r.routine_id}.{r.event_name}" for r in state.execution_history)
        print(json.dumps({"job_id": job_id, "status": state.status, "summary": state.get_shared_data("summary"),
                          "history": dict(counts)}))
