"""Back-office pages: rosters (being built)."""

from __future__ import annotations
