"""Back-office pages: messages (being built)."""

from __future__ import annotations
