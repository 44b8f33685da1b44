"""WeChat Pay's settings: the emulator and its test keys in development, WeChat Pay's own API
and keys in files only the service reads in production, and keys never in a message."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from devtools.wechatpay_server import APIV3_KEY, MERCHANT_KEY, WECHATPAY_PUBLIC, ensure_keys
from produce_match.config import WECHATPAY_DEV_MERCHANT, build_config
from produce_match.payments import offered_provider_problems
from produce_match.payments.providers.keys import KeyFileError
from produce_match.payments.providers.wechatpay import WechatPayProvider

PRODUCTION = {
    "PRODUCE_MATCH_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "DATABASE_URL": "postgresql://pm@db/pm",
}


def test_development_pays_through_the_emulator_with_its_test_keys(tmp_path):
    cfg = build_config(str(tmp_path), environ={})
    assert "wechatpay" in cfg["PAYMENTS_METHODS"]
    assert cfg["WECHATPAY_BASE_URL"] == "http://127.0.0.1:5003"
    assert cfg["WECHATPAY_PRIVATE_KEY_FILE"] == str(tmp_path / "wechatpay_dev" / MERCHANT_KEY)
    assert cfg["WECHATPAY_PUBLIC_KEY_FILE"] == str(tmp_path / "wechatpay_dev" / WECHATPAY_PUBLIC)
    assert cfg["WECHATPAY_APIV3_KEY_FILE"] == str(tmp_path / "wechatpay_dev" / APIV3_KEY)
    assert cfg["WECHATPAY_MCHID"] == WECHATPAY_DEV_MERCHANT["WECHATPAY_MCHID"]


def test_production_offers_it_only_when_asked_and_defaults_to_the_real_api(tmp_path):
    cfg = build_config(str(tmp_path), environ=PRODUCTION)
    assert cfg["PAYMENTS_METHODS"] == ("transfer",)
    assert cfg["WECHATPAY_BASE_URL"] == "https://api.mch.weixin.qq.com"
    assert cfg["WECHATPAY_MCHID"] is None and cfg["WECHATPAY_PRIVATE_KEY_FILE"] is None


def _real(tmp_path: Path) -> dict[str, str]:
    keys = ensure_keys(tmp_path / "keys")
    return {
        **PRODUCTION,
        "PAYMENTS_METHODS": "transfer,wechatpay",
        "WECHATPAY_MCHID": "1230000109",
        "WECHATPAY_APPID": "wx8888888888888888",
        "WECHATPAY_CERT_SERIAL_NO": "444F4864EA9B34415F4D2CEF1AB6D56E9F6D1C1E",
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0112300001092025010100000000000001",
        "WECHATPAY_PRIVATE_KEY_FILE": str(keys / MERCHANT_KEY),
        "WECHATPAY_PUBLIC_KEY_FILE": str(keys / WECHATPAY_PUBLIC),
        "WECHATPAY_APIV3_KEY_FILE": str(keys / APIV3_KEY),
    }


def test_a_real_configuration_passes(tmp_path):
    cfg = build_config(str(tmp_path), environ=_real(tmp_path))
    assert WechatPayProvider.deploy_problems(cfg) == []
    assert offered_provider_problems(cfg) == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"WECHATPAY_BASE_URL": "http://127.0.0.1:5003"}, "not an https://"),
        ({"WECHATPAY_BASE_URL": "https://wechat-emulator.example.org"}, "not WeChat Pay's API"),
        ({"WECHATPAY_MCHID": ""}, "WECHATPAY_MCHID is not set"),
        ({"WECHATPAY_PUBLIC_KEY_ID": "5157F09EFDC096DE15EBE81A47057A72"}, "PUB_KEY_ID_"),
        ({"WECHATPAY_PRIVATE_KEY_FILE": "/nonexistent/apiclient_key.pem"}, "does not exist"),
        ({"WECHATPAY_APIV3_KEY": "0123456789abcdef0123456789abcdef"}, "in the environment"),
    ],
)
def test_production_refuses_an_unsafe_configuration(tmp_path, change, words):
    env = {**_real(tmp_path), **change}
    problems = WechatPayProvider.deploy_problems(build_config(str(tmp_path), environ=env))
    assert any(words in p for p in problems), problems
    # the key itself is never in a message
    assert not any("0123456789abcdef" in p for p in problems)


@pytest.mark.parametrize("setting", ["WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY_FILE"])
def test_a_secret_others_can_read_is_refused(tmp_path, setting):
    env = _real(tmp_path)
    os.chmod(env[setting], 0o644)
    problems = WechatPayProvider.deploy_problems(build_config(str(tmp_path), environ=env))
    assert any(setting in p and "chmod 600" in p for p in problems), problems


def test_the_keys_made_for_development_are_private(tmp_path):
    keys = ensure_keys(tmp_path / "dev")
    for name in (MERCHANT_KEY, APIV3_KEY, "wechatpay_key.pem"):
        assert (keys / name).stat().st_mode & 0o077 == 0, name
    assert len((keys / APIV3_KEY).read_text().strip()) == 32


def test_keys_stay_out_of_the_provider_s_words_and_the_log(tmp_path, caplog):
    cfg = build_config(str(tmp_path), environ=_real(tmp_path))
    cfg["PAYMENTS_HTTP_TIMEOUT"] = 1.0
    secret = Path(cfg["WECHATPAY_APIV3_KEY_FILE"]).read_text().strip()
    caplog.set_level(logging.DEBUG)
    provider = WechatPayProvider.from_config(cfg)
    assert secret not in repr(provider) and "PRIVATE" not in repr(provider)
    cfg["WECHATPAY_APIV3_KEY_FILE"] = None
    cfg["WECHATPAY_APIV3_KEY"] = "short"
    with pytest.raises(KeyFileError) as refused:
        WechatPayProvider.from_config(cfg)
    assert "short" not in str(refused.value)
    assert secret not in caplog.text


def test_the_account_page_keeps_the_wechat_payee(app, users):
    from produce_match.extensions import db
    from produce_match.payments import operations as payments
    from tests.conftest import login, post_form
    from tests.factories import PASSWORD

    client = app.test_client()
    login(client, "coop", PASSWORD)
    form = {
        "account_name": "道亭村合作社",
        "bank_name": "彰武农商行",
        "account_number": "6228000011112222",
        "wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "wechat_name": "",
    }
    refused = post_form(client, "/payments/account", form, page="/payments/account")
    assert refused.status_code == 200
    assert "请填写该微信用户的真实姓名" in refused.get_data(as_text=True)
    db.session.rollback()
    assert payments.payout_account(users["coop"].organisation_id) is None  # nothing saved
    saved = post_form(
        client, "/payments/account", {**form, "wechat_name": "张三"}, page="/payments/account"
    )
    assert saved.status_code == 302
    db.session.rollback()
    account = payments.payout_account(users["coop"].organisation_id)
    assert (account.wechat_openid, account.wechat_name) == (form["wechat_openid"], "张三")
    page = client.get("/payments/account").get_data(as_text=True)
    assert "微信收款人 openid" in page and form["wechat_openid"] in page
