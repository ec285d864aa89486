"""Back-office pages: households (being built)."""

from __future__ import annotations
