"""The server under test: `ribambelle serve` (build_app + AppRunner) with bench hooks.

Run by `bench/rush.py` as a separate process:
`python -m bench.server --database-url URL --port P --now ISO [--profile KIND --out DIR]`.
It is the product's application with the chat rate limits raised (the rush is a legitimate
load from one address) and two routes of its own: POST /_bench/start resets the per-turn
counters (and starts the profiler), POST /_bench/stop returns them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.instrument import Recorder
from booking.db import Database
from bot.app import build_app
from bot.settings import Settings

log = logging.getLogger("bench.server")


class Profiling:
    """cProfile or pyinstrument on the event loop's thread, between start and stop."""

    def __init__(self, kind: str, out: Path) -> None:
        self.kind = kind
        self.out = out
        self._profiler: Any = None

    def start(self) -> None:
        if self.kind == "cprofile":
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()
        elif self.kind == "pyinstrument":
            from pyinstrument import Profiler

            self._profiler = Profiler(interval=0.0005, async_mode="disabled")
            self._profiler.start()

    def stop(self) -> dict[str, Any]:
        if self._profiler is None:
            return {}
        self.out.mkdir(parents=True, exist_ok=True)
        if self.kind == "cprofile":
            self._profiler.disable()
            path = self.out / "server.pstats"
            self._profiler.dump_stats(path)
            return {"kind": "cprofile", "file": str(path)}
        session = self._profiler.stop()
        text = self.out / "server-pyinstrument.txt"
        text.write_text(self._profiler.output_text(unicode=True, color=False, show_all=False))
        (self.out / "server-pyinstrument.html").write_text(self._profiler.output_html())
        root = session.root_frame()
        return {
            "kind": "pyinstrument",
            "file": str(text),
            "duration": session.duration,
            "by_function": pyinstrument_functions(root),
            "stacks": stack_roots(root),
        }


def stack_roots(root: Any) -> list[dict[str, Any]]:
    """The bottoms of the sampled stacks: the event loop, and SQLAlchemy's greenlets (SQL
    runs there, so its time is not under the product's frames in the tree)."""
    if root is None:
        return []
    totals: dict[str, float] = {}
    threads = [root] if not root.is_synthetic else root.children
    for thread in threads:
        for frame in thread.children:
            if not frame.is_synthetic:
                key = f"{frame.function} ({frame.file_path_short})"
                totals[key] = totals.get(key, 0.0) + frame.time
    return [
        {"function": key, "seconds": seconds}
        for key, seconds in sorted(totals.items(), key=lambda item: -item[1])[:8]
    ]


def pyinstrument_functions(root: Any) -> list[dict[str, Any]]:
    """Self and inclusive seconds per function (inclusive counted once per stack)."""
    own: dict[str, float] = {}
    inclusive: dict[str, float] = {}

    def name(frame: Any) -> str:
        path = (frame.file_path_short or frame.file_path or "").replace("\\", "/")
        return f"{frame.function} ({path}:{frame.line_no})"

    def walk(frame: Any, above: frozenset[str]) -> None:
        if frame.is_synthetic:  # [self] time is in its parent's total_self_time already
            for child in frame.children:
                walk(child, above)
            return
        key = name(frame)
        own[key] = own.get(key, 0.0) + frame.total_self_time
        if key not in above:
            inclusive[key] = inclusive.get(key, 0.0) + frame.time
        for child in frame.children:
            walk(child, above | {key})

    if root is not None:
        walk(root, frozenset())
    return [
        {"function": key, "self": own[key], "inclusive": inclusive.get(key, 0.0)}
        for key in sorted(own, key=lambda k: -own[k])[:60]
    ] + [
        {"function": key, "self": own.get(key, 0.0), "inclusive": inclusive[key], "by": "incl"}
        for key in sorted(inclusive, key=lambda k: -inclusive[k])[:120]
    ]


def bench_settings(database_url: str, now: str) -> Settings:
    """The product's settings, with the chat rate limits raised for one busy address."""
    return Settings(
        database_url=database_url,
        now=now,
        chat_turns_per_second=1_000_000.0,
        chat_burst=1_000_000,
        new_chats_per_minute=100_000_000,
    )


async def serve(args: argparse.Namespace) -> None:
    settings = bench_settings(args.database_url, args.now)
    database = Database.from_url(settings.database_url)
    recorder = Recorder()
    recorder.install(database.engine.sync_engine)
    profiling = Profiling(args.profile, Path(args.out))
    app = build_app(settings, database=database)

    async def start(request: web.Request) -> web.Response:
        recorder.start()
        if request.query.get("profile", "1") == "1":
            profiling.start()
        return web.json_response({"started": True})

    async def start_profile(_request: web.Request) -> web.Response:
        profiling.start()
        return web.json_response({"profiling": True})

    async def stop(_request: web.Request) -> web.Response:
        report = recorder.stop()  # first: writing the profile out takes a while
        report["profile"] = profiling.stop()
        report["pool"] = database.engine.pool.status()
        return web.Response(text=json.dumps(report), content_type="application/json")

    app.router.add_post("/_bench/start", start)
    app.router.add_post("/_bench/stop", stop)
    app.router.add_post("/_bench/profile", start_profile)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
    await site.start()
    log.info("bench server on http://127.0.0.1:%d", args.port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await runner.cleanup()
    await database.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--now", required=True)
    parser.add_argument("--profile", choices=("none", "cprofile", "pyinstrument"), default="none")
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
