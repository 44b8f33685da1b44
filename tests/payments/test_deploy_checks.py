"""A production configuration may offer only providers that can run safely: their keys in
files only this service reads, their gateways over HTTPS. `flask check-deploy` and the app's
start ask every offered provider (`Provider.deploy_problems`); the key helpers of
providers/keys.py say what is wrong without ever showing a key.

A provider of this test's own (`keytest`), registered only while a test runs, stands for the
real ones: what is tested is the mechanism and the helpers they share."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from produce_match import config as config_module
from produce_match.config import ConfigError
from produce_match.payments.providers import REGISTRY, Provider
from produce_match.payments.providers.keys import (
    KeyFileError,
    https_problems,
    key_file_problems,
    read_key_file,
)

#: what a key file holds here: never to be seen in a message, a log line or an answer
KEY_TEXT = (
    "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIALdoNotLogMe0123456789\n"
    "-----END PRIVATE KEY-----\n"
)
SECRET = "s" * 20 + "0123456789abcdefghij"


@pytest.fixture
def keytest(monkeypatch) -> Iterator[type[Provider]]:
    """A provider with a private key, a public key and a gateway URL, like the real ones."""
    monkeypatch.setattr(
        config_module, "PAYMENT_METHODS", (*config_module.PAYMENT_METHODS, "keytest")
    )

    class KeyTestProvider(Provider):
        name = "keytest"

        @classmethod
        def deploy_problems(cls, config: Mapping[str, Any]) -> list[str]:
            return [
                *key_file_problems(config, "KEYTEST_PRIVATE_KEY_FILE", private=True),
                *key_file_problems(config, "KEYTEST_PUBLIC_KEY_FILE", private=False),
                *https_problems(config, "KEYTEST_GATEWAY_URL"),
            ]

    try:
        yield KeyTestProvider
    finally:
        REGISTRY.pop("keytest", None)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    private = tmp_path / "keytest_private.pem"
    private.write_text(KEY_TEXT)
    private.chmod(0o600)
    public = tmp_path / "keytest_public.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\nPUBLIC\n-----END PUBLIC KEY-----\n")
    public.chmod(0o644)
    return {
        "KEYTEST_PRIVATE_KEY_FILE": str(private),
        "KEYTEST_PUBLIC_KEY_FILE": str(public),
        "KEYTEST_GATEWAY_URL": "https://openapi.keytest.example/gateway",
    }


def _production(database_url: str, tmp_path: Path, app_factory, name: str, **more: Any):
    from tests.sms import PRODUCTION_SMS

    (tmp_path / f"{name}-up").mkdir()
    (tmp_path / f"{name}-ix").mkdir()
    return app_factory(
        database_url,
        name,
        PRODUCE_MATCH_ENV="production",
        SECRET_KEY=SECRET,
        SESSION_COOKIE_SECURE=True,
        PREFERRED_URL_SCHEME="https",
        SITE_URL="https://produce.example.cn",
        TRUSTED_PROXIES=1,
        UPLOAD_DIR=str(tmp_path / f"{name}-up"),
        SEARCH_INDEX_DIR=str(tmp_path / f"{name}-ix"),
        AUTO_SETUP=False,
        LOAD_DEMO=False,
        QUEUE_IMMEDIATE=False,
        PAYMENTS_METHODS=("transfer", "keytest"),
        **PRODUCTION_SMS,
        **more,
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"KEYTEST_PRIVATE_KEY_FILE": "/nonexistent/keytest.pem"}, "does not exist"),
        ({"KEYTEST_PUBLIC_KEY_FILE": None}, "KEYTEST_PUBLIC_KEY_FILE is not set"),
        ({"group_readable": True}, "can be read by others (mode 640)"),
        ({"KEYTEST_GATEWAY_URL": "http://openapi.keytest.example/gateway"}, "not an https://"),
    ],
)
def test_a_production_app_offering_an_unsafe_provider_does_not_start(
    database_url, tmp_path, app_factory, monkeypatch, keytest, keys, caplog, change, words
):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    settings = {**keys, **{k: v for k, v in change.items() if k != "group_readable"}}
    if change.get("group_readable"):
        os.chmod(keys["KEYTEST_PRIVATE_KEY_FILE"], 0o640)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as refused:
        _production(database_url, tmp_path, app_factory, "refused", **settings)
    assert words in str(refused.value)
    assert "TOPSECRETKEYMATERIAL" not in str(refused.value)
    assert "TOPSECRETKEYMATERIAL" not in caplog.text


def test_check_deploy_asks_every_offered_provider_and_never_shows_a_key(
    database_url, tmp_path, app_factory, monkeypatch, keytest, keys, caplog
):
    from produce_match import setup

    monkeypatch.setenv("SECRET_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    app = _production(database_url, tmp_path, app_factory, "prod", **keys)  # starts: all safe
    with app.app_context():
        setup.initialise()
    runner = app.test_cli_runner()
    safe = runner.invoke(args=["check-deploy", "--workers", "1"])
    assert safe.exit_code == 0, safe.output

    # the same provider, made unsafe after the start: check-deploy says what and where
    os.chmod(keys["KEYTEST_PRIVATE_KEY_FILE"], 0o644)
    app.config["KEYTEST_GATEWAY_URL"] = "http://openapi.keytest.example/gateway"
    app.config["KEYTEST_PUBLIC_KEY_FILE"] = str(tmp_path / "gone.pem")
    unsafe = runner.invoke(args=["check-deploy", "--workers", "1"])
    assert unsafe.exit_code == 1
    for words in (
        "KEYTEST_PRIVATE_KEY_FILE",
        "can be read by others (mode 644)",
        "KEYTEST_PUBLIC_KEY_FILE",
        "does not exist",
        "KEYTEST_GATEWAY_URL",
        "not an https://",
    ):
        assert words in unsafe.output, words
    assert "TOPSECRETKEYMATERIAL" not in unsafe.output
    assert "TOPSECRETKEYMATERIAL" not in caplog.text

    # not offered: not asked
    app.config["PAYMENTS_METHODS"] = ("transfer",)
    assert runner.invoke(args=["check-deploy", "--workers", "1"]).exit_code == 0


def test_the_key_helpers_name_the_setting_and_the_path_never_the_key(keys, tmp_path):
    assert key_file_problems(keys, "KEYTEST_PRIVATE_KEY_FILE", private=True) == []
    assert read_key_file(keys, "KEYTEST_PRIVATE_KEY_FILE") == KEY_TEXT
    # a public key (or certificate) may be readable by all; a private one may not
    assert key_file_problems(keys, "KEYTEST_PUBLIC_KEY_FILE", private=False) == []
    assert key_file_problems(keys, "KEYTEST_PUBLIC_KEY_FILE", private=True) != []
    os.chmod(keys["KEYTEST_PRIVATE_KEY_FILE"], 0o604)  # world-readable
    (problem,) = key_file_problems(keys, "KEYTEST_PRIVATE_KEY_FILE", private=True)
    assert "mode 604" in problem and "TOPSECRETKEYMATERIAL" not in problem
    folder = {"KEYTEST_PRIVATE_KEY_FILE": str(tmp_path)}
    assert (
        "not a readable file"
        in key_file_problems(folder, "KEYTEST_PRIVATE_KEY_FILE", private=True)[0]
    )
    # read errors name the setting and the path only
    binary = tmp_path / "binary.pem"
    binary.write_bytes(b"\xff\xfeTOPSECRETKEYMATERIAL")
    with pytest.raises(KeyFileError) as unreadable:
        read_key_file({"K": str(binary)}, "K")
    assert "K (" in str(unreadable.value) and "TOPSECRETKEYMATERIAL" not in str(unreadable.value)
    with pytest.raises(KeyFileError, match="K is not set"):
        read_key_file({}, "K")
    assert https_problems({"U": "https://a.example"}, "U") == []
    assert "is not set" in https_problems({}, "U")[0]
    assert "not an https://" in https_problems({"U": "ftp://a.example"}, "U")[0]
