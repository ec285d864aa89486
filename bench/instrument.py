"""Per-turn measurements inside the server process: SQL statements, database time, CPU.

Installed by `bench/server.py` only. It wraps `Engine.handle` (one turn) and the engine's
`dispatch` (to name the turn by its button action or by the step that read the text), and
counts statements with SQLAlchemy's `before_cursor_execute` event. The counters live in a
context variable: SQLAlchemy's async greenlets run in the awaiting task's context, so each
statement is charged to the turn that issued it.
"""

from __future__ import annotations

import contextvars
import os
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine as SyncEngine

from dialogs import engine as dialogs_engine


@dataclass
class TurnStats:
    label: str = "?"
    statements: int = 0
    begin_wait: float = 0.0  # BEGIN IMMEDIATE: waiting for SQLite's write lock
    db_time: float = 0.0  # between before_ and after_cursor_execute, BEGIN excluded
    first_statement_at: float | None = None
    started_at: float = field(default_factory=time.perf_counter)
    sql: Counter = field(default_factory=Counter)


_current: contextvars.ContextVar[TurnStats | None] = contextvars.ContextVar(
    "bench_turn", default=None
)
_IN_LIST = re.compile(r"\((?:\?|\$\d+|%\(\w+\)s)(?:, (?:\?|\$\d+|%\(\w+\)s))+\)")
_SPACES = re.compile(r"\s+")
OTHER_THREADS = "other threads (argon2 lanes, ended threads)"


def normalise_sql(statement: str) -> str:
    text = _SPACES.sub(" ", statement).strip()
    text = _IN_LIST.sub("(…)", text)
    return text


def _normalised(counter: Counter) -> Counter:
    merged: Counter = Counter()
    for statement, count in counter.items():
        merged[normalise_sql(statement)] += count
    return merged


class Recorder:
    """Collects one record per turn and one counter of statements per turn label."""

    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []
        self.sql_by_label: dict[str, Counter] = defaultdict(Counter)
        self.outside_turns = 0
        self._cpu_start: dict[str, float] = {}
        self._wall_start = 0.0
        self.recording = False

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.turns.clear()
        self.sql_by_label.clear()
        self.outside_turns = 0
        self._cpu_start = cpu_by_thread_kind()
        self._process_cpu_start = _process_cpu()
        self._wall_start = time.perf_counter()
        self.recording = True

    def stop(self) -> dict[str, Any]:
        self.recording = False
        wall = time.perf_counter() - self._wall_start
        cpu_now = cpu_by_thread_kind()
        cpu = {
            kind: round(cpu_now.get(kind, 0.0) - self._cpu_start.get(kind, 0.0), 3)
            for kind in sorted(set(cpu_now) | set(self._cpu_start))
        }
        process = _process_cpu() - self._process_cpu_start
        # Threads gone by now (argon2's lanes, a finished executor thread) show only in
        # the process's total.
        known = sum(seconds for kind, seconds in cpu.items() if kind != OTHER_THREADS)
        cpu[OTHER_THREADS] = round(process - known, 3)
        return {
            "wall_seconds": round(wall, 3),
            "process_cpu_seconds": round(process, 3),
            "cpu_seconds_by_thread": cpu,
            "turns": self.turns,
            "statements_outside_turns": self.outside_turns,
            "sql_by_label": {
                label: _normalised(counter).most_common(40)
                for label, counter in self.sql_by_label.items()
            },
        }

    # -- hooks -----------------------------------------------------------------------------
    def install(self, sync_engine: SyncEngine) -> None:
        recorder = self

        @event.listens_for(sync_engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            stats = _current.get()
            if stats is None:
                if recorder.recording:
                    recorder.outside_turns += 1
                return
            now = time.perf_counter()
            if stats.first_statement_at is None:
                stats.first_statement_at = now
            stats.statements += 1
            conn.info["bench_t0"] = now
            if recorder.recording:
                stats.sql[statement] += 1  # normalised at the end, off the hot path

        @event.listens_for(sync_engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            stats = _current.get()
            started = conn.info.pop("bench_t0", None)
            if stats is None or started is None:
                return
            spent = time.perf_counter() - started
            if statement.startswith("BEGIN"):
                stats.begin_wait += spent
            else:
                stats.db_time += spent

        original_handle = dialogs_engine.Engine.handle
        original_dispatch = dialogs_engine.dispatch

        async def handle(self, channel, key, incoming):  # noqa: ANN001, ANN202
            stats = TurnStats()
            token = _current.set(stats)
            ok = True
            try:
                return await original_handle(self, channel, key, incoming)
            except Exception:
                ok = False
                raise
            finally:
                _current.reset(token)
                recorder._record(stats, ok)

        async def dispatch(turn, incoming):  # noqa: ANN001, ANN202
            stats = _current.get()
            if stats is not None:
                stats.label = turn_label(turn, incoming)
            return await original_dispatch(turn, incoming)

        dialogs_engine.Engine.handle = handle
        dialogs_engine.dispatch = dispatch

    def _record(self, stats: TurnStats, ok: bool) -> None:
        if not self.recording:
            return
        end = time.perf_counter()
        self.turns.append(
            {
                "label": stats.label,
                "ok": ok,
                "seconds": end - stats.started_at,
                "before_first_statement": (stats.first_statement_at or end) - stats.started_at,
                "begin_wait": stats.begin_wait,
                "db_time": stats.db_time,
                "statements": stats.statements,
            }
        )
        self.sql_by_label[stats.label].update(stats.sql)


def turn_label(turn: Any, incoming: Any) -> str:
    """The button's action (`day`, `confirm`…) or `text@<step>` for typed text."""
    if incoming.button is not None:
        resolved = turn.resolve(incoming.button[:64])
        return f"button:{resolved[0]}" if resolved else "button:stale"
    text = (incoming.text or "").strip()
    return f"text@{turn.state.step}" if text else f"empty@{turn.state.step}"


def cpu_by_thread_kind() -> dict[str, float]:
    """CPU seconds (user + system) of this process's threads, grouped by what they do."""
    names = {thread.native_id: thread for thread in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = defaultdict(float)
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        thread = names.get(int(tid))
        totals[_kind(thread)] += seconds
    return dict(totals)


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _kind(thread: threading.Thread | None) -> str:
    if thread is None:
        return OTHER_THREADS
    if thread is threading.main_thread():
        return "event loop (main thread)"
    target = getattr(thread, "_target", None)
    if getattr(target, "__module__", "").startswith("aiosqlite"):
        return "aiosqlite connections"
    if thread.name.startswith("asyncio_"):
        return "asyncio.to_thread (argon2)"
    return f"other ({thread.name.split('-')[0]})"
