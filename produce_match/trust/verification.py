"""Identity claims: submitting one, and an administrator or county official deciding it."""

from __future__ import annotations
