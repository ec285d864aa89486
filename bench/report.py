"""Figures of a rush: percentiles, tables, and the sections of docs/BENCHMARKS.md."""

from __future__ import annotations

import math
import os
import platform
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.clients import LOGIN_LABEL, Phase

LABEL_ORDER = [
    "start",
    "login",
    "login id",
    LOGIN_LABEL,
    "book",
    "child",
    "activity",
    "day",
    "recap",
    "confirm",
    "waitlist",
]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float) -> str:
    return (
        "–"
        if math.isnan(value)
        else f"{value * 1000:.0f}"
        if value >= 0.01
        else f"{value * 1000:.1f}"
    )


def latency_row(name: str, values: Sequence[float]) -> str:
    return (
        f"| {name} | {len(values)} | {ms(percentile(values, 50))} | {ms(percentile(values, 95))} "
        f"| {ms(percentile(values, 99))} | {ms(max(values) if values else math.nan)} |"
    )


def client_figures(phases: list[Phase]) -> dict[str, Any]:
    """Figures of the main phase (the whole journey, or the booking after a login phase)."""
    main = phases[-1]
    logins_phase = phases[0] if len(phases) > 1 else None
    main_turns = [turn for outcome in main.outcomes for turn in outcome.turns]
    every = [turn for phase in phases for outcome in phase.outcomes for turn in outcome.turns]
    ok = [turn for turn in main_turns if turn.ok]
    by_label: dict[str, list[float]] = defaultdict(list)
    for turn in every:
        if turn.ok:
            by_label[turn.label].append(turn.seconds)
    figures = {
        "phase": main.name,
        "wall": main.wall,
        "turns": len(ok),
        "turns_per_second": len(ok) / main.wall if main.wall else 0.0,
        "all": [turn.seconds for turn in ok],
        "others": [turn.seconds for turn in ok if turn.label != LOGIN_LABEL],
        "logins": by_label.get(LOGIN_LABEL, []),
        "by_label": by_label,
        "errors": Counter(turn.error for turn in every if not turn.ok),
        "results": Counter(outcome.result for outcome in main.outcomes),
        "failures": Counter(
            re.sub(r"\d+", "N", outcome.detail)[:120]
            for outcome in main.outcomes
            if outcome.result == "failed"
        ),
        "positions": sorted(o.position for o in main.outcomes if o.position is not None),
        "login_phase": None,
    }
    if logins_phase is not None:
        turns = [t for o in logins_phase.outcomes for t in o.turns if t.ok]
        figures["login_phase"] = {
            "wall": logins_phase.wall,
            "turns": len(turns),
            "logged_in": sum(1 for o in logins_phase.outcomes if o.result != "failed"),
        }
    return figures


def server_figures(stats: dict[str, Any]) -> dict[str, Any]:
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for turn in stats.get("turns", []):
        by_label[turn["label"]].append(turn)
    return {"by_label": by_label, "wall": stats.get("wall_seconds", 0.0)}


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def machine() -> dict[str, str]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import aiohttp
    import sqlalchemy

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": str(cores),
        "cpu": model or platform.processor() or "?",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "aiohttp": aiohttp.__version__,
        "os": f"{platform.system()} {platform.release()}",
    }


def markdown(run: dict[str, Any]) -> str:
    """The rush section: the command, the machine, and every figure of the run."""
    c = run["client"]
    s = server_figures(run["server"])
    db = run["database_check"]
    lines = [
        f"Command: `{run['command']}`",
        "",
        f"Machine: {run['machine']['cores']} cores ({run['machine']['cpu']}), "
        f"{run['machine']['os']}; Python {run['machine']['python']}, SQLite "
        f"{run['machine']['sqlite']}, SQLAlchemy {run['machine']['sqlalchemy']}, aiohttp "
        f"{run['machine']['aiohttp']}. Clients and server share the machine. "
        f"Database: {run['database']}. Run on {run['date']}.",
        "",
        f"Town: {run['parents']} households (a guardian, a child of 5 to 10 with a complete "
        f"dossier), the demo catalogue ({run['town']['activities']} activities, "
        f"{run['town']['sessions']} sessions) with one popular Wednesday "
        f"({run['town']['popular_day']}, {run['places']} places, waitlist on). "
        + (
            f"Each parent takes {run['think']:g} s (±50 %) before each tap."
            if run.get("think")
            else "No parent waits between taps: a new turn leaves as soon as the last reply "
            "arrives, so by Little's law the mean latency is about parents ÷ turns per second."
        ),
        "",
        "| figure | value |",
        "|---|---|",
    ]
    if c["login_phase"]:
        lp = c["login_phase"]
        lines.append(
            f"| login phase (before the opening, {run['log_in_first']} at a time) | "
            f"{lp['logged_in']} parents logged in, {lp['turns']} turns in {lp['wall']:.1f} s |"
        )
    lines += [
        f"| turns (successful{', booking phase' if c['login_phase'] else ''}) | "
        f"{c['turns']} in {c['wall']:.1f} s |",
        f"| **turns per second** ({'booking phase' if c['login_phase'] else 'all turns'}) | "
        f"**{c['turns_per_second']:.0f}** |",
        f"| turn latency p50 / p95 / p99, logins excluded | {ms(percentile(c['others'], 50))} / "
        f"**{ms(percentile(c['others'], 95))}** / {ms(percentile(c['others'], 99))} ms |",
        f"| login turn (argon2) p50 / p95 / p99 | {ms(percentile(c['logins'], 50))} / "
        f"{ms(percentile(c['logins'], 95))} / {ms(percentile(c['logins'], 99))} ms |",
        f"| journeys: booked / waitlisted / failed | {c['results'].get('booked', 0)} / "
        f"{c['results'].get('waitlisted', 0)} / {c['results'].get('failed', 0)}"
        + (
            f" (+{c['results']['refused at confirmation']} refused at confirmation)"
            if c["results"].get("refused at confirmation")
            else ""
        )
        + " |",
        f"| bookings made vs places offered (database) | {db['taking']} / {db['capacity']} "
        f"({db['confirmed']} confirmed, {db['held']} held, {db['pending']} pending payment) |",
        f"| **overbooking** (database) | **{db['overbooked']}** |",
        f"| waitlisted (database) | {db['waitlisted']}; positions given "
        f"{_positions(c['positions'])} |",
        f"| errors (turns answered with an error or timed out) | {sum(c['errors'].values())}"
        + (f": {dict(c['errors'])}" if c["errors"] else "")
        + " |",
    ]
    raw = run.get("raw")
    if raw:
        lines += [
            f"| raw sqlite3 booking transaction, one connection | **{raw['booking']:.0f}/s** |",
            f"| raw sqlite3 booking + conversation read and save | {raw['booking_turn']:.0f}/s |",
        ]
    lines += [
        "",
        "Client-side latency of each kind of turn (ms, from the send to the step's message):",
        "",
        "| turn | count | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for label in sorted(c["by_label"], key=_label_rank):
        lines.append(latency_row(label, c["by_label"][label]))
    lines.append(latency_row("all but logins", c["others"]))
    lines.append(latency_row("all", c["all"]))
    lines += [
        "",
        "Server side, per turn (means; the engine's `handle`, measured in the server process): "
        "SQL statements, time in the engine, time waiting for SQLite's write lock (BEGIN "
        "IMMEDIATE, pool wait before it), time in the other statements.",
        "",
        "| server turn | count | statements | engine ms | before 1st statement ms "
        "| BEGIN IMMEDIATE wait ms | other SQL ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, turns in sorted(s["by_label"].items(), key=lambda item: -len(item[1])):
        lines.append(
            f"| {label} | {len(turns)} | {_mean(t['statements'] for t in turns):.1f} | "
            f"{ms(_mean(t['seconds'] for t in turns))} | "
            f"{ms(_mean(t['before_first_statement'] for t in turns))} | "
            f"{ms(_mean(t['begin_wait'] for t in turns))} | "
            f"{ms(_mean(t['db_time'] for t in turns))} |"
        )
    every = [t for turns in s["by_label"].values() for t in turns]
    if every:
        lines.append(
            f"| all | {len(every)} | {_mean(t['statements'] for t in every):.1f} | "
            f"{ms(_mean(t['seconds'] for t in every))} | "
            f"{ms(_mean(t['before_first_statement'] for t in every))} | "
            f"{ms(_mean(t['begin_wait'] for t in every))} | "
            f"{ms(_mean(t['db_time'] for t in every))} |"
        )
    cpu = run["server"].get("cpu_seconds_by_thread", {})
    if cpu:
        wall = s["wall"] or 1
        lines += [
            "",
            f"Server CPU during the rush ({wall:.1f} s): "
            + ", ".join(
                f"{kind} {seconds:.1f} s ({seconds / wall:.0%})" for kind, seconds in cpu.items()
            )
            + f"; statements outside turns (connects, healthz, sweeps): "
            f"{run['server'].get('statements_outside_turns', 0)}.",
        ]
    if c["failures"]:
        lines += ["", "Failed journeys:", ""]
        lines += [f"- {count} × {detail}" for detail, count in c["failures"].most_common(5)]
    return "\n".join(lines)


def _positions(positions: list[int]) -> str:
    if not positions:
        return "none"
    return f"{positions[0]}…{positions[-1]} ({len(set(positions))} distinct of {len(positions)})"


def _label_rank(label: str) -> int:
    return LABEL_ORDER.index(label) if label in LABEL_ORDER else len(LABEL_ORDER)


def sql_markdown(stats: dict[str, Any], labels: Sequence[str]) -> str:
    """The statements one turn of each kind runs, with how often (per turn)."""
    by_label = server_figures(stats)["by_label"]
    out = []
    for label in labels:
        counter = stats.get("sql_by_label", {}).get(label)
        turns = len(by_label.get(label, []))
        if not counter or not turns:
            continue
        out += [f"`{label}` ({turns} turns):", "", "| per turn | statement |", "|---|---|"]
        for statement, count in counter:
            short = statement if len(statement) <= 150 else statement[:147] + "…"
            out.append(f"| {count / turns:.1f} | `{short}` |")
        out.append("")
    return "\n".join(out)


def replace_section(path: Path, name: str, body: str, heading: str) -> None:
    """Overwrite the text between `<!-- name:begin -->` and `<!-- name:end -->`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + f"\n\n{heading}\n\n{block}\n"
    path.write_text(text, encoding="utf-8")
