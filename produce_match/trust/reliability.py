"""Every organisation's reliability, computed from its orders (never stored)."""

from __future__ import annotations
