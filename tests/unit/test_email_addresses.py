"""Reading the e-mail addresses a parent types: separators, repeats, typos, limits."""

from __future__ import annotations

import pytest

from booking.email_addresses import AddressList, read_addresses, valid_address

LONG = "a" * 64 + "@" + ("b" * 60 + ".") * 2 + "c" * 20 + ".fr"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a@x.fr", AddressList(["a@x.fr"])),
        (
            "  a@x.fr ,b@y.fr; c@z.fr  d@w.fr.",
            AddressList(["a@x.fr", "b@y.fr", "c@z.fr", "d@w.fr"]),
        ),
        ("<a@x.fr>, A@X.fr", AddressList(["a@x.fr"])),
        ("a@x.fr, a@x", AddressList(["a@x.fr"], invalid="a@x")),
        ("jean paul@x.fr", AddressList([], invalid="jean")),
        ("é@x.fr", AddressList([], invalid="é@x.fr")),
        (
            "a@x.fr b@x.fr c@x.fr d@x.fr e@x.fr f@x.fr",
            AddressList(
                ["a@x.fr", "b@x.fr", "c@x.fr", "d@x.fr", "e@x.fr", "f@x.fr"], too_many=True
            ),
        ),
        (LONG, AddressList([], invalid=LONG)),  # valid, but longer than Guardian.email
    ],
)
def test_typed_addresses_are_read_in_order_without_repeats(typed: str, expected: AddressList):
    assert read_addresses(typed) == expected


def test_the_mailer_and_the_chat_share_one_rule():
    from bot.notify import email

    assert email._valid_address is valid_address
    assert valid_address("no-reply@localhost", dotless_domain=True)
    assert not valid_address("no-reply@localhost")
