"""The officials' export jobs as tasks of the queue (see monitor/export_jobs.py)."""

from __future__ import annotations

from produce_match.monitor import export_jobs
from produce_match.queue import periodic, task


@task("monitor.build_export")
def build_export(job_id: int) -> None:
    """Build an export job's file, committing its progress as it goes."""
    export_jobs.build(job_id)


@periodic("monitor.sweep_exports", on_start=True, minute="23", hour="*")
def sweep_exports() -> dict[str, int]:
    """Every hour: remove files older than a week, re-find lost and stalled jobs."""
    return export_jobs.sweep()
