"""What counts as an e-mail address: one rule for the addresses parents type and for the
mailer's recipients."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_SEPARATORS = re.compile(r"[;,\s]+")

MAX_ADDRESSES = 5
MAX_ADDRESS_LENGTH = 200  # Guardian.email
MAX_JOINED_LENGTH = 500  # Household.emails holds them joined by ";"


def valid_address(address: str, *, dotless_domain: bool = False) -> bool:
    """A sanity check, not RFC 5322: ASCII local@domain with a dotted domain (typos out)."""
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 and not dotless_domain:
        return False
    if not labels[-1][:1].isalpha() and len(labels) > 1:
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


@dataclass(frozen=True)
class AddressList:
    """Addresses typed by a parent: the valid ones (in order, without repeats ignoring case),
    the first invalid one if any, and whether there are more than a household may keep."""

    addresses: list[str]
    invalid: str | None = None
    too_many: bool = False


def read_addresses(text: str) -> AddressList:
    """Read "a@x.fr, b@y.fr" (commas, semicolons or spaces between addresses).

    Rules: at most MAX_ADDRESSES, MAX_JOINED_LENGTH characters in all; each `valid_address`
    and at most MAX_ADDRESS_LENGTH characters.
    """
    addresses: list[str] = []
    seen: set[str] = set()
    for part in _SEPARATORS.split(text.strip()):
        address = part.strip("<>").rstrip(".")  # "<a@x.fr>", a sentence's full stop
        if not address:
            continue
        if not valid_address(address) or len(address) > MAX_ADDRESS_LENGTH:
            return AddressList(addresses, invalid=part[:254])
        if address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    too_many = len(addresses) > MAX_ADDRESSES or len(";".join(addresses)) > MAX_JOINED_LENGTH
    return AddressList(addresses, too_many=too_many)
