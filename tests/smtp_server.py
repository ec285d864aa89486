"""A real SMTP server for tests (aiosmtpd on 127.0.0.1, in the test's own event loop).

Every accepted message is recorded (envelope, raw bytes, parsed `EmailMessage`). On demand the
next transactions fail with the code a test asks for (451: try later, 550: refused) at MAIL,
RCPT or DATA, and chosen recipients are refused, as a real relay would.

    async with smtp_server() as server:
        await Mailer(SmtpSettings.from_url(server.url)).send(email)
        assert server.messages[0]["Subject"] == "…"
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal
from weakref import WeakKeyDictionary

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Stage = Literal["mail", "rcpt", "data"]
WAIT = 5.0  # seconds a test waits for a background send before failing
REPLIES = {
    421: "421 4.3.2 Service shutting down (test)",
    450: "450 4.2.1 Mailbox busy (test)",
    451: "451 4.3.0 Try again later (test)",
    452: "452 4.3.1 Insufficient storage (test)",
    550: "550 5.1.1 Mailbox unavailable (test)",
    552: "552 5.3.4 Message too big (test)",
    553: "553 5.1.3 Address rejected (test)",
    554: "554 5.7.1 Transaction failed (test)",
}


@dataclass(frozen=True)
class Received:
    """One accepted transaction."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage


@dataclass(frozen=True)
class _Failure:
    code: int
    stage: Stage

    @property
    def reply(self) -> str:
        return REPLIES.get(self.code, f"{self.code} {self.code // 100}.0.0 Failure (test)")


class RecordingHandler:
    """aiosmtpd hooks: record what arrives, fail what the test planned."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.planned: deque[_Failure] = deque()
        self.refused: dict[str, int] = {}
        self.arrived = asyncio.Condition()
        self._current: WeakKeyDictionary[Envelope, _Failure] = WeakKeyDictionary()

    async def handle_MAIL(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        # A planned failure belongs to the whole transaction that starts here.
        failure = self.planned.popleft() if self.planned else None
        if failure is not None:
            if failure.stage == "mail":
                return failure.reply
            self._current[envelope] = failure
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        failure = self._current.get(envelope)
        if failure is not None and failure.stage == "rcpt":
            return failure.reply
        code = self.refused.get(address.lower())
        if code is not None:
            return _Failure(code, "rcpt").reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self._current.pop(envelope, None)
        if failure is not None:
            return failure.reply
        data = envelope.original_content or b""
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), data, message)
        )
        async with self.arrived:
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """The test's view of the running server."""

    def __init__(self, handler: RecordingHandler, host: str, port: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """An smtp:// URL for `SmtpSettings.from_url` (short timeout: tests stay fast)."""
        return f"smtp://{self.host}:{self.port}?timeout=5"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def messages(self) -> list[EmailMessage]:
        return [received.message for received in self.handler.received]

    def fail_next(self, n: int = 1, code: int = 451, *, stage: Stage = "data") -> None:
        """Make the next `n` transactions fail with `code` at `stage` (every RCPT for "rcpt")."""
        if not 400 <= code < 600:
            raise ValueError(f"{code} is not a failure code (4xx or 5xx)")
        self.handler.planned.extend(_Failure(code, stage) for _ in range(n))

    def refuse(self, address: str, code: int = 550) -> None:
        """Refuse this recipient at RCPT in every transaction from now on."""
        self.handler.refused[address.lower()] = code

    async def wait_for(self, count: int) -> list[EmailMessage]:
        """Wait up to `WAIT` seconds for `count` messages (sent in the background)."""
        arrived = self.handler.arrived
        async with asyncio.timeout(WAIT), arrived:
            await arrived.wait_for(lambda: len(self.handler.received) >= count)
        return self.messages


@asynccontextmanager
async def smtp_server(*, credentials: Mapping[str, str] | None = None) -> AsyncIterator[SmtpServer]:
    """Run an SMTP server on a free port of 127.0.0.1 for the duration of the block.

    With `credentials` (login → password) it requires AUTH, over plain text: tests only.
    """
    loop = asyncio.get_running_loop()
    handler = RecordingHandler()
    options: dict[str, Any] = {}
    if credentials is not None:
        options = {
            "auth_required": True,
            "auth_require_tls": False,
            "authenticator": _authenticator(dict(credentials)),
        }

    def protocol() -> SMTP:
        with warnings.catch_warnings():
            # AUTH without TLS is what we want here: a loopback server that lives for one test.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return SMTP(
                handler,
                hostname="smtp.ribambelle.test",  # spares a reverse DNS lookup (socket.getfqdn)
                enable_SMTPUTF8=True,
                loop=loop,
                **options,
            )

    server = await loop.create_server(protocol, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SmtpServer(handler, "127.0.0.1", port)
    finally:
        server.close()
        await server.wait_closed()


def _authenticator(credentials: dict[str, str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if credentials.get(login) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate
