"""Back-office pages: invoices (being built)."""

from __future__ import annotations
