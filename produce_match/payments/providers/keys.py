"""The providers' keys and certificates, read from PEM files that only this service may read.

A key never passes through the environment or a log line: the configuration names a file
(`ALIPAY_APP_PRIVATE_KEY_FILE`, `WECHATPAY_PRIVATE_KEY_FILE`, ...), read when a provider is
built. In production a private key whose file others can read (group or world permissions),
or a file that is missing, is refused by `key_file_problems` (`flask check-deploy` and the
app's start).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any


class KeyFileError(LookupError):
    """A key file that is not configured, missing or unreadable (the message names the
    setting and the path, never the key)."""


def read_key_file(config: Mapping[str, Any], setting: str) -> str:
    """The PEM text of the file the setting `setting` names."""
    path = config.get(setting)
    if not path:
        raise KeyFileError(f"{setting} is not set")
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{setting} ({path}) cannot be read: {exc.__class__.__name__}") from None


def key_file_problems(config: Mapping[str, Any], setting: str, *, private: bool) -> list[str]:
    """Why the file the setting names may not serve in production (none: it may). A private
    key's file must not be readable by the group or others (chmod 600 or 400)."""
    path = config.get(setting)
    if not path:
        return [f"{setting} is not set."]
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return [f"{setting} ({path}) does not exist or cannot be read."]
    if not stat.S_ISREG(mode) or not os.access(path, os.R_OK):
        return [f"{setting} ({path}) is not a readable file."]
    if private and mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            f"{setting} ({path}) can be read by others (mode {stat.S_IMODE(mode):o}): "
            "chmod 600 it, owned by the user the service runs as."
        ]
    return []


def https_problems(config: Mapping[str, Any], setting: str) -> list[str]:
    """Why the URL the setting names may not be a production provider's (none: it may)."""
    url = str(config.get(setting) or "")
    if not url:
        return [f"{setting} is not set."]
    if not url.startswith("https://"):
        return [f"{setting} ({url}) is not an https:// URL: payments must not travel in clear."]
    return []
