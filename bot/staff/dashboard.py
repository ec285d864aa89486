"""Back-office pages: dashboard (being built)."""

from __future__ import annotations
