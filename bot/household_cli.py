"""`ribambelle household export|erase LOGIN`: a household's personal data for the town's staff
(the right of access and the right to erasure, docs/privacy.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from booking.clock import clock_from_env
from booking.db import Database
from booking.services.erasure import ErasureBlocked, erase_household, erasure_blockers
from booking.services.privacy import export_household, export_json, household_of_login
from bot.settings import Settings

#: What stops an erasure, as the staff member reads it (booking.services.erasure.Blocker).
BLOCKERS = {
    "payment_open": "{count} payment(s) still open (a pay link not settled, or a refund not "
    "sent back yet): wait for the result, or let the link expire",
    "places_held": "{count} place(s) held in a basket or awaiting payment: wait until they "
    "are confirmed or released",
    "upcoming_bookings": "{count} booking(s), confirmed or on a waiting list, for sessions to "
    "come: cancel them first (the parent in the chat, or the town), or erase once they are past",
}


def add_household_parser(commands: argparse._SubParsersAction) -> None:
    household = commands.add_parser("household", help="a household's personal data (RGPD)")
    household_commands = household.add_subparsers(dest="household_command", required=True)
    export = household_commands.add_parser(
        "export", help="everything held about the household of a guardian's login, as JSON"
    )
    export.add_argument("login", help="the login of one of the household's guardians")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    erase = household_commands.add_parser(
        "erase",
        help="erase the household's personal data; bookings and accounting stay under a pseudonym",
    )
    erase.add_argument("login", help="the login of one of the household's guardians")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run_household(settings: Settings, args: argparse.Namespace) -> int:
    if args.household_command == "export":
        return _export(settings, args.login, args.output)
    return asyncio.run(_erase(settings, args.login, args.yes, sys.stdin, sys.stdout))


def _export(settings: Settings, login: str, output: Path | None) -> int:
    found = asyncio.run(_exported(settings, login))
    if found is None:
        print(f"no guardian has the login {login!r}", file=sys.stderr)
        return 1
    reference, text = found
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"household {reference}: written to {output}", file=sys.stderr)
    return 0


async def _exported(settings: Settings, login: str) -> tuple[str, str] | None:
    """(the household's reference, its export as JSON text), or None for an unknown login."""
    now = clock_from_env(settings.now).now()
    database = Database.from_url(settings.database_url)
    try:
        async with database.reading() as db:
            household = await household_of_login(db, login)
            if household is None:
                return None
            return household.reference, export_json(await export_household(db, household.id, now))
    finally:
        await database.dispose()


async def _erase(settings: Settings, login: str, yes: bool, stdin: TextIO, out: TextIO) -> int:
    now = clock_from_env(settings.now).now()
    database = Database.from_url(settings.database_url)
    try:
        async with database.reading() as db:
            household = await household_of_login(db, login)
            if household is None:
                print(f"no guardian has the login {login!r}", file=sys.stderr)
                return 1
            blockers = await erasure_blockers(db, household.id, now)
        if blockers:
            _refused(household.reference, blockers)
            return 1
        print(
            f"Household {household.reference} ({household.name}): names, e-mail addresses, "
            "logins, conversations, messages and notifications will be erased; bookings, "
            "payments, receipts and the ledger stay under a pseudonym. This cannot be undone.",
            file=out,
        )
        if not yes:
            if not stdin.isatty():
                print("not erased: pass --yes to erase without a question", file=sys.stderr)
                return 1
            print("Erase it? Type yes: ", end="", file=out, flush=True)
            if stdin.readline().strip().lower() != "yes":
                print("not erased", file=out)
                return 1
        try:
            async with database.writing() as db:
                erasure = await erase_household(db, household.id, now)
        except ErasureBlocked as blocked:  # something moved since the question
            _refused(household.reference, blocked.blockers)
            return 1
    finally:
        await database.dispose()
    print(
        f"Erased: household {household.reference} is now {erasure.pseudonym}; "
        f"{erasure.guardians} guardian(s) and {erasure.participants} participant(s) "
        f"pseudonymised, {erasure.conversations} conversation(s), {erasure.messages} "
        f"message(s), {erasure.notifications} notification(s) and {erasure.tokens} link(s) "
        f"deleted; kept: {erasure.kept_bookings} booking(s), {erasure.kept_payments} "
        f"payment(s), ledger entries: {erasure.kept_ledger_entries}.",
        file=out,
    )
    if erasure.balances:
        balances = ", ".join(f"{kind} {amount}" for kind, amount in erasure.balances.items())
        print(
            f"Balances kept under {erasure.pseudonym} (cents; coupons in units): {balances}. "
            "Settle them in the town's accounting.",
            file=out,
        )
    return 0


def _refused(reference: str, blockers: list) -> None:
    print(f"household {reference} not erased:", file=sys.stderr)
    for blocker in blockers:
        print("  " + BLOCKERS[blocker.code].format(count=blocker.count), file=sys.stderr)
