"""`talkface batch`: many jobs, models loaded once per worker (the public API; how it works: `workers.py`).

    from talkface import batch
    report = batch.run("jobs.csv", "out/", workers=2)     # or a list of rows: [{"command": "synth", ...}, ...]

`manifest.py` reads and checks the jobs, `workers.py` runs them in spawned processes, `ray_pool.py` as Ray actors.
"""
from talkface.batch.workers import FAILED, REPORT, JobsInvalid, run

__all__ = ["FAILED", "REPORT", "JobsInvalid", "run"]
