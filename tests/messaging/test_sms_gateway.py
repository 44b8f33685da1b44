"""SMS through Aliyun's official SDK to the emulator (devtools/sms_gateway) and back: the
signature the SDK computes is verified by the emulator, a wrong key is refused, Aliyun's
answers become SmsError with the right `retryable`, and a production configuration refuses
the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from produce_match.config import (
    SMS_DEV_SETTINGS,
    SMS_DEV_TEMPLATES,
    SMS_REAL_ENDPOINT,
    ConfigError,
    build_config,
)
from produce_match.messaging import sms
from produce_match.messaging.sms import SmsError, send_sms
from tests.conftest import post_form
from tests.emulator_process import ROOT, free_port
from tests.sms_emulator import SmsEmulator, sms_emulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

PHONE_BASE = 13600000000


def a_number() -> str:
    """A number no other test of the run texts (the emulator limits texts per number)."""
    return str(PHONE_BASE + uuid.uuid4().int % 99999999)


@pytest.fixture
def sms_app(app_factory, database_url, sms_emulator):  # noqa: F811
    sms_emulator.reset()
    app = app_factory(database_url, "sms", **sms_emulator.settings())
    with app.app_context():
        yield app
    sms_emulator.reset()


def test_the_sdk_round_trip(sms_app, sms_emulator):  # noqa: F811
    phone = a_number()
    biz_id = send_sms(
        f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}", "verify_code", {"code": "246810"}, out_id="t-1"
    )
    (message,) = sms_emulator.messages(phone)
    assert message["biz_id"] == biz_id
    assert message["text"] == "【产销对接】您的验证码为246810，10分钟内有效，请勿泄露给他人。"
    assert message["out_id"] == "t-1" and message["template_code"] == "SMS_900000001"


def test_a_wrong_secret_or_an_unknown_key_is_refused(sms_app, sms_emulator):  # noqa: F811
    phone = a_number()
    sms_app.config["SMS_ACCESS_KEY_SECRET"] = "not-the-secret"
    with pytest.raises(SmsError) as wrong:
        send_sms(phone, "verify_code", {"code": "123456"})
    assert wrong.value.code == "SignatureDoesNotMatch" and not wrong.value.retryable
    sms_app.config["SMS_ACCESS_KEY_ID"] = "LTAI-nobody"
    with pytest.raises(SmsError) as unknown:
        send_sms(phone, "verify_code", {"code": "123456"})
    assert unknown.value.code == "InvalidAccessKeyId.NotFound" and not unknown.value.retryable
    assert sms_emulator.messages(phone) == []


def _signed(url: str, *, date: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """A SendSms request signed by the SDK's own signing code (not ours)."""
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    host = url.split("://", 1)[1]
    request = DaraRequest()
    request.method, request.pathname = "POST", "/"
    request.query = {
        "PhoneNumbers": a_number(),
        "SignName": SMS_DEV_SETTINGS["SMS_SIGN_NAME"],
        "TemplateCode": SMS_DEV_TEMPLATES["notice"],
        "TemplateParam": json.dumps({"text": "测试"}, ensure_ascii=False),
    }
    payload = Utils.hash(b"", "ACS3-HMAC-SHA256").hex()
    request.headers = {
        "host": host,
        "x-acs-action": "SendSms",
        "x-acs-version": "2017-05-25",
        "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": payload,
    }
    request.headers["Authorization"] = Utils.get_authorization(
        request,
        "ACS3-HMAC-SHA256",
        payload,
        SMS_DEV_SETTINGS["SMS_ACCESS_KEY_ID"],
        SMS_DEV_SETTINGS["SMS_ACCESS_KEY_SECRET"],
    )
    return {"query": request.query, "headers": request.headers}


def _post(url: str, signed: dict, **changes) -> requests.Response:
    return requests.post(
        url + "/", params=signed["query"], headers=signed["headers"], timeout=10, **changes
    )


def test_the_emulator_checks_the_nonce_the_date_and_the_body(sms_emulator):  # noqa: F811
    url = sms_emulator.url
    signed = _signed(url)
    first = _post(url, signed)
    assert first.status_code == 200 and first.json()["Code"] == "OK", first.text
    again = _post(url, signed)  # replayed as it was
    assert again.status_code == 400 and again.json()["Code"] == "SignatureNonceUsed"
    old = _signed(url, date="2020-03-01T08:00:00Z")
    assert _post(url, old).json()["Code"] == "InvalidTimeStamp.Expired"
    tampered = _signed(url)
    tampered["query"] = {**tampered["query"], "PhoneNumbers": a_number()}
    answer = _post(url, tampered)
    assert answer.status_code == 400 and answer.json()["Code"] == "SignatureDoesNotMatch"
    body = _signed(url)
    assert _post(url, body, data=b"x=1").json()["Code"] == "SignatureDoesNotMatch"
    unsigned = requests.post(url + "/", params=body["query"], timeout=10)
    assert unsigned.status_code == 400 and unsigned.json()["Code"] == "IncompleteSignature"


def test_aliyuns_refusals_and_whether_to_try_again(sms_app, sms_emulator):  # noqa: F811
    phone = a_number()
    send_sms(phone, "verify_code", {"code": "111111"})
    with pytest.raises(SmsError) as limited:  # Aliyun: one code a minute per number
        send_sms(phone, "verify_code", {"code": "222222"})
    assert limited.value.code == "isv.BUSINESS_LIMIT_CONTROL" and limited.value.retryable
    config = dict(sms_app.config)
    with pytest.raises(SmsError) as illegal:  # past our own check, as Aliyun answers it
        sms._send_aliyun(config, "12345", "SMS_900000001", {"code": "1"}, None)
    assert illegal.value.code == "isv.MOBILE_NUMBER_ILLEGAL" and not illegal.value.retryable
    sms_app.config["SMS_TEMPLATES"] = {"notice": "SMS_000000000"}
    with pytest.raises(SmsError) as template:
        send_sms(a_number(), "notice", {"text": "好"})
    assert template.value.code == "isv.SMS_TEMPLATE_ILLEGAL" and not template.value.retryable
    sms_app.config["SMS_TEMPLATES"] = dict(SMS_DEV_TEMPLATES)
    with pytest.raises(SmsError) as long:
        send_sms(a_number(), "notice", {"text": "长" * 36})
    assert long.value.code == "isv.PARAM_LENGTH_LIMIT"
    sms_emulator.control(fail="isp.SYSTEM_ERROR")
    with pytest.raises(SmsError) as down:
        send_sms(a_number(), "notice", {"text": "好"})
    assert down.value.retryable


def test_no_answer_is_worth_trying_again(sms_app):
    sms_app.config["SMS_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    sms_app.config["SMS_HTTP_TIMEOUT"] = 2.0
    with pytest.raises(SmsError) as refused:
        send_sms(a_number(), "verify_code", {"code": "123456"})
    assert refused.value.code == "unreachable" and refused.value.retryable


def test_the_inbox_page_and_the_messages_of_a_number(sms_app, sms_emulator):  # noqa: F811
    phone = a_number()
    send_sms(phone, "notice", {"text": "您的黑豆订单已付款"})
    page = requests.get(sms_emulator.url + "/", params={"phone": phone}, timeout=10)
    assert page.status_code == 200 and "您的黑豆订单已付款" in page.text
    listed = requests.get(sms_emulator.url + "/messages", params={"phone": phone}, timeout=10)
    assert listed.json()["messages"][0]["params"] == {"text": "您的黑豆订单已付款"}


def test_a_new_buyer_registers_with_the_code_from_the_emulator(sms_app, sms_emulator):  # noqa: F811
    phone = a_number()
    client = sms_app.test_client()
    asked = client.post("/api/v1/phone-codes", json={"phone": phone, "purpose": "register"})
    assert asked.status_code == 202
    form = {
        "kind": "buyer",
        "org_name": f"测试粮油{phone}",
        "contact_person": "陈经理",
        "phone": phone,
        "password": "buyer-pass-1",
        "confirm": "buyer-pass-1",
        "province": "江西",
        "county": "东湖区",
        "code": sms_emulator.code_for(phone),
    }
    done = post_form(client, "/register", form, page="/register")
    assert done.status_code == 302, done.get_data(as_text=True)[:3000]


# --- production --------------------------------------------------------------------------

PRODUCTION = {
    "PRODUCE_MATCH_ENV": "production",
    "SECRET_KEY": "p" * 20 + "0123456789abcdefghij",
    "DATABASE_URL": "sqlite:////tmp/unused.sqlite3",
}


def test_a_production_configuration_refuses_the_emulator(tmp_path):
    config = build_config(
        str(tmp_path),
        environ={**PRODUCTION, "SMS_ENDPOINT": "http://127.0.0.1:5004", **SMS_DEV_SETTINGS},
    )
    found = " ".join(sms.deploy_problems(config))
    assert "SMS_ENDPOINT" in found and "development key" in found
    assert "SMS_TEMPLATES" in found
    assert SMS_DEV_SETTINGS["SMS_ACCESS_KEY_SECRET"] not in found
    log = build_config(str(tmp_path), environ={**PRODUCTION, "SMS_BACKEND": "log"})
    assert "SMS_BACKEND" in " ".join(sms.deploy_problems(log))


def test_a_proper_production_configuration_passes(tmp_path):
    config = build_config(
        str(tmp_path),
        environ={
            **PRODUCTION,
            "SMS_ACCESS_KEY_ID": "LTAI5tRealKeyId",
            "SMS_ACCESS_KEY_SECRET": "a-real-secret",
            "SMS_SIGN_NAME": "产销对接",
            "SMS_TEMPLATES": "verify_code=SMS_123456789,notice=SMS_987654321",
        },
    )
    assert config["SMS_ENDPOINT"] == SMS_REAL_ENDPOINT
    assert sms.deploy_problems(config) == []


def test_templates_are_read_as_name_code_pairs(tmp_path):
    with pytest.raises(ConfigError, match="SMS_TEMPLATES"):
        build_config(str(tmp_path), environ={"SMS_TEMPLATES": "verify_code"})


def test_the_emulator_refuses_to_run_in_production(tmp_path):
    env = {**os.environ, **PRODUCTION, "INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "devtools.sms_gateway", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "does not run in production" in result.stderr


def test_a_production_app_does_not_start_with_the_emulators_key(tmp_path, database_url):
    from produce_match import create_app

    with pytest.raises(ConfigError, match="development key"):
        create_app(
            {
                **PRODUCTION,
                "TESTING": True,
                "DATABASE_URL": database_url,
                "INSTANCE_PATH": str(tmp_path),
                "SMS_BACKEND": "aliyun",
                **SMS_DEV_SETTINGS,
            }
        )
