"""Export jobs: asked for with a POST, built by the worker (at once in the tests' immediate
queue) one sheet at a time, downloaded when ready by the official who asked (or an
administrator) only; a failing build says why; old files are removed by the periodic sweep."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from produce_match.audit.models import AuditEvent
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.monitor import export_jobs, exports, queries
from produce_match.monitor.models import ExportJob, ExportStatus
from produce_match.storage import get_storage
from tests.conftest import export_file, login, post_form
from tests.factories import PASSWORD


def _client(app, who="official"):
    client = app.test_client()
    login(client, who, PASSWORD)
    return client


def _ask(client, **data):
    return post_form(client, "/monitor/exports", data, page="/monitor/")


def _values(book):
    return {s.title: [list(r) for r in s.iter_rows(values_only=True)] for s in book.worksheets}


def _jobs():
    return list(db.session.scalars(sa.select(ExportJob).order_by(ExportJob.id)))


def test_the_report_job_builds_the_same_workbook_as_before(app, users, world):
    client = _client(app)
    asked = _ask(client, kind="report", fmt="xlsx", county="210922")
    assert asked.status_code == 302
    (job,) = _jobs()
    assert asked.headers["Location"] == f"/monitor/exports/{job.id}"
    assert (job.status, job.done, job.total) == (ExportStatus.ready, 5, 5)
    assert job.requested_by_id == users["official"].id and job.filters == {"county": "210922"}
    page = client.get(f"/monitor/exports/{job.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page  # built: the page no longer refreshes itself
    # the filters in words: the county's name, never a query string
    assert "彰武县" in page and "county=" not in page
    download = client.get(f"/monitor/exports/{job.id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith('attachment; filename="report-')
    built = load_workbook(io.BytesIO(download.data))
    # what the GET used to build inside the request, for the same place and dates
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        scope = queries.resolve_scope(users["official"], None, "210922")
        before = exports.to_xlsx(exports.sheets("report", scope, queries.parse_period(None, None)))
    assert _values(built) == _values(load_workbook(io.BytesIO(before)))
    assert [s.title for s in built.worksheets] == ["汇总", "货源", "订单", "付款记录", "问题台账"]
    trail = db.session.scalars(
        sa.select(AuditEvent.action).where(
            AuditEvent.subject_type == "export_jobs", AuditEvent.subject_id == job.id
        )
    ).all()
    assert trail == ["requested", "started", "finished"]


def test_progress_is_committed_after_every_sheet(app, users, world, monkeypatch):
    seen: list[tuple[str, int, int]] = []
    real = exports.steps

    def watched(*args, **kwargs):
        def watch(step):
            def run():
                # read by another connection: only what the worker committed
                with db.engine.connect() as other:
                    seen.append(other.execute(sa.select(ExportJob.status, ExportJob.done)).one())
                return step()

            return run

        return [watch(step) for step in real(*args, **kwargs)]

    monkeypatch.setattr(exports, "steps", watched)
    client = _client(app)
    assert _ask(client, kind="report", fmt="xlsx").status_code == 302
    assert seen == [("running", n) for n in range(5)]
    (job,) = _jobs()
    assert (job.done, job.total) == (5, 5)


def test_a_job_waiting_for_the_worker_refreshes_itself_and_has_no_file_yet(app, users):
    job = ExportJob(
        requested_by_id=users["official"].id, kind="lots", fmt="csv", filters={}, total=1
    )
    db.session.add(job)
    db.session.commit()  # no task: nobody asked through the operation
    client = _client(app)
    page = client.get(f"/monitor/exports/{job.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in page and "/download" not in page
    assert "0 / 1" in page or "0/1" in page
    assert client.get(f"/monitor/exports/{job.id}/download").status_code == 404


#: the provincial office sees the county's figures, but not this official's files
WHO_GETS_THE_JOB = [
    ("provincial", 404), ("jiangxi", 404), ("coop", 404), ("buyer", 404), ("admin", 200),
    ("official", 200),
]  # fmt: skip


@pytest.mark.parametrize(("who", "status"), WHO_GETS_THE_JOB)
def test_only_the_official_who_asked_or_an_admin_gets_the_job(app, users, world, who, status):
    assert export_file(_client(app), "lots.csv").status_code == 200
    (job,) = _jobs()
    client = _client(app, who)
    assert client.get(f"/monitor/exports/{job.id}").status_code == status
    assert client.get(f"/monitor/exports/{job.id}/download").status_code == status


def test_a_failing_build_marks_the_job_failed_with_a_clear_message(app, users, world, monkeypatch):
    def broken(_scope, _filters):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(exports, "_deals", broken)
    client = _client(app)
    asked = _ask(client, kind="report", fmt="xlsx")
    (job,) = _jobs()
    assert job.status is ExportStatus.failed and job.file_key is None
    assert job.finished_at is not None and job.done == 2  # the summary and the lots were built
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert "导出文件未能生成" in page and "/download" not in page
    assert "the database went away" not in page  # no internals for the official
    assert client.get(f"/monitor/exports/{job.id}/download").status_code == 404
    assert "生成失败" in page  # the state's words, not an order's "failed"
    # the same failure, asked for in English, says so in English
    english = _client(app)
    post_form(
        english, "/monitor/exports", {"kind": "deals", "fmt": "csv"}, page="/monitor/",
        headers={"Accept-Language": "en"},
    )  # fmt: skip
    assert _jobs()[-1].error == (
        "The export could not be built: "
        "an unexpected error (the administrators can find it in the log)"
    )


def test_bad_requests_change_nothing(app, users):
    client = _client(app)
    assert _ask(client, kind="report", fmt="csv").status_code == 422
    assert _ask(client, kind="passwords", fmt="xlsx").status_code == 422
    assert _ask(client, kind="lots", fmt="xlsx", county="东湖区").status_code == 404
    coop = _client(app, "coop")
    assert post_form(coop, "/monitor/exports", {"kind": "lots"}, page="/").status_code == 404
    assert _jobs() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.subject_type == "export_jobs")) == 0  # fmt: skip


def test_the_api_asks_polls_and_downloads(app, users, world):
    client = app.test_client()

    def token(who):
        response = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD})
        return {"Authorization": f"Bearer {response.json['token']}"}

    official = token("official")
    asked = client.post(
        "/api/v1/monitor/exports",
        json={"kind": "deals", "fmt": "csv", "status": "rejected", "language": "en"},
        headers=official,
    )
    assert asked.status_code == 202, asked.json
    assert asked.headers["Location"].endswith(f"/api/v1/monitor/exports/{asked.json['id']}")
    job = client.get(asked.json["url"], headers=official)
    assert job.status_code == 200
    assert job.json["status"] == "ready" and (job.json["done"], job.json["total"]) == (1, 1)
    assert job.json["filters"] == {"status": "rejected"}
    download = client.get(job.json["download_url"], headers=official)
    rows = download.data.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("Order,") and len(rows) == 2
    assert rows[1].startswith(f"{world['rejected'].id},")
    other = token("provincial")
    assert client.get(job.json["url"], headers=other).status_code == 404
    assert client.get(job.json["download_url"], headers=other).status_code == 404
    bad = client.post(
        "/api/v1/monitor/exports", json={"kind": "lots", "to": "9999-12-31"}, headers=official
    )
    assert bad.status_code == 422
    assert len(_jobs()) == 1


def test_the_sweep_removes_files_older_than_a_week(app, users, world):
    client = _client(app)
    assert export_file(client, "lots.xlsx").status_code == 200
    assert export_file(client, "lots.csv").status_code == 200
    old, recent = _jobs()
    old_key = old.file_key
    db.session.execute(
        sa.update(ExportJob)
        .where(ExportJob.id == old.id)
        .values(finished_at=utcnow() - timedelta(days=export_jobs.KEEP_DAYS, hours=1))
    )
    db.session.commit()
    assert export_jobs.sweep() == {"expired": 1, "requeued": 0, "stalled": 0}
    db.session.commit()  # the file goes once the expiry is committed
    db.session.refresh(old)
    db.session.refresh(recent)
    assert old.status is ExportStatus.expired and old.file_key is None
    assert not get_storage().exists(old_key) and get_storage().exists(recent.file_key)
    assert client.get(f"/monitor/exports/{old.id}/download").status_code == 404
    page = client.get(f"/monitor/exports/{old.id}").get_data(as_text=True)
    assert re.search("已删除|removed", page)


def test_the_sweep_finds_lost_and_stalled_jobs(app, users, world):
    def job(status, age):
        row = ExportJob(
            requested_by_id=users["official"].id, kind="lots", fmt="csv", filters={},
            status=status, total=1, created_at=utcnow() - age,
        )  # fmt: skip
        db.session.add(row)
        return row

    lost = job(ExportStatus.queued, export_jobs.REQUEUE_AFTER + timedelta(minutes=1))
    waiting = job(ExportStatus.queued, timedelta(seconds=10))
    stalled = job(ExportStatus.running, export_jobs.STALLED_AFTER + timedelta(minutes=1))
    db.session.commit()  # written directly: no task was enqueued for them
    assert export_jobs.sweep() == {"expired": 0, "requeued": 1, "stalled": 1}
    db.session.commit()  # the lost job's task is enqueued (and, here, run) by this commit
    for row in (lost, waiting, stalled):
        db.session.refresh(row)
    assert lost.status is ExportStatus.ready and lost.file_key
    assert waiting.status is ExportStatus.queued  # its task may still come
    assert stalled.status is ExportStatus.failed and "请重新申请" in stalled.error
