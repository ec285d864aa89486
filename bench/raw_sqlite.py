"""The machine's limit: the booking transaction through the stdlib `sqlite3` module.

The same work as a booking, without Python layers on top: under BEGIN IMMEDIATE, bump the
session's lock, count the places taken, insert the booking (confirmed, or waitlisted when
full) and its event, commit. Run on a copy of the rush's town, with the product's pragmas
(WAL, synchronous=NORMAL, foreign keys), one connection, one transaction after another.
A second figure adds what every chat turn writes: the conversation's state, read and saved.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PLACE_TAKING = ("held", "pending_payment", "confirmed")


@dataclass(frozen=True)
class RawResult:
    transactions: int
    seconds: float
    booked: int
    waitlisted: int

    @property
    def per_second(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _stamp() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def copy_database(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{source}{suffix}")
        if candidate.exists():
            shutil.copyfile(candidate, f"{target}{suffix}")
    return target


def booking_rate(path: Path, session_ids: list[int], *, with_turn: bool = False) -> RawResult:
    """Book every participant of the town into each session in turn, one transaction each."""
    connection = _connect(path)
    people = connection.execute("SELECT id, household_id FROM participants ORDER BY id").fetchall()
    capacities = dict(connection.execute("SELECT id, capacity FROM sessions").fetchall())
    state = json.dumps({"step": "calendar", "buttons": {str(i): ["day", i] for i in range(40)}})
    if with_turn:
        now = _stamp()
        connection.executemany(
            "INSERT INTO conversations (channel, key, state, version, last_message_id,"
            " created_at, updated_at) VALUES ('raw', ?, '{}', 0, 0, ?, ?)",
            [(f"raw-{participant_id}", now, now) for participant_id, _ in people],
        )
    placeholders = ", ".join("?" for _ in PLACE_TAKING)
    booked = waitlisted = 0
    started = time.perf_counter()
    for session_id in session_ids:
        for participant_id, household_id in people:
            now = _stamp()
            connection.execute("BEGIN IMMEDIATE")
            if with_turn:
                conversation_id, version = connection.execute(
                    "SELECT id, version FROM conversations WHERE channel = 'raw' AND key = ?",
                    (f"raw-{participant_id}",),
                ).fetchone()
            connection.execute(
                "UPDATE sessions SET lock_version = lock_version + 1 WHERE id = ?", (session_id,)
            )
            (taken,) = connection.execute(
                f"SELECT count(id) FROM bookings WHERE session_id = ? AND state IN ({placeholders})",
                (session_id, *PLACE_TAKING),
            ).fetchone()
            full = taken >= capacities[session_id]
            cursor = connection.execute(
                "INSERT INTO bookings (session_id, participant_id, household_id, state,"
                " price_cents, coupons, supplement_codes, created_at, confirmed_at)"
                " VALUES (?, ?, ?, ?, 1200, 0, '[]', ?, ?)",
                (
                    session_id,
                    participant_id,
                    household_id,
                    "waitlisted" if full else "confirmed",
                    now,
                    None if full else now,
                ),
            )
            connection.execute(
                "INSERT INTO booking_events (at, kind, booking_id, session_id, household_id,"
                " actor, channel, data) VALUES (?, ?, ?, ?, ?, 'raw', 'cli', '{}')",
                (
                    now,
                    "waitlisted" if full else "confirmed",
                    cursor.lastrowid,
                    session_id,
                    household_id,
                ),
            )
            if with_turn:
                connection.execute(
                    "UPDATE conversations SET state = ?, version = ?, updated_at = ?"
                    " WHERE id = ? AND version = ?",
                    (state, version + 1, now, conversation_id, version),
                )
            connection.execute("COMMIT")
            if full:
                waitlisted += 1
            else:
                booked += 1
    seconds = time.perf_counter() - started
    connection.close()
    return RawResult(booked + waitlisted, seconds, booked, waitlisted)
