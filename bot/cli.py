"""The `ribambelle` command line: serve, worker, db upgrade, demo, catalogue import, exports,
outbox, a household's personal data."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import socket
import sys
from pathlib import Path

from aiohttp import web

from booking.clock import clock_from_env
from booking.db import Database, normalise_url
from booking.migrate import upgrade
from bot.household_cli import add_household_parser, run_household
from bot.settings import DEFAULT_HOST, DEFAULT_PORT, WILDCARD_HOSTS, Settings, served_url
from bot.staff_cli import add_staff_parser, run_staff
from dialogs.i18n import check_catalogues

log = logging.getLogger("ribambelle")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ribambelle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="web chat, API, Telegram and scheduler")
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (0.0.0.0: every interface)"
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--demo", action="store_true", help="migrate and load the demo town first")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="run the Alembic migrations")

    commands.add_parser("demo", help="load the demo town into an empty database")
    commands.add_parser("worker", help="background jobs and notifications, without the web chat")
    outbox = commands.add_parser("outbox", help="notifications per state; dead ones again")
    outbox.add_argument(
        "--retry-dead", action="store_true", help="put dead notifications back in line"
    )

    catalogue = commands.add_parser("catalogue", help="the town's catalogue")
    catalogue_commands = catalogue.add_subparsers(dest="catalogue_command", required=True)
    load = catalogue_commands.add_parser("import", help="import activities, sessions, tariffs")
    load.add_argument("file", type=Path)

    export = commands.add_parser("export", help="exports for the town's staff")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    bookings = export_commands.add_parser("bookings", help="every booking, as CSV or JSON")
    bookings.add_argument("--format", choices=("csv", "json"), default="csv")
    bookings.add_argument("--output", type=Path, help="file to write (default: standard output)")
    payments = export_commands.add_parser(
        "payments", help="every online payment and refund, as CSV or JSON"
    )
    payments.add_argument("--format", choices=("csv", "json"), default="csv")
    payments.add_argument("--output", type=Path, help="file to write (default: standard output)")
    add_household_parser(commands)
    add_staff_parser(commands)
    return parser


async def _with_database(settings: Settings, work):  # noqa: ANN001, ANN202
    database = Database.from_url(settings.database_url)
    try:
        return await work(database)
    finally:
        await database.dispose()


def _load_demo(settings: Settings) -> None:
    from booking.demo import load_demo

    clock = clock_from_env(settings.now)

    async def work(database: Database) -> None:
        if await load_demo(database, clock.now()):
            log.info("demo town loaded (households dupont, martin, bernard)")
        else:
            log.info("the database already holds a town: demo not loaded")

    asyncio.run(_with_database(settings, work))


def _import_catalogue(settings: Settings, path: Path) -> int:
    from booking.catalogue_file import CatalogueError, import_catalogue_file

    clock = clock_from_env(settings.now)

    async def work(database: Database) -> int:
        try:
            report = await import_catalogue_file(database, path, clock.now())
        except CatalogueError as error:
            print(f"{path}: nothing imported, {len(error.errors)} error(s):", file=sys.stderr)
            for line in error.errors:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(report)
        return 0

    return asyncio.run(_with_database(settings, work))


def _export(settings: Settings, what: str, fmt: str, output: Path | None) -> None:
    from booking.export import export_bookings, export_payments

    export = export_payments if what == "payments" else export_bookings

    async def work(database: Database) -> None:
        if output is None:
            await export(database, fmt, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                await export(database, fmt, out)

    asyncio.run(_with_database(settings, work))


def _serve(settings: Settings, host: str, port: int, demo: bool) -> None:
    from bot.app import build_app

    check_catalogues()  # English must answer in English, or not start at all
    if demo:
        upgrade(settings.database_url)
        _load_demo(settings)
    from bot.telegram.channel import TelegramStartupError

    settings = settings.served_at(host, port)
    log.info("database: %s", _redacted(settings.database_url))
    _explain_public_url(settings, host, port)

    def listening(_banner: str) -> None:
        # aiohttp calls this once every site is listening: the port accepts connections.
        if host in WILDCARD_HOSTS:
            log.info(
                "serving the web chat on every interface, port %d: %s on this machine",
                port,
                served_url(host, port),
            )
        else:
            log.info("serving the web chat on %s", served_url(host, port))

    try:
        web.run_app(build_app(settings), host=host, port=port, print=listening)
    except TelegramStartupError as error:
        log.error("cannot start: %s", error)
        raise SystemExit(2) from None
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        log.error("cannot listen on %s port %d: %s", host, port, error.strerror or error)
        raise SystemExit(2) from None


def _explain_public_url(settings: Settings, host: str, port: int) -> None:
    """Say where payment links point, and how to reach them from a phone when it matters."""
    if settings.public_url_given:
        log.info("payment links point to %s (RIBAMBELLE_PUBLIC_URL)", settings.public_url)
        return
    log.info("payment links point to %s (set RIBAMBELLE_PUBLIC_URL to change)", settings.public_url)
    if host in WILDCARD_HOSTS:
        log.warning(
            "listening on every interface, but links point to this machine only; for a phone "
            "on the same network, set RIBAMBELLE_PUBLIC_URL=http://%s:%d",
            _lan_address() or "<this machine's address on the network>",
            port,
        )


def _lan_address() -> str | None:
    """This machine's address on its network, as the routing table chooses it (no packet is
    sent: connecting a UDP socket only picks the route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address does
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _worker(settings: Settings) -> None:
    check_catalogues()  # notices are written in each household's language
    """The background jobs alone: hold sweeps, payment reconciliation, reminders and the
    outbox (web inbox and e-mail; Telegram messages are left to `serve`)."""
    from bot.app import build_app

    async def run() -> None:
        runner = web.AppRunner(build_app(settings, telegram=False))
        await runner.setup()  # starts the scheduler; no HTTP site
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    log.info("worker started on %s", _redacted(settings.database_url))
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def _outbox(settings: Settings, retry: bool) -> None:
    from booking.clock import clock_from_env
    from bot.notify.worker import outbox_counts, retry_dead

    async def work(database: Database) -> None:
        if retry:
            count = await retry_dead(database, clock_from_env(settings.now))
            print(f"{count} dead notification(s) put back in line")
        for state, count in sorted((await outbox_counts(database)).items()):
            print(f"{state:8} {count}")

    asyncio.run(_with_database(settings, work))


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.command == "serve":
        _serve(settings, args.host, args.port, args.demo)
    elif args.command == "db":
        upgrade(settings.database_url)
        log.info("database %s is up to date", _redacted(settings.database_url))
    elif args.command == "demo":
        _load_demo(settings)
    elif args.command == "worker":
        _worker(settings)
    elif args.command == "outbox":
        _outbox(settings, args.retry_dead)
    elif args.command == "catalogue":
        return _import_catalogue(settings, args.file)
    elif args.command == "household":
        return run_household(settings, args)
    elif args.command == "staff":
        return run_staff(settings, args)
    elif args.command == "export":
        try:
            _export(settings, args.export_command, args.format, args.output)
        except BrokenPipeError:  # `ribambelle export bookings | head`
            sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
