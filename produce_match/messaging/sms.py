"""SMS: one text message to one mainland mobile number, through Aliyun's SMS API (Dysmsapi
2017-05-25, `SendSms`) with its official SDK (alibabacloud-dysmsapi20170525).

Aliyun sends only approved templates under an approved sign name: the caller names a template
by its logical name (`verify_code`, `notice`: the SMS_TEMPLATES setting maps them to Aliyun's
template codes) and gives its parameters. The backend is chosen by SMS_BACKEND:

- ``aliyun``: the API at SMS_ENDPOINT (https://dysmsapi.aliyuncs.com; in development the
  emulator, devtools/sms_gateway, at http://127.0.0.1:5004), signed with SMS_ACCESS_KEY_ID and
  SMS_ACCESS_KEY_SECRET by the SDK (ACS3-HMAC-SHA256);
- ``log``: the message is written to the application log (the tests' default; refused in
  production, where it would put codes in the log);
- ``none``: nothing is sent (refused in production too: the phone is how people log in).

The SDK is told not to retry: the caller (a task of the queue) decides, by `SmsError.retryable`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from produce_match.inputs import mobile_number, normalise_phone

log = logging.getLogger("produce_match.messaging.sms")

#: the hosts of Aliyun's SMS API a production configuration may send to
REAL_HOSTS = ("dysmsapi.aliyuncs.com",)
#: Aliyun's answers that say "not now", worth trying again later (its flow control per number
#: and per account, and its own faults); any other refusal is final for this message
RETRYABLE_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.DAY_LIMIT_CONTROL",
        "Throttling.User",
        "Throttling",
        "ServiceUnavailable",
        "InternalError",
        "isp.SYSTEM_ERROR",
        "isp.RAM_PERMISSION_DENY",
    }
)


class SmsError(RuntimeError):
    """A message that was not sent: `code` is the provider's (or ours), `retryable` says
    whether trying again later may succeed."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def normalise_mobile(phone: str) -> str:
    """The 11 digits of a mainland mobile number ('+86 138-0013-8000' -> '13800138000');
    SmsError (not retryable) for anything else."""
    number = mobile_number(phone)
    if number is None:
        raise SmsError(
            f"not a mainland mobile number: {mask(normalise_phone(phone))}",
            code="isv.MOBILE_NUMBER_ILLEGAL",
            retryable=False,
        )
    return number


def mask(phone: str) -> str:
    """A number as logs show it: 138****8000."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def send_sms(
    phone: str, template: str, params: Mapping[str, str], *, out_id: str | None = None
) -> str:
    """Send the template `template` (a logical name from SMS_TEMPLATES) with `params` to
    `phone`; the provider's BizId. `out_id` is passed on to the provider (ours, to find the
    message in its records). Raises SmsError."""
    config = current_app.config
    number = normalise_mobile(phone)
    params = {str(key): str(value) for key, value in params.items()}
    backend = config.get("SMS_BACKEND", "none")
    if backend == "none":
        raise SmsError("SMS is switched off (SMS_BACKEND=none)", code="disabled", retryable=False)
    templates = config.get("SMS_TEMPLATES") or {}
    if template not in templates:
        raise SmsError(
            f"no template code for {template!r} in SMS_TEMPLATES", code="config", retryable=False
        )
    if backend == "log":
        biz_id = f"log-{uuid.uuid4().hex[:16]}"
        log.info("SMS %s to %s %s: %s", biz_id, mask(number), template, json.dumps(params))
        return biz_id
    return _send_aliyun(config, number, templates[template], params, out_id)


def _client(config: Mapping[str, Any]) -> Any:
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    endpoint = urlsplit(str(config["SMS_ENDPOINT"]))
    return Client(
        Config(
            access_key_id=config.get("SMS_ACCESS_KEY_ID"),
            access_key_secret=config.get("SMS_ACCESS_KEY_SECRET"),
            endpoint=endpoint.netloc,
            protocol=endpoint.scheme.upper(),
        )
    )


def _send_aliyun(
    config: Mapping[str, Any],
    number: str,
    template_code: str,
    params: dict[str, str],
    out_id: str | None,
) -> str:
    from alibabacloud_dysmsapi20170525.models import SendSmsRequest
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from darabonba.runtime import RuntimeOptions

    if not (config.get("SMS_ACCESS_KEY_ID") and config.get("SMS_ACCESS_KEY_SECRET")):
        raise SmsError(
            "SMS_ACCESS_KEY_ID and SMS_ACCESS_KEY_SECRET are not set",
            code="config",
            retryable=False,
        )
    request = SendSmsRequest(
        phone_numbers=number,
        sign_name=config.get("SMS_SIGN_NAME"),
        template_code=template_code,
        template_param=json.dumps(params, ensure_ascii=False),
        out_id=out_id,
    )
    timeout = int(float(config.get("SMS_HTTP_TIMEOUT", 10.0)) * 1000)
    runtime = RuntimeOptions(autoretry=False, read_timeout=timeout, connect_timeout=timeout)
    try:
        answer = _client(config).send_sms_with_options(request, runtime)
    except AlibabaCloudException as exc:
        status = exc.status_code or 0
        code = exc.code or "unknown"
        raise SmsError(
            f"Aliyun refused the message to {mask(number)}: {code} ({exc.message})",
            code=code,
            retryable=code in RETRYABLE_CODES or status >= 500 or status == 429,
        ) from None
    except Exception as exc:  # noqa: BLE001 - no answer (connection, timeout, a broken answer)
        raise SmsError(
            f"Aliyun's SMS API did not answer: {exc.__class__.__name__}",
            code="unreachable",
            retryable=True,
        ) from None
    body = answer.body
    if body is None or body.code != "OK":
        code = getattr(body, "code", None) or "unknown"
        raise SmsError(
            f"Aliyun refused the message to {mask(number)}: {code} "
            f"({getattr(body, 'message', '')})",
            code=code,
            retryable=code in RETRYABLE_CODES,
        )
    log.info("SMS %s to %s sent (%s)", body.biz_id, mask(number), template_code)
    return str(body.biz_id)


# --- a production configuration -----------------------------------------------------------


def emulator_problems(config: Mapping[str, Any]) -> list[str]:
    """Why this production configuration would text through the emulator (none: it would
    not): its development AccessKey, or an address that is not Aliyun's. The app refuses to
    start with any of these."""
    if config.get("PRODUCE_MATCH_ENV") != "production" or config.get("SMS_BACKEND") != "aliyun":
        return []
    from produce_match.config import SMS_DEV_SETTINGS

    found: list[str] = []
    for name in ("SMS_ACCESS_KEY_ID", "SMS_ACCESS_KEY_SECRET"):
        if config.get(name) and config.get(name) == SMS_DEV_SETTINGS[name]:
            found.append(f"{name} is the SMS emulator's development key: use your own.")
    url = str(config.get("SMS_ENDPOINT") or "")
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname not in REAL_HOSTS:
        found.append(
            f"SMS_ENDPOINT ({url}) is not Aliyun's SMS API (https://dysmsapi.aliyuncs.com): "
            "an emulator or another host would receive the codes."
        )
    return found


def deploy_problems(config: Mapping[str, Any]) -> list[str]:
    """Why this production configuration cannot send SMS safely (none: it can): the log or
    no backend, a missing key, sign name or template, and the emulator's key or address."""
    if config.get("PRODUCE_MATCH_ENV") != "production":
        return []
    from produce_match.config import SMS_DEV_TEMPLATES

    backend = config.get("SMS_BACKEND")
    if backend != "aliyun":
        return [
            f"SMS_BACKEND is {backend!r} in production: registration and password resets need "
            "SMS codes. Set SMS_BACKEND=aliyun with its keys."
        ]
    found: list[str] = []
    for name in ("SMS_ACCESS_KEY_ID", "SMS_ACCESS_KEY_SECRET", "SMS_SIGN_NAME"):
        if not config.get(name):
            found.append(f"{name} is not set.")
    templates = config.get("SMS_TEMPLATES") or {}
    for name in SMS_DEV_TEMPLATES:
        if name not in templates:
            found.append(f"SMS_TEMPLATES has no template code for {name!r}.")
    return found + emulator_problems(config)


def init_app(app: Flask) -> None:
    """`flask check-deploy` checks the SMS settings; a production app does not even start
    with the emulator's key or address."""
    from produce_match import deploy
    from produce_match.config import ConfigError

    deploy.also_check(deploy_problems)
    refused = emulator_problems(app.config)
    if refused:
        raise ConfigError(" ".join(refused))
