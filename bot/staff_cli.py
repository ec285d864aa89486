"""`ribambelle staff add LOGIN --role ROLE --structure CODE`: a back-office account (the first
admin of a town, then any other from the command line)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import TextIO

from booking.clock import clock_from_env
from booking.db import Database
from booking.models import StaffRole
from booking.passwords import hash_password
from booking.services.accounts import password_refusal
from booking.services.staff_accounts import add_staff, find_structure
from bot.settings import Settings


def add_staff_parser(commands: argparse._SubParsersAction) -> None:
    staff = commands.add_parser("staff", help="the town staff's back-office accounts")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_commands.add_parser("add", help="create a staff account (its password is asked)")
    add.add_argument("login")
    add.add_argument("--role", choices=[role.value for role in StaffRole], required=True)
    add.add_argument("--structure", required=True, help="the structure's code (its slug)")
    add.add_argument("--name", default="", help="shown in the back office and in the audit")
    add.add_argument("--email", default="", help="where the daily staff digest goes")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (scripts) instead of asking twice",
    )


def read_password(from_stdin: bool, stdin: TextIO) -> str | None:
    """The new password, asked twice on a terminal; None when the two differ."""
    if from_stdin:
        return stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        return None
    return first


def run_staff(settings: Settings, args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin, sys.stdin)
    if password is None:
        print("the two passwords differ", file=sys.stderr)
        return 1
    refusal = password_refusal(password)
    if refusal is not None:
        print("the password needs at least 10 characters, with letters and digits", file=sys.stderr)
        return 1
    return asyncio.run(_add(settings, args, hash_password(password)))


async def _add(settings: Settings, args: argparse.Namespace, password_hash: str) -> int:
    database = Database.from_url(settings.database_url)
    now = clock_from_env(settings.now).now()
    try:
        async with database.writing() as db:
            structure = await find_structure(db, args.structure)
            if structure is None:
                print(f"no structure has the code {args.structure!r}", file=sys.stderr)
                return 1
            try:
                member = await add_staff(
                    db,
                    structure_id=structure.id,
                    login=args.login,
                    role=StaffRole(args.role),
                    password_hash=password_hash,
                    now=now,
                    name=args.name,
                    email=args.email,
                )
            except ValueError as error:
                print(str(error), file=sys.stderr)
                return 1
            print(
                f"staff account {member.login} ({member.role.value}) created for "
                f"{structure.name}: log in at {settings.public_url}/staff/"
            )
    finally:
        await database.dispose()
    return 0
