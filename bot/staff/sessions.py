"""Back-office pages: sessions (being built)."""

from __future__ import annotations
