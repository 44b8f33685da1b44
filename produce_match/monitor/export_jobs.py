"""Export jobs: every export of the officials' area is built by the worker, downloaded when ready.

An official asks for an export (`request_export`, a POST of the page's export form, or the
API): a job row is created, queued, with the page's filters, and the audit trail records who
asked for what. Once that transaction commits, the task `monitor.build_export` builds the file
in the worker (`build`): it moves the job to running, builds one sheet at a time and commits
the progress after each (so the job page, refreshing itself, shows it), stores the file with
storage.py and moves the job to ready; any error moves it to failed with a message for the
official. The file is sent only to the official who asked, or to an administrator (404 for
anyone else). The periodic clean-up removes files older than `KEEP_DAYS`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.accounts.models import User
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.errors import DomainError, ValidationFailed
from produce_match.extensions import db
from produce_match.monitor import exports, queries
from produce_match.monitor.models import (
    EXPORTS,
    UNFINISHED,
    ExportAction,
    ExportJob,
    ExportStatus,
)
from produce_match.queue import after_commit
from produce_match.storage import delete_after_commit, get_storage

log = logging.getLogger("produce_match.monitor.export_jobs")

#: what can be exported (the report is every sheet and a summary) and in which formats
KINDS = (*exports.KINDS, *exports.OTHER_KINDS, "report")
FORMATS = ("xlsx", "csv")
#: the page filters an export keeps (the rest of a query string is ignored)
FILTER_KEYS = ("province", "county", "from", "to", "status", "commodity", "place", "category")
#: how long a built file is kept
KEEP_DAYS = 7
#: a job still queued after this long lost its task (the sweep enqueues it again)
REQUEUE_AFTER = timedelta(minutes=5)
#: a job running this long lost its worker (the sweep marks it failed)
STALLED_AFTER = timedelta(hours=1)

MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _plan(
    user: User, kind: str, filters: Mapping[str, Any]
) -> tuple[list[Callable[[], exports.Sheet]], str]:
    """The steps that build the export (one a sheet) and the file's name.

    Bad filters raise as the pages do: a place outside the jurisdiction NotFound, a bad date
    ValidationFailed (in the user's language)."""
    f = {k: (str(v) if v is not None else None) or None for k, v in filters.items()}
    scope = queries.resolve_scope(user, f.get("province"), f.get("county"))
    period = queries.parse_period(f.get("from"), f.get("to"))
    deal_period = period
    if kind == "deals" and not (f.get("from") or f.get("to")):
        deal_period = None  # the deals page lists every date unless asked for a period
    commodity = f.get("commodity")
    deal_filters = queries.DealFilters(
        status=f.get("status"),
        commodity_id=int(commodity) if commodity and commodity.isdigit() else None,
        place=f.get("place"),
        period=deal_period,
    )
    ledger = (f.get("status"), f.get("category")) if kind == "problems" else (None, None)
    steps = exports.steps(kind, scope, period, deal_filters, ledger)
    place = scope.county_code or scope.province_code or "all"
    return steps, f"{kind}-{place}-{period.start}-{period.end}"


def request_export(
    user: User, kind: str, fmt: str, filters: Mapping[str, Any], language: str
) -> ExportJob:
    """Queue an export for `user` (an official or administrator): the job, built once the
    transaction commits. Nothing is written when the request is refused."""
    if not policy.overseer(user):
        raise NotFound()
    if kind not in KINDS or fmt not in FORMATS:
        raise ValidationFailed(_l("There is no such export."), fields={"kind": ["unknown"]})
    if kind == "report" and fmt != "xlsx":
        raise ValidationFailed(
            _l("The whole report is a workbook (XLSX) only."), fields={"fmt": ["xlsx"]}
        )
    kept = {k: str(filters[k]) for k in FILTER_KEYS if filters.get(k) not in (None, "")}
    steps, _name = _plan(user, kind, kept)  # the filters are checked before anything is written
    job = ExportJob(
        requested_by_id=user.id,
        kind=kind,
        fmt=fmt,
        filters=kept,
        language=language if language in ("zh", "en") else "zh",
        status=ExportStatus.queued,
        done=0,
        total=len(steps),
    )
    db.session.add(job)
    db.session.flush()
    record(
        user, job, "requested", to_state=ExportStatus.queued.value,
        changes={"kind": kind, "fmt": fmt, "filters": kept},
    )  # fmt: skip
    after_commit("monitor.build_export", job.id)
    return job


def visible_job(user: User, job_id: int) -> ExportJob:
    """The job, for the official who asked for it or an administrator; NotFound otherwise."""
    job = db.session.get(ExportJob, job_id)
    if job is None or not policy.overseer(user):
        raise NotFound()
    if job.requested_by_id != user.id and not user.is_admin:
        raise NotFound()
    return job


def recent_jobs(user: User, limit: int = 10) -> list[ExportJob]:
    """The user's latest export jobs, newest first."""
    query = select(ExportJob).where(ExportJob.requested_by_id == user.id)
    return list(db.session.scalars(query.order_by(ExportJob.id.desc()).limit(limit)))


def file_of(job: ExportJob) -> bytes:
    """The built file (NotFound while it is not ready, or once it was removed)."""
    if job.status is not ExportStatus.ready or not job.file_key:
        raise NotFound()
    try:
        return get_storage().read(job.file_key)
    except (FileNotFoundError, ValueError):
        raise NotFound() from None


# --- in the worker --------------------------------------------------------------------------


def build(job_id: int) -> None:
    """Build the job's file (the task `monitor.build_export`; safe to run twice: only a queued
    job is taken). Progress is committed after every sheet, in short transactions."""
    job = db.session.get(ExportJob, job_id)
    if job is None or job.status is not ExportStatus.queued:
        return
    if EXPORTS.move(job, ExportAction.start, expected=ExportStatus.queued, strict=False) is None:
        return  # another worker took it
    db.session.commit()
    try:
        with force_locale(job.language):
            user = db.session.get(User, job.requested_by_id)
            if user is None:
                raise NotFound()
            steps, name = _plan(user, job.kind, job.filters or {})
            job.total = len(steps)
            db.session.commit()
            sheets = []
            for step in steps:
                sheets.append(step())
                job.done += 1
                db.session.commit()  # the job page shows the progress
            body = exports.to_xlsx(sheets) if job.fmt == "xlsx" else exports.to_csv(sheets[0])
        key = f"exports/{job.id}/{secrets.token_hex(8)}.{job.fmt}"
        get_storage().save(key, body)
        EXPORTS.move(
            job,
            ExportAction.finish,
            expected=ExportStatus.running,
            values={"file_key": key, "filename": f"{name}.{job.fmt}", "finished_at": utcnow()},
            facts={"bytes": len(body), "rows": sum(len(s.rows) for s in sheets)},
        )
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("export job %s failed", job_id)
        _fail(job_id, exc)


def _fail(job_id: int, exc: BaseException) -> None:
    job = db.session.get(ExportJob, job_id)
    if job is None:
        return
    with force_locale(job.language):
        if isinstance(exc, DomainError):
            reason = str(exc.message)
        else:
            reason = str(_l("an unexpected error (the administrators can find it in the log)"))
        message = str(_l("The export could not be built: %(reason)s", reason=reason))
    EXPORTS.move(
        job,
        ExportAction.fail,
        values={"error": message, "finished_at": utcnow()},
        facts={"error": message},
        strict=False,
    )
    db.session.commit()


def sweep() -> dict[str, int]:
    """The periodic clean-up: remove the files of jobs finished more than `KEEP_DAYS` ago,
    enqueue again jobs whose task was lost, mark failed those whose worker died."""
    now = utcnow()
    old = db.session.scalars(
        select(ExportJob).where(
            ExportJob.status == ExportStatus.ready,
            ExportJob.finished_at < now - timedelta(days=KEEP_DAYS),
        )
    ).all()
    for job in old:
        key = job.file_key
        moved = EXPORTS.move(job, ExportAction.expire, values={"file_key": None}, strict=False)
        if moved and key:
            delete_after_commit(key)
    lost = db.session.scalars(
        select(ExportJob.id).where(
            ExportJob.status == ExportStatus.queued,
            ExportJob.created_at < now - REQUEUE_AFTER,
        )
    ).all()
    for job_id in lost:
        after_commit("monitor.build_export", job_id)
    stalled = db.session.scalars(
        select(ExportJob).where(
            ExportJob.status == ExportStatus.running,
            ExportJob.created_at < now - STALLED_AFTER,
        )
    ).all()
    for job in stalled:
        with force_locale(job.language):
            message = str(_l("The worker stopped while building the export; please ask again."))
        EXPORTS.move(
            job,
            ExportAction.fail,
            values={"error": message, "finished_at": now},
            facts={"error": message},
            strict=False,
        )
    return {"expired": len(old), "requeued": len(lost), "stalled": len(stalled)}


def is_unfinished(job: ExportJob) -> bool:
    return job.status in UNFINISHED
