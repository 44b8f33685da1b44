"""The app factory, configuration and health."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from produce_match import ConfigError, create_app
from produce_match.config import build_config, normalise_database_url


def test_factory_applies_overrides(app):
    assert app.testing
    assert app.config["SECRET_KEY"] == "test-secret-key"
    assert app.config["BABEL_DEFAULT_LOCALE"] == "zh"


def test_health(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_production_without_secret_key_refuses_to_start(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(
            {
                "PRODUCE_MATCH_ENV": "production",
                "INSTANCE_PATH": str(tmp_path),
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                "AUTO_SETUP": False,
            }
        )


def test_embedded_default_generates_and_keeps_its_secret(tmp_path):
    first = build_config(str(tmp_path), environ={})
    second = build_config(str(tmp_path), environ={})
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 40
    mode = (tmp_path / "secret_key").stat().st_mode
    assert not mode & (stat.S_IRGRP | stat.S_IROTH)


def test_embedded_default_uses_instance_folder_and_sets_itself_up(tmp_path):
    cfg = build_config(str(tmp_path), environ={})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'produce_match.sqlite3'}"
    assert cfg["SEARCH_INDEX_DIR"] == str(tmp_path / "search_index")
    assert cfg["UPLOAD_DIR"] == str(tmp_path / "uploads")
    assert cfg["AUTO_SETUP"] is True and cfg["LOAD_DEMO"] is True


def test_settings_come_from_the_environment(tmp_path):
    env = {
        "DATABASE_URL": "postgres://u@db/pm",
        "SECRET_KEY": "s" * 40,
        "SEARCH_INDEX_DIR": "/srv/index",
        "UPLOAD_DIR": "/srv/uploads",
        "PRODUCE_MATCH_ENV": "production",
    }
    cfg = build_config(str(tmp_path), environ=env)
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/pm"
    assert cfg["SECRET_KEY"] == "s" * 40
    assert cfg["SEARCH_INDEX_DIR"] == "/srv/index"
    assert cfg["UPLOAD_DIR"] == "/srv/uploads"
    assert cfg["AUTO_SETUP"] is False  # an explicit database is migrated by its operator
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert not Path(tmp_path / "secret_key").exists()


def test_database_url_spellings():
    assert normalise_database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_search_backend_is_chosen_by_configuration(tmp_path):
    assert build_config(str(tmp_path), environ={})["SEARCH_BACKEND"] == "whoosh"
    pg = {"DATABASE_URL": "postgresql://pm@127.0.0.1/pm", "SEARCH_BACKEND": "postgres"}
    assert build_config(str(tmp_path), environ=pg)["SEARCH_BACKEND"] == "postgres"
    # the documents live in PostgreSQL: refused clearly on SQLite
    with pytest.raises(ConfigError, match="SEARCH_BACKEND=postgres .* not a PostgreSQL"):
        build_config(str(tmp_path), environ={"SEARCH_BACKEND": "postgres"})
    with pytest.raises(ConfigError, match="SEARCH_BACKEND must be one of whoosh, postgres"):
        build_config(str(tmp_path), environ={"SEARCH_BACKEND": "elastic"})
