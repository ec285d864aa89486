"""What a turn sends, sent in the background: in order per chat, chats in parallel.

A webhook call must not wait while Telegram says "429, retry after 20 s": the turn is done and
saved, so the handler returns and its replies follow, each chat's in the order they were made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class ChatQueues:
    """One chain of jobs per chat: a job starts when the chat's previous one has ended."""

    def __init__(self) -> None:
        self._tails: dict[int, asyncio.Task] = {}
        self._running: set[asyncio.Task] = set()

    def submit(self, chat_id: int, job: Job) -> asyncio.Task:
        previous = self._tails.get(chat_id)
        task = asyncio.create_task(self._after(previous, job), name=f"telegram-send-{chat_id}")
        self._tails[chat_id] = task
        self._running.add(task)

        def done(task: asyncio.Task) -> None:
            self._running.discard(task)
            if self._tails.get(chat_id) is task:
                del self._tails[chat_id]

        task.add_done_callback(done)
        return task

    @staticmethod
    async def _after(previous: asyncio.Task | None, job: Job) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its failure is its own: this job still runs
        try:
            await job()
        except Exception:
            log.exception("a Telegram reply could not be delivered")

    async def drain(self) -> None:
        """Until every job submitted so far (and any submitted meanwhile) has ended."""
        while self._running:
            await asyncio.wait(set(self._running))

    async def close(self, grace: float) -> None:
        """Let queued replies go out for `grace` seconds, then give up on the rest."""
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            log.warning("%d Telegram replies not delivered at shutdown", len(self._running))
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)
