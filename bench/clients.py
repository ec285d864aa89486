"""The parents: one booking journey each, over the web chat's WebSocket, all at once.

A turn is one message sent; it ends with the first reply that carries buttons or a
calendar (every step of the journey ends that way: the step's own message comes last) or
with an error frame. Its latency is measured from the send to that reply.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp

TURN_TIMEOUT = 300.0
LOGIN_LABEL = "password (argon2)"
RETRIES = 3


class JourneyFailed(Exception):
    pass


@dataclass
class TurnRecord:
    label: str
    seconds: float
    ok: bool
    error: str | None = None


@dataclass
class Outcome:
    """What one parent got: booked, waitlisted (with the position), or failed (why)."""

    login: str
    result: str = "unfinished"
    detail: str = ""
    position: int | None = None
    turns: list[TurnRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    base_url: str
    password: str
    activity_name: str
    popular_day: date
    think: float = 0.0  # mean seconds a parent takes before each tap (0: none)


def _buttons(message: dict[str, Any]) -> list[dict[str, str]]:
    return [button for row in message.get("buttons") or [] for button in row]


def _find(messages: list[dict[str, Any]], predicate: Any, what: str) -> dict[str, str]:
    for message in reversed(messages):
        for button in _buttons(message):
            if predicate(button["label"]):
                return button
    texts = " | ".join(message.get("text", "")[:120] for message in messages)
    raise JourneyFailed(f"no button {what!r} in: {texts}")


class Conversation:
    """One parent's web chat: the first turn over HTTP, the others over the WebSocket."""

    def __init__(self, http: aiohttp.ClientSession, plan: Plan, outcome: Outcome) -> None:
        self.http = http
        self.plan = plan
        self.outcome = outcome
        self.token: str | None = None
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.frames: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    async def _read(self) -> None:
        """Read every frame as a browser does, so that the server's pings get their pongs
        while the parent waits (aiohttp answers pings only while someone reads)."""
        assert self.socket is not None
        while True:
            frame = await self.socket.receive()
            await self.frames.put(frame)
            if frame.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.ERROR,
            ):
                return

    async def open(self) -> list[dict[str, Any]]:
        started = time.perf_counter()
        async with self.http.post(
            self.plan.base_url + "/api/chat/turn", json={"conversation": None, "text": ""}
        ) as response:
            body = await response.json()
        elapsed = time.perf_counter() - started
        ok = response.status == 200
        self.outcome.turns.append(TurnRecord("start", elapsed, ok, None if ok else str(body)))
        if not ok:
            raise JourneyFailed(f"start: HTTP {response.status} {body}")
        self.token = body["conversation"]
        self.socket = await self.http.ws_connect(
            self.plan.base_url + "/api/chat/ws",
            params={"conversation": self.token},
            heartbeat=None,
            max_msg_size=0,
        )
        self._reader = asyncio.create_task(self._read())
        return body["messages"]

    async def turn(self, label: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one message; retry after an error frame, as a parent would tap again."""
        for attempt in range(RETRIES):
            messages, error, elapsed = await self._once(body)
            self.outcome.turns.append(TurnRecord(label, elapsed, error is None, error))
            if error is None:
                return messages
            if attempt + 1 < RETRIES:
                await asyncio.sleep(0.5)
        raise JourneyFailed(f"{label}: {error}")

    async def _once(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, float]:
        assert self.socket is not None
        if self.plan.think:
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.plan.think)
        started = time.perf_counter()
        await self.socket.send_str(json.dumps(body))
        messages: list[dict[str, Any]] = []
        deadline = started + TURN_TIMEOUT
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return messages, "timeout", time.perf_counter() - started
            try:
                frame = await asyncio.wait_for(self.frames.get(), remaining)
            except TimeoutError:
                return messages, "timeout", time.perf_counter() - started
            if frame.type is not aiohttp.WSMsgType.TEXT:
                return messages, f"socket {frame.type.name}", time.perf_counter() - started
            message = json.loads(frame.data)
            if "error" in message:
                return messages, message["error"], time.perf_counter() - started
            messages.append(message)
            if message.get("buttons") or message.get("calendar"):
                return messages, None, time.perf_counter() - started

    async def press(self, label: str, button: dict[str, str]) -> list[dict[str, Any]]:
        return await self.turn(label, {"button": button["payload"]})

    async def say(self, label: str, text: str) -> list[dict[str, Any]]:
        return await self.turn(label, {"text": text})

    async def close(self) -> None:
        if self.socket is not None and not self.socket.closed:
            await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


def _day_cell(messages: list[dict[str, Any]], day: date) -> dict[str, Any]:
    for message in reversed(messages):
        calendar = message.get("calendar")
        if calendar:
            for week in calendar["weeks"]:
                for cell in week:
                    if cell is not None and cell["date"] == day.isoformat():
                        return cell
    raise JourneyFailed(f"no calendar with {day}")


async def log_in(chat: Conversation, login: str) -> list[dict[str, Any]]:
    """Start, "Se connecter", the login, the password: the menu's messages."""
    messages = await chat.open()
    messages = await chat.press("login", _find(messages, lambda x: x == "Se connecter", "login"))
    await chat.say("login id", login)
    return await chat.say(LOGIN_LABEL, chat.plan.password)


async def book(chat: Conversation, messages: list[dict[str, Any]]) -> None:
    """Réserver, (child,) activity, tap the popular day, recap and confirm; or the waitlist."""
    plan, outcome = chat.plan, chat.outcome
    messages = await chat.press("book", _find(messages, lambda x: x == "Réserver", "book"))
    if any(m.get("text", "").startswith("Pour qui") for m in messages):
        child = _find(messages, lambda x: x.endswith(" ans)") or x.endswith(" an)"), "child")
        messages = await chat.press("child", child)
    activity = _find(messages, lambda x: x == plan.activity_name, plan.activity_name)
    messages = await chat.press("activity", activity)
    cell = _day_cell(messages, plan.popular_day)
    if not cell.get("payload"):
        raise JourneyFailed(f"the day is not tappable: {cell['state']}")
    messages = await chat.press("day", {"payload": cell["payload"]})
    waitlist = [
        button
        for message in messages[-1:]
        for button in _buttons(message)
        if button["label"].startswith("Liste d'attente")
    ]
    if waitlist:
        messages = await chat.press("waitlist", waitlist[0])
        text = " ".join(m.get("text", "") for m in messages)
        outcome.result = "waitlisted" if "liste d'attente" in text else "failed"
        outcome.position = _position(text)
        outcome.detail = text[:200]
        return
    state = _day_cell(messages, plan.popular_day)["state"]
    if state != "in_basket":
        raise JourneyFailed(f"after the tap the day is {state}")
    recap = _find(messages, lambda x: x.startswith("Récapitulatif"), "recap")
    messages = await chat.press("recap", recap)
    messages = await chat.press("confirm", _find(messages, lambda x: x == "Confirmer", "confirm"))
    text = " ".join(m.get("text", "") for m in messages)
    outcome.result = "booked" if "confirmé" in text else "refused at confirmation"
    outcome.detail = text[:200]


async def _guarded(chat: Conversation, step: Any) -> Any:
    """Run a part of the journey; a failure ends it (recorded) and closes the socket."""
    try:
        return await step
    except JourneyFailed as failure:
        chat.outcome.result, chat.outcome.detail = "failed", str(failure)[:300]
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        chat.outcome.result = "failed"
        chat.outcome.detail = f"{type(error).__name__}: {error}"[:300]
    await chat.close()
    return None


async def journey(chat: Conversation, login: str, gate: asyncio.Event) -> Outcome:
    """The whole journey, from the gate's opening."""
    await gate.wait()
    messages = await _guarded(chat, log_in(chat, login))
    if messages is not None:
        await _guarded(chat, book(chat, messages))
        await chat.close()
    return chat.outcome


def _position(text: str) -> int | None:
    marker = "position "
    index = text.find(marker)
    if index < 0:
        return None
    digits = ""
    for char in text[index + len(marker) :]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None


@dataclass
class Phase:
    """Turns of one phase of the rush, and its wall time."""

    name: str
    wall: float
    outcomes: list[Outcome]


async def rush(
    plan: Plan,
    logins: list[str],
    *,
    logged_in_first: int = 0,
    on_opening: Callable[[], Awaitable[object]] | None = None,
) -> list[Phase]:
    """Every parent at once, from start to confirmation.

    With `logged_in_first`, parents first log in, that many at a time, and wait for the
    opening; then they all book at once (the booking phase is timed apart, and
    `on_opening` is awaited just before).
    """
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        chats = [Conversation(http, plan, Outcome(login)) for login in logins]
        if not logged_in_first:
            gate = asyncio.Event()
            tasks = [asyncio.create_task(journey(c, c.outcome.login, gate)) for c in chats]
            await asyncio.sleep(0.2)  # every task is waiting at the gate
            started = time.perf_counter()
            gate.set()
            outcomes = await asyncio.gather(*tasks)
            return [Phase("journey", time.perf_counter() - started, list(outcomes))]
        slots = asyncio.Semaphore(logged_in_first)

        async def login_only(chat: Conversation) -> list[dict[str, Any]] | None:
            async with slots:
                return await _guarded(chat, log_in(chat, chat.outcome.login))

        started = time.perf_counter()
        menus = await asyncio.gather(*(login_only(chat) for chat in chats))
        login_wall = time.perf_counter() - started
        login_turns = [
            Outcome(c.outcome.login, c.outcome.result, turns=c.outcome.turns) for c in chats
        ]
        for chat in chats:
            chat.outcome.turns = []
        gate = asyncio.Event()

        async def booking_only(chat: Conversation, menu: list[dict[str, Any]]) -> Outcome:
            await gate.wait()
            await _guarded(chat, book(chat, menu))
            await chat.close()
            return chat.outcome

        tasks = [
            asyncio.create_task(booking_only(chat, menu))
            for chat, menu in zip(chats, menus, strict=True)
            if menu is not None
        ]
        await asyncio.sleep(0.2)
        if on_opening is not None:
            await on_opening()
        started = time.perf_counter()
        gate.set()
        outcomes = await asyncio.gather(*tasks)
        booking_wall = time.perf_counter() - started
        failed_logins = [
            chat.outcome for chat, menu in zip(chats, menus, strict=True) if menu is None
        ]
        return [
            Phase("login", login_wall, login_turns),
            Phase("booking", booking_wall, list(outcomes) + failed_logins),
        ]
