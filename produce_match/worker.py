"""`flask worker`: the task queue's consumer (see queue.py), the one process that runs the work
after each commit and the timers. Run one beside the web server (the Procfile does)."""

from __future__ import annotations

import logging
import time

import click
from flask import Flask, current_app

from produce_match.extensions import db
from produce_match.queue import DECLARED, get_queue

#: seconds between looks at a database that is not migrated yet
WAIT_SECONDS = 1.0


def _wait_for_migrations() -> None:
    """A fresh clone: the web process migrates it (AUTO_SETUP); start once it has."""
    from produce_match.deploy import at_head

    told = None
    while True:
        why = "not at the latest migration"
        try:
            ready = at_head()
        except Exception as exc:  # noqa: BLE001 - not there yet (or busy): try again
            ready, why = False, f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        finally:
            db.session.rollback()
        if ready:
            return
        if told != why:
            click.echo(f"worker: waiting for the database to be migrated (flask init-db): {why}")
            told = why
        time.sleep(WAIT_SECONDS)


def init_app(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option(
        "--workers", type=int, default=None, help="Threads running tasks (default: QUEUE_WORKERS)."
    )
    @click.option(
        "--no-periodic", is_flag=True, help="Do not run the timers (another worker does)."
    )
    def worker_command(workers: int | None, no_periodic: bool) -> None:
        """Run the task queue's worker: the work after each commit, and the timers."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if app.config["QUEUE_IMMEDIATE"]:
            raise click.ClickException(
                "QUEUE_IMMEDIATE is on: tasks run where they are enqueued; nothing to work on."
            )
        # huey's own lines (tasks run, failed, retried) go where the app's lines go
        huey_log = logging.getLogger("huey")
        huey_log.handlers = list(logging.getLogger("produce_match").handlers)
        huey_log.setLevel(app.config["LOG_LEVEL"])
        _wait_for_migrations()
        queue = get_queue(app)
        queue.register()
        # what a worker killed earlier left behind (a task it had taken is gone with it)
        for name, declared in DECLARED.items():
            if declared.on_start:
                queue.enqueue(name)
        count = workers or app.config["QUEUE_WORKERS"]
        where = app.config["QUEUE_URL"] or app.config["QUEUE_PATH"]
        timers = "off" if no_periodic else "on"
        click.echo(f"worker: {count} threads, queue {where}, timers {timers}")
        consumer = queue.huey.create_consumer(
            workers=count, worker_type="thread", periodic=not no_periodic, check_worker_health=True
        )
        consumer.run()
