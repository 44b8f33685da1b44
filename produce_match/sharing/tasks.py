"""The sharing domain's tasks: a visit through a share link is recorded here, not in the GET."""

from __future__ import annotations

from datetime import datetime

from produce_match.queue import task
from produce_match.sharing import operations


@task("sharing.record_visit")
def record_visit(code: str, visitor: str, at: str) -> None:
    """Count one visit (safe to run twice: a visitor counts once per link and day)."""
    operations.record_visit(code, visitor, datetime.fromisoformat(at))
