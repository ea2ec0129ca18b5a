"""`talkface batch --ray`: the same jobs as Ray tasks, one actor per worker holding its loaded models
(talkface.batch.workers.JobRunner), on an existing Ray cluster (`ray start --head` on one machine, `ray start --address
HEAD:6379` on the others; every node needs talkface installed and the inputs and outputs on storage they all see).

Ray is an extra (`pip install 'talkface[ray]'`), imported only here.
"""

from __future__ import annotations

import os
from typing import Callable

from talkface.batch.workers import died
from talkface.errors import TalkfaceError


class BatchActor:
    """One worker on a Ray node: the solo command's code path, its models kept across jobs."""

    def __init__(self, omp_threads: str | None):
        # Ray sets OMP_NUM_THREADS to the actor's CPUs (1); a lone `talkface` process, whose torch audio2lmk thread
        # count the jobs reproduce (--backend torch), sees the driver's setting (usually none): set it back before
        # torch reads it.
        if omp_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = omp_threads
        from talkface.batch.workers import JobRunner
        from talkface.safe_output import install_signal_handlers

        install_signal_handlers()  # a killed actor's job removes its temp files, as a local worker's does
        self.runner = JobRunner(workers_here=_actors_per_node())

    def run(self, argv: list[str]) -> dict:
        return self.runner(argv)


def _actors_per_node() -> int:
    """How many one-CPU actors share this node's cores (its threads are split between them)."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    return max(1, int((os.cpu_count() or 1) // max(cpus, 1)))


def _ray():
    try:
        import ray
    except ImportError:
        raise TalkfaceError("--ray: Ray is not installed; pip install 'talkface[ray]'") from None
    return ray


class RayPool:
    """`workers` actors (default: the cluster's CPUs); `run(tasks, done)` keeps each busy with one job."""

    def __init__(self, address: str = "auto", workers: int | None = None):
        ray = self.ray = _ray()
        if not ray.is_initialized():
            try:  # "local": a Ray instance of this machine alone, started here and ended with this process
                ray.init(address=None if address == "local" else address, log_to_driver=False)
            except ConnectionError as err:
                raise TalkfaceError(f"--ray {address}: no Ray cluster there ({str(err).splitlines()[0]}); start one "
                                    "with `ray start --head`") from None
        self.n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._actor = ray.remote(num_cpus=1, max_restarts=0)(BatchActor)
        self._omp = os.environ.get("OMP_NUM_THREADS")

    def run(self, tasks: list[tuple[int, list[str]]], done: Callable[[int, dict], None]) -> None:
        ray, queue = self.ray, list(reversed(tasks))
        actors = [self._actor.remote(self._omp) for _ in range(min(self.n, len(tasks)))]
        running: dict = {}  # object ref -> (actor, job index)
        errors = ray.exceptions

        def give(actor) -> None:
            if queue:
                index, argv = queue.pop()
                running[actor.run.remote(argv)] = (actor, index)

        for actor in actors:
            give(actor)
        try:
            while running:
                [ref], _ = ray.wait(list(running), num_returns=1)
                actor, index = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except errors.RayActorError:  # the actor's process died: only its job fails
                    outcome = died(None) | {"error": "Ray worker died (out of memory, or its node was lost?)"}
                    ray.kill(actor)
                    actor = self._actor.remote(self._omp)
                    actors.append(actor)
                except errors.RayError as err:  # a bug, not bad input: still one line
                    lines = str(err).strip().splitlines()
                    outcome = died(None) | {"error": f"internal error in a Ray worker ({lines[-1] if lines else err})"}
                done(index, outcome)
                give(actor)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
            for actor in actors:
                ray.kill(actor)
