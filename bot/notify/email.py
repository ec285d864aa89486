"""E-mail channel: SMTP settings from a URL, MIME building, and a Mailer that classifies failures."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from booking.clock import Clock, SystemClock
from booking.email_addresses import valid_address as _valid_address

log = logging.getLogger(__name__)

DEFAULT_SENDER = "Ribambelle <no-reply@localhost>"
DEFAULT_TIMEOUT = 10.0
_QUERY_KEYS = ("from", "starttls", "timeout")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DOCUMENT = re.compile(r"\s*(?:<!doctype\b|<html\b)", re.IGNORECASE)


class EmailError(Exception):
    """Sending failed; `code` is the SMTP reply code when the server gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryEmailError(EmailError):
    """Worth retrying later: the relay is down, slow, busy (4xx) or refuses our login."""


class PermanentEmailError(EmailError):
    """Retrying the same message cannot help: no valid recipient, or a 5xx about the message."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to relay mail, from `RIBAMBELLE_SMTP_URL`."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    use_tls: bool = False  # implicit TLS (smtps://)
    start_tls: bool | None = None  # None: upgrade when the server offers STARTTLS
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Parse `smtp[s]://[user[:password]@]host[:port][?from=…&starttls=1&timeout=10]`.

        Raises:
            ValueError: naming what is wrong, never echoing the password.
        """
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"SMTP URL: unknown scheme {parts.scheme!r} (expected smtp:// or smtps://)"
            )
        if not parts.hostname:
            raise ValueError("SMTP URL: the host is missing (smtp://host[:port])")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("SMTP URL: no path or fragment allowed after the host")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("SMTP URL: the port must be a number from 1 to 65535") from None
        use_tls = parts.scheme == "smtps"
        query = _parse_query(parts.query)
        start_tls = _parse_flag("starttls", query["starttls"]) if "starttls" in query else None
        if use_tls and start_tls:
            raise ValueError("SMTP URL: smtps:// already uses TLS; drop starttls=1")
        sender = query.get("from", DEFAULT_SENDER)
        if not _valid_address(parseaddr(sender)[1], dotless_domain=True):
            raise ValueError(f"SMTP URL: from={sender!r} is not an e-mail address")
        return cls(
            host=parts.hostname,
            port=port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            sender=sender,
            use_tls=use_tls,
            start_tls=start_tls,
            timeout=_parse_timeout(query.get("timeout")),
        )


def _parse_query(query: str) -> dict[str, str]:
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"SMTP URL: cannot read the query {query!r}") from None
    unknown = sorted(set(values) - set(_QUERY_KEYS))
    if unknown:
        raise ValueError(
            f"SMTP URL: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(_QUERY_KEYS)})"
        )
    repeated = sorted(key for key, found in values.items() if len(found) > 1)
    if repeated:
        raise ValueError(f"SMTP URL: parameter(s) given twice: {', '.join(repeated)}")
    return {key: found[0].strip() for key, found in values.items()}


def _parse_flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"SMTP URL: {name}={value!r} must be 1 or 0")


def _parse_timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"SMTP URL: timeout={value!r} must be a positive number of seconds")
    return seconds


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Email:
    """One e-mail, channel-neutral; `html` is a body already built (and escaped) by the caller.

    `message_id_key` (e.g. the outbox row's key) makes the Message-ID stable across retries, so
    mail clients drop the duplicate when a send succeeded but looked like a failure to us.
    """

    to: list[str]
    subject: str
    text: str
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    reply_to: str | None = None
    message_id_key: str | None = None
    language: str = "fr"


class EmailSender(Protocol):
    async def send(self, email: Email) -> None: ...


def split_addresses(text: str) -> list[str]:
    """Split "a@x.fr; b@y.fr ;;" into addresses: de-duplicated ignoring case, invalid ones dropped."""
    valid, _ = _mailboxes(re.split(r"[;,]", text))
    return [mailbox.addr_spec for mailbox in valid]


def message_id(key: str, domain: str) -> str:
    """A Message-ID derived from a stable key: the same key gives the same header."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_message(email: Email, sender: str, *, now: datetime | None = None) -> EmailMessage:
    """Build the MIME message: text and HTML alternatives, then attachments (multipart/mixed).

    Recipients that are not valid addresses are left out (`Mailer.send` logs them first).
    """
    sender_name, sender_address = parseaddr(sender)
    domain = sender_address.rpartition("@")[2] or "ribambelle"
    recipients, _ = _mailboxes(email.to)
    subject = " ".join(email.subject.split())  # a newline would be a header injection

    message = EmailMessage()
    message["From"] = Address(display_name=sender_name, addr_spec=sender_address)
    message["To"] = recipients
    message["Subject"] = subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = (
        message_id(email.message_id_key, domain)
        if email.message_id_key is not None
        else make_msgid(domain=domain)
    )
    if email.reply_to:
        reply_to, _ = _mailboxes([email.reply_to])
        if reply_to:
            message["Reply-To"] = reply_to
    # RFC 3834: auto-responders (holiday replies) must not answer; Outlook needs its own header.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"

    # Quoted-printable keeps the accents 7-bit safe for any relay, with or without 8BITMIME.
    message.set_content(email.text, cte="quoted-printable")
    if email.html is not None:
        document = html_document(email.html, title=subject, language=email.language)
        message.add_alternative(document, subtype="html", cte="quoted-printable")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    message["Content-Language"] = email.language  # after: set_content clears Content-* headers
    return message


def html_document(body: str, *, title: str, language: str = "fr") -> str:
    """Wrap an HTML fragment in a complete UTF-8 document; a complete document is kept as is."""
    if _DOCUMENT.match(body):
        return body
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


class Mailer:
    """Sends e-mail through an SMTP relay, one connection per message."""

    def __init__(self, settings: SmtpSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()

    async def send(self, email: Email) -> None:
        """Send `email` to its valid recipients; invalid addresses are dropped and logged.

        Raises:
            PermanentEmailError: no valid recipient, every recipient refused with a 5xx, or
                the message refused with a 5xx after DATA.
            TemporaryEmailError: connection refused or lost, timeout, a 4xx reply, or the
                relay refusing our session (greeting, login, sender): a configuration fix
                lets the retry through, so the outbox retries and dead-letters in the end.
        """
        recipients, rejected = _mailboxes(email.to)
        if rejected:
            log.warning("Dropping invalid e-mail address(es) %s", ", ".join(map(repr, rejected)))
        if not recipients:
            raise PermanentEmailError(f"No valid recipient among {email.to!r}")
        settings = self.settings
        message = build_message(
            replace(email, to=[str(mailbox) for mailbox in recipients]),
            settings.sender,
            now=self.clock.now(),
        )
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(settings.sender)[1],
                recipients=[mailbox.addr_spec for mailbox in recipients],
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.use_tls,
                start_tls=settings.start_tls,
                timeout=settings.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise _classify(error, settings) from error
        for address, response in refused.items():
            # Delivered to the others: retrying would send them a duplicate.
            log.warning("Recipient %r refused: %s %s", address, response.code, response.message)
        log.info(
            "Sent %s to %d recipient(s)", message["Message-ID"], len(recipients) - len(refused)
        )


def _classify(error: Exception, settings: SmtpSettings) -> EmailError:
    relay = f"{settings.host}:{settings.port}"
    match error:
        case aiosmtplib.SMTPRecipientsRefused(recipients=refusals):
            codes = [refusal.code for refusal in refusals]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
            if all(code >= 500 for code in codes):
                return PermanentEmailError(f"Every recipient refused ({detail})", codes[0])
            return TemporaryEmailError(f"Recipients deferred ({detail})", min(codes))
        case aiosmtplib.SMTPDataError(code=code, message=text) if code >= 500:
            return PermanentEmailError(f"Message refused by {relay}: {code} {text}", code)
        case (
            aiosmtplib.SMTPAuthenticationError()
            | aiosmtplib.SMTPSenderRefused()
            | aiosmtplib.SMTPHeloError()
            | aiosmtplib.SMTPConnectResponseError()
        ):
            return TemporaryEmailError(
                f"{relay} refused the session: {error.code} {error.message} "
                "(check RIBAMBELLE_SMTP_URL)",
                error.code,
            )
        case aiosmtplib.SMTPResponseException(code=code, message=text):
            kind = PermanentEmailError if code >= 500 else TemporaryEmailError
            return kind(f"{relay} answered {code} {text}", code)
        case TimeoutError():
            return TemporaryEmailError(f"{relay} timed out: {error}")
        case _:
            return TemporaryEmailError(f"Cannot relay through {relay}: {error}")


def _mailboxes(entries: Iterable[str]) -> tuple[list[Address], list[str]]:
    """Parse each entry as one mailbox: (valid ones de-duplicated ignoring case, rejected)."""
    valid: list[Address] = []
    rejected: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        if not entry.strip():
            continue
        name, address = parseaddr(entry)
        if not _valid_address(address):
            rejected.append(entry.strip())
        elif address.lower() not in seen:
            seen.add(address.lower())
            valid.append(Address(display_name=" ".join(name.split()), addr_spec=address))
    return valid, rejected
