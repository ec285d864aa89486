"""The e-mail channel through aiosmtplib against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from booking.clock import FrozenClock
from bot.notify.email import (
    Attachment,
    Email,
    Mailer,
    PermanentEmailError,
    SmtpSettings,
    TemporaryEmailError,
    split_addresses,
)
from tests.conftest import PINNED_NOW
from tests.smtp_server import SmtpServer, smtp_server

SUBJECT = "Réservation confirmée — Léa"
TEXT = "Bonjour,\n\nLa réservation de Léa au centre de loisirs est confirmée : mercredi 3 mars.\n"
HTML = "<p>Bonjour,</p>\n<p>La réservation de <strong>Léa</strong> est confirmée : mercredi 3 mars.</p>"
RECEIPT = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n\x00\xff\x10%%EOF\n"


def confirmation(**changes: object) -> Email:
    fields: dict[str, object] = {
        "to": ["parent@exemple.fr"],
        "subject": SUBJECT,
        "text": TEXT,
        "html": HTML,
    }
    fields.update(changes)
    return Email(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
def mailer(smtp: SmtpServer, clock: FrozenClock) -> Mailer:
    return Mailer(SmtpSettings.from_url(smtp.url), clock=clock)


def body(message: EmailMessage, content_type: str) -> str:
    """The decoded body part of this type, with the wire's CRLF line ends read back as LF."""
    found = [
        p
        for p in message.walk()
        if p.get_content_type() == content_type and p.get_content_disposition() != "attachment"
    ]
    assert len(found) == 1, f"expected one {content_type} body part, found {len(found)}"
    return found[0].get_content().replace("\r\n", "\n")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Sending


async def test_a_confirmation_arrives_with_plain_text_and_html_alternatives(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation())

    (message,) = smtp.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == SUBJECT
    assert body(message, "text/plain") == TEXT
    html = body(message, "text/html")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in html and '<meta charset="utf-8">' in html
    assert "<title>Réservation confirmée — Léa</title>" in html
    assert HTML in html


async def test_the_raw_message_stays_seven_bit_with_encoded_accents(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation())

    raw = smtp.received[0].data
    assert raw.isascii()
    assert b"=?utf-8?" in raw  # RFC 2047 subject
    assert b"Content-Transfer-Encoding: quoted-printable" in raw


async def test_the_html_title_is_escaped(smtp: SmtpServer, mailer: Mailer) -> None:
    await mailer.send(confirmation(subject='Judo <débutants> & "loisirs"'))

    html = body(smtp.messages[0], "text/html")
    assert "<title>Judo &lt;débutants&gt; &amp; &quot;loisirs&quot;</title>" in html


async def test_a_complete_html_document_is_sent_as_given(smtp: SmtpServer, mailer: Mailer) -> None:
    document = '<!doctype html><html lang="fr"><body><p>Déjà complet</p></body></html>'
    await mailer.send(confirmation(html=document))

    assert body(smtp.messages[0], "text/html").strip() == document


async def test_a_text_only_email_is_a_single_plain_part(smtp: SmtpServer, mailer: Mailer) -> None:
    await mailer.send(confirmation(html=None))

    (message,) = smtp.messages
    assert message.get_content_type() == "text/plain"
    assert body(message, "text/plain") == TEXT


async def test_attachments_arrive_byte_for_byte_after_the_alternatives(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    receipt = Attachment("reçu-Léa-mars.pdf", RECEIPT, "application/pdf")
    note = Attachment("à lire.txt", "Prévoir une gourde.\n".encode(), "text/plain")
    await mailer.send(confirmation(attachments=[receipt, note]))

    (message,) = smtp.messages
    assert message.get_content_type() == "multipart/mixed"
    alternatives, *attachments = message.iter_parts()
    assert alternatives.get_content_type() == "multipart/alternative"
    assert [a.get_filename() for a in attachments] == ["reçu-Léa-mars.pdf", "à lire.txt"]
    assert [a.get_content_type() for a in attachments] == ["application/pdf", "text/plain"]
    assert attachments[0].get_content() == RECEIPT
    assert attachments[1].get_payload(decode=True) == "Prévoir une gourde.\n".encode()
    assert body(message, "text/plain") == TEXT


async def test_headers_say_who_when_and_that_no_one_should_auto_reply(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation(reply_to="Accueil de loisirs <alsh@mairie.exemple.fr>"))

    (received,) = smtp.received
    message = received.message
    assert received.mail_from == "no-reply@localhost"
    assert message["From"] == "Ribambelle <no-reply@localhost>"
    assert message["Reply-To"] == "Accueil de loisirs <alsh@mairie.exemple.fr>"
    assert message["Date"] == format_datetime(PINNED_NOW)
    assert parsedate_to_datetime(message["Date"]) == PINNED_NOW
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "fr"


async def test_the_from_address_comes_from_the_url(smtp: SmtpServer, clock: FrozenClock) -> None:
    url = f"{smtp.url}&from=Mairie%20de%20Saint-%C3%89tienne%20%3Cenfance%40ville.fr%3E"
    await Mailer(SmtpSettings.from_url(url), clock=clock).send(confirmation())

    (received,) = smtp.received
    assert received.mail_from == "enfance@ville.fr"
    assert received.message["From"] == "Mairie de Saint-Étienne <enfance@ville.fr>"


async def test_a_newline_in_the_subject_cannot_inject_a_header(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation(subject="Rappel\r\nBcc: victime@exemple.fr"))

    (received,) = smtp.received
    assert received.message["Subject"] == "Rappel Bcc: victime@exemple.fr"
    assert received.message["Bcc"] is None
    assert received.rcpt_tos == ["parent@exemple.fr"]


async def test_a_send_in_the_background_can_be_awaited_on_the_server(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    task = asyncio.create_task(mailer.send(confirmation()))

    (message,) = await smtp.wait_for(1)
    assert message["Subject"] == SUBJECT
    await task


# Recipients


async def test_a_household_with_several_addresses_gets_one_message_for_all(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation(to=split_addresses("a@x.fr; b@y.fr")))

    (received,) = smtp.received
    assert received.rcpt_tos == ["a@x.fr", "b@y.fr"]
    assert received.message["To"] == "a@x.fr, b@y.fr"


async def test_display_names_with_accents_are_kept_in_the_to_header(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation(to=['"Martin, Hélène" <helene@x.fr>', "Léo <leo@y.fr>"]))

    (received,) = smtp.received
    assert received.rcpt_tos == ["helene@x.fr", "leo@y.fr"]
    addresses = received.message["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in addresses] == [
        ("Martin, Hélène", "helene@x.fr"),
        ("Léo", "leo@y.fr"),
    ]


async def test_invalid_addresses_are_dropped_and_logged(
    smtp: SmtpServer, mailer: Mailer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "bot.notify.email")
    await mailer.send(confirmation(to=["a@x.fr", "pas-une-adresse", "b@y", "A@X.FR", "c@z.fr"]))

    assert smtp.received[0].rcpt_tos == ["a@x.fr", "c@z.fr"]
    assert "'pas-une-adresse'" in caplog.text and "'b@y'" in caplog.text


async def test_no_valid_recipient_is_a_permanent_error(smtp: SmtpServer, mailer: Mailer) -> None:
    with pytest.raises(PermanentEmailError, match="No valid recipient"):
        await mailer.send(confirmation(to=["", "nobody", "parent@@exemple.fr"]))
    assert smtp.received == []


async def test_one_refused_recipient_does_not_stop_the_others(
    smtp: SmtpServer, mailer: Mailer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "bot.notify.email")
    smtp.refuse("b@y.fr", 550)

    await mailer.send(confirmation(to=["a@x.fr", "b@y.fr"]))

    assert smtp.received[0].rcpt_tos == ["a@x.fr"]
    assert "'b@y.fr' refused: 550" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@x.fr; b@y.fr ;;", ["a@x.fr", "b@y.fr"]),
        ("  A@x.fr;a@X.fr ; b@y.fr;A@X.FR", ["A@x.fr", "b@y.fr"]),
        ("a@x.fr, b@y.fr", ["a@x.fr", "b@y.fr"]),
        (
            "jean.dupont+ecole@orange.fr;marie@laposte.net",
            ["jean.dupont+ecole@orange.fr", "marie@laposte.net"],
        ),
        ("oops; a@x.fr; @x.fr; a@; a@x; a b@x.fr; a..b@x.fr; a@-x.fr; a@x.123", ["a@x.fr"]),
        ("", []),
        (" ; ; ", []),
    ],
)
async def test_split_addresses(text: str, expected: list[str]) -> None:
    assert split_addresses(text) == expected


# Message-ID


async def test_the_same_key_gives_the_same_message_id_on_a_retry(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    await mailer.send(confirmation(message_id_key="outbox:42"))
    await mailer.send(confirmation(message_id_key="outbox:42"))
    await mailer.send(confirmation(message_id_key="outbox:43"))
    await mailer.send(confirmation())
    await mailer.send(confirmation())

    ids = [message["Message-ID"] for message in smtp.messages]
    assert ids[0] == ids[1]
    assert len(set(ids)) == 4
    assert all(i.startswith("<") and i.endswith("@localhost>") for i in ids)
    assert len(ids[0]) == len("<@localhost>") + 32


# Failures


async def test_a_451_after_data_is_temporary_and_the_retry_goes_through(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    smtp.fail_next(1, 451)

    with pytest.raises(TemporaryEmailError) as failure:
        await mailer.send(confirmation(message_id_key="outbox:7"))
    assert failure.value.code == 451
    assert smtp.received == []

    await mailer.send(confirmation(message_id_key="outbox:7"))
    assert len(smtp.received) == 1


async def test_a_550_after_data_is_permanent(smtp: SmtpServer, mailer: Mailer) -> None:
    smtp.fail_next(1, 550)

    with pytest.raises(PermanentEmailError) as failure:
        await mailer.send(confirmation())
    assert failure.value.code == 550
    assert smtp.received == []


async def test_every_recipient_refused_with_550_is_permanent(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    smtp.fail_next(1, 550, stage="rcpt")

    with pytest.raises(PermanentEmailError, match="Every recipient refused") as failure:
        await mailer.send(confirmation(to=["a@x.fr", "b@y.fr"]))
    assert failure.value.code == 550


async def test_recipients_deferred_with_451_is_temporary(smtp: SmtpServer, mailer: Mailer) -> None:
    smtp.fail_next(1, 451, stage="rcpt")

    with pytest.raises(TemporaryEmailError, match="deferred") as failure:
        await mailer.send(confirmation(to=["a@x.fr", "b@y.fr"]))
    assert failure.value.code == 451


@pytest.mark.parametrize("code", [451, 553])
async def test_a_refused_sender_is_temporary_because_the_configuration_is_at_fault(
    smtp: SmtpServer, mailer: Mailer, code: int
) -> None:
    smtp.fail_next(1, code, stage="mail")

    with pytest.raises(TemporaryEmailError, match="RIBAMBELLE_SMTP_URL") as failure:
        await mailer.send(confirmation())
    assert failure.value.code == code


async def test_failures_apply_to_the_next_n_transactions_only(
    smtp: SmtpServer, mailer: Mailer
) -> None:
    smtp.fail_next(2, 451)

    for _ in range(2):
        with pytest.raises(TemporaryEmailError):
            await mailer.send(confirmation())
    await mailer.send(confirmation())
    assert len(smtp.received) == 1


async def test_a_server_that_is_down_is_a_temporary_error_at_once(clock: FrozenClock) -> None:
    mailer = Mailer(
        SmtpSettings.from_url(f"smtp://127.0.0.1:{closed_port()}?timeout=1"), clock=clock
    )

    started = time.monotonic()
    with pytest.raises(TemporaryEmailError, match="Cannot relay"):
        await mailer.send(confirmation())
    assert time.monotonic() - started < 1


async def test_a_server_that_never_answers_times_out_as_a_temporary_error(
    clock: FrozenClock,
) -> None:
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    mailer = Mailer(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}?timeout=0.2"), clock=clock)
    try:
        started = time.monotonic()
        with pytest.raises(TemporaryEmailError, match="timed out"):
            await mailer.send(confirmation())
        assert time.monotonic() - started < 2
    finally:
        silent.close()


# Login


async def test_login_uses_the_percent_decoded_credentials(clock: FrozenClock) -> None:
    async with smtp_server(credentials={"alsh@ville.fr": "p@ss:w/rd é"}) as server:
        url = f"smtp://alsh%40ville.fr:p%40ss%3Aw%2Frd%20%C3%A9@{server.host}:{server.port}"
        await Mailer(SmtpSettings.from_url(url), clock=clock).send(confirmation())

        assert len(server.messages) == 1


async def test_a_wrong_password_is_temporary_so_a_fixed_configuration_delivers(
    clock: FrozenClock,
) -> None:
    async with smtp_server(credentials={"alsh": "secret"}) as server:
        url = f"smtp://alsh:wrong@{server.host}:{server.port}"
        with pytest.raises(TemporaryEmailError, match="refused the session") as failure:
            await Mailer(SmtpSettings.from_url(url), clock=clock).send(confirmation())
        assert failure.value.code == 535
        assert "wrong" not in str(failure.value)


# Settings from the URL


def test_a_bare_url_uses_port_25_and_the_default_sender() -> None:
    settings = SmtpSettings.from_url("smtp://localhost")

    assert settings == SmtpSettings(host="localhost")
    assert (settings.port, settings.sender, settings.timeout) == (
        25,
        "Ribambelle <no-reply@localhost>",
        10.0,
    )
    assert (settings.use_tls, settings.start_tls, settings.username) == (False, None, None)


def test_user_and_password_are_percent_decoded_and_the_password_is_not_shown() -> None:
    settings = SmtpSettings.from_url("smtp://alsh%40ville.fr:p%40ss%3Aword@relay.ville.fr:587")

    assert (settings.username, settings.password) == ("alsh@ville.fr", "p@ss:word")
    assert (settings.host, settings.port) == ("relay.ville.fr", 587)
    assert "p@ss" not in repr(settings)


def test_smtps_uses_implicit_tls_on_port_465() -> None:
    settings = SmtpSettings.from_url("smtps://user:pw@smtp.exemple.fr")

    assert (settings.use_tls, settings.start_tls, settings.port) == (True, None, 465)


def test_starttls_and_timeout_and_from_come_from_the_query() -> None:
    settings = SmtpSettings.from_url(
        "smtp://smtp.exemple.fr:587?starttls=1&timeout=2.5&from=Enfance+%3Cenfance%40ville.fr%3E"
    )

    assert (settings.start_tls, settings.timeout) == (True, 2.5)
    assert settings.sender == "Enfance <enfance@ville.fr>"
    assert SmtpSettings.from_url("smtp://h?starttls=0").start_tls is False


def test_an_ipv6_host_is_accepted() -> None:
    assert SmtpSettings.from_url("smtp://[::1]:2525").host == "::1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://smtp.exemple.fr", "unknown scheme 'http'"),
        ("smtp.exemple.fr:25", "unknown scheme"),
        ("", "unknown scheme"),
        ("smtp://", "host is missing"),
        ("smtp://user:pw@", "host is missing"),
        ("smtp://h:notaport", "port must be a number"),
        ("smtp://h:70000", "port must be a number"),
        ("smtp://h/path", "no path"),
        ("smtp://h?form=a%40b.fr", "unknown parameter.*form"),
        ("smtp://h?timeout=1&timeout=2", "given twice: timeout"),
        ("smtp://h?timeout=0", "timeout='0' must be a positive"),
        ("smtp://h?timeout=soon", "must be a positive"),
        ("smtp://h?timeout=nan", "must be a positive"),
        ("smtp://h?starttls=maybe", "starttls='maybe' must be 1 or 0"),
        ("smtps://h?starttls=1", "already uses TLS"),
        ("smtp://h?from=ribambelle", "not an e-mail address"),
    ],
)
def test_a_bad_url_is_a_value_error_saying_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmtpSettings.from_url(url)


def test_a_bad_url_never_echoes_the_password() -> None:
    with pytest.raises(ValueError) as failure:
        SmtpSettings.from_url("smtp://user:s3cret@h:bad")
    assert "s3cret" not in str(failure.value)
