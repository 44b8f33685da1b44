"""The task queue: tasks enqueued only once their transaction commits, the timers declared in
code, the settings that choose the queue, and the deployment check's rule for several nodes."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
import redis
from huey import RedisHuey, SqliteHuey

from produce_match import deploy
from produce_match.config import ConfigError, build_config
from produce_match.extensions import db
from produce_match.notifications import operations as notifications
from produce_match.queue import Queue, after_commit, create_huey, get_queue
from produce_match.storage import delete_after_commit, get_storage


@pytest.fixture
def queued_app(app, tmp_path):
    """The app with its tasks waiting in a SQLite queue (no worker reads it here)."""
    config = {**app.config, "QUEUE_IMMEDIATE": False, "QUEUE_PATH": str(tmp_path / "q.sqlite3")}
    app.extensions["queue"] = Queue(app, create_huey(config))
    return app


def pending(app) -> list[tuple[str, tuple]]:
    huey = get_queue(app).huey
    return [(task.name, tuple(task.args)) for task in huey.pending()]


def test_a_task_is_enqueued_when_its_transaction_commits(queued_app):
    assert isinstance(get_queue(queued_app).huey, SqliteHuey)
    after_commit("notifications.deliver")
    after_commit("payments.send_instruction", 7)
    after_commit("payments.send_instruction", 7)  # the same task once per transaction
    assert pending(queued_app) == []  # nothing before the commit
    db.session.commit()
    assert pending(queued_app) == [
        ("notifications.deliver", ()),
        ("payments.send_instruction", (7,)),
    ]
    db.session.commit()  # a later commit enqueues nothing again
    assert len(pending(queued_app)) == 2


def test_a_rolled_back_transaction_enqueues_nothing(queued_app, users):
    notifications.notify([users["coop"]], "order.completed", {"order": 1})
    after_commit("payments.send_instruction", 8)
    db.session.rollback()
    db.session.commit()  # the next transaction does not inherit what was rolled back
    assert pending(queued_app) == []
    notifications.notify([users["coop"]], "order.completed", {"order": 1})
    db.session.commit()
    assert pending(queued_app) == [("notifications.deliver", ())]


def test_a_savepoint_neither_enqueues_nor_forgets_the_transactions_tasks(queued_app):
    """SQLAlchemy announces a released savepoint as a commit and a rolled-back one as a
    rollback; the transaction goes on, and its tasks wait for its own commit."""
    after_commit("payments.send_instruction", 9)
    with db.session.begin_nested():
        after_commit("notifications.deliver")
    assert pending(queued_app) == []  # the savepoint's release is not the commit
    try:
        with db.session.begin_nested():
            raise LookupError("the savepoint rolls back")
    except LookupError:
        pass
    db.session.commit()
    assert pending(queued_app) == [
        ("payments.send_instruction", (9,)),
        ("notifications.deliver", ()),
    ]


def test_the_timers_are_periodic_tasks_declared_in_code(app):
    queue = get_queue(app)
    every_minute = ["notifications.sweep", "orders.expire", "payments.reconcile"]
    every_minute += ["payments.sweep", "search.sweep", "partners.sweep"]
    hourly = "monitor.sweep_exports"
    rescue = "rescue.propose_due"  # hourly, at minute 41
    on_the_hour = ["partners.find_at_risk", "partners.robot_summaries"]  # at risk: every 15 min
    assert set(queue.periodic_tasks()) == {
        *every_minute,
        "lots.expire",
        "passes.flag_overdue",
        "demands.digest",
        hourly,
        rescue,
        *on_the_hour,
    }
    # what huey's consumer starts at a given minute (UTC)
    assert queue.due(datetime(2026, 12, 7, 5, 13)) == sorted(every_minute)
    assert queue.due(datetime(2026, 12, 7, 5, 10)) == sorted(
        [*every_minute, "lots.expire", "passes.flag_overdue"]
    )
    assert queue.due(datetime(2026, 12, 7, 6, 0)) == sorted(
        [*every_minute, "demands.digest", "lots.expire", "passes.flag_overdue", *on_the_hour]
    )
    assert "partners.find_at_risk" in queue.due(datetime(2026, 12, 7, 6, 45))
    assert queue.due(datetime(2026, 12, 7, 6, 23)) == sorted([*every_minute, hourly])
    assert queue.due(datetime(2026, 12, 7, 6, 41)) == sorted([*every_minute, rescue])


def test_the_settings_choose_the_queue(tmp_path):
    base = {"SECRET_KEY": "x" * 40}
    embedded = build_config(str(tmp_path), base, environ={})
    assert embedded["QUEUE_PATH"] == str(tmp_path / "queue.sqlite3")
    assert embedded["QUEUE_IMMEDIATE"] is False and embedded["QUEUE_URL"] is None
    assert isinstance(create_huey(embedded), SqliteHuey)
    assert build_config(str(tmp_path), {**base, "TESTING": True}, environ={})["QUEUE_IMMEDIATE"]
    url = "redis://127.0.0.1:6379/0"
    shared = build_config(str(tmp_path), base, environ={"QUEUE_URL": url})
    assert isinstance(create_huey(shared), RedisHuey)
    with pytest.raises(ConfigError, match=r"^QUEUE_URL must be a Redis address"):
        build_config(str(tmp_path), base, environ={"QUEUE_URL": "amqp://rabbit"})


def test_tasks_reach_redis_when_queue_url_is_set(app_factory, database_url):
    name = f"pm-test-{os.getpid()}-{os.urandom(4).hex()}"
    app = app_factory(
        database_url,
        "redis",
        QUEUE_IMMEDIATE=False,
        QUEUE_URL="redis://127.0.0.1:6379/0",
        QUEUE_NAME=name,
    )
    huey = get_queue(app).huey
    try:
        huey.storage.conn.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is expected on 127.0.0.1:6379 here and in CI")
    try:
        with app.app_context():
            after_commit("search.apply")
            db.session.commit()
            assert [t.name for t in huey.pending()] == ["search.apply"]
    finally:
        huey.storage.flush_all()
        huey.storage.conn.close()
        huey.storage.pool.disconnect()


def test_check_deploy_refuses_several_nodes_without_redis(app):
    found = deploy.problems(workers=1, nodes=2, tls_in_gunicorn=False)
    assert any("QUEUE_URL=redis://" in p for p in found), found
    assert any("QUEUE_IMMEDIATE is on" in p for p in found), found  # the tests' own setting
    single = deploy.problems(workers=1, nodes=1, tls_in_gunicorn=False)
    assert not any("QUEUE_URL" in p for p in single), single
    app.config["QUEUE_URL"] = "redis://127.0.0.1:6379/0"
    shared = deploy.problems(workers=1, nodes=2, tls_in_gunicorn=False)
    assert not any("QUEUE_URL" in p for p in shared), shared


def test_a_stored_file_is_deleted_by_a_task_only_once_the_commit_is_done(queued_app):
    storage = get_storage()
    storage.save("lots/1/a.jpg", b"jpeg")
    delete_after_commit("lots/1/a.jpg")
    db.session.rollback()
    assert storage.exists("lots/1/a.jpg") and pending(queued_app) == []
    delete_after_commit("lots/1/a.jpg")
    db.session.commit()
    assert pending(queued_app) == [("storage.delete", ("lots/1/a.jpg",))]
    assert storage.exists("lots/1/a.jpg")  # the worker deletes it
    get_queue(queued_app).huey.immediate = True  # as the tests' queue runs every task at once
    get_queue(queued_app).enqueue("storage.delete", "lots/1/a.jpg")
    assert not storage.exists("lots/1/a.jpg")
