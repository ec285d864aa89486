"""Back-office pages: attendance (being built)."""

from __future__ import annotations
