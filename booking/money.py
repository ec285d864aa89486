"""Money: integer cents in the domain, formatted by Babel only at the edges."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency


def format_cents(cents: int, locale: str = "fr", currency: str = "EUR") -> str:
    """`1035` → "10,35 €" in French, "€10.35" in English."""
    return format_currency(Decimal(cents) / 100, currency, locale=locale)


def parse_euros(text: str) -> int:
    """ "10,35" or "10.35" or "10" → 1035 cents; raises ValueError on anything else."""
    cleaned = text.strip().replace("€", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as error:
        raise ValueError(f"not an amount in euros: {text!r}") from error
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise ValueError(f"not an amount in euros: {text!r}")
    return int(amount * 100)


def plain_euros(cents: int) -> str:
    """`-1250` → "-12,50": the amount without its currency, as a French form field or an
    accounting spreadsheet reads a number."""
    units, rest = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{units},{rest:02d}"
