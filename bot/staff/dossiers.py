"""Back-office pages: dossiers (being built)."""

from __future__ import annotations
