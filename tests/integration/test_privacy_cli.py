"""`ribambelle household export|erase LOGIN`, as the town's staff runs them, on a SQLite file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from booking.db import Database
from booking.models import Guardian, Payment, PaymentPurpose, PaymentState
from bot.cli import main
from tests.conftest import PINNED_NOW
from tests.integration.test_privacy import Seeded, seed


def on_file(url: str, work):  # noqa: ANN001, ANN201
    """Run `work(database)` on the SQLite file, outside the command (as another process)."""

    async def run():  # noqa: ANN202
        database = Database.from_url(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


@pytest.fixture
def seeded_file(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """The household under test in the file the command opens, its clock pinned."""
    monkeypatch.setenv("RIBAMBELLE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RIBAMBELLE_NOW", PINNED_NOW.isoformat())
    return on_file(sqlite_url, seed)


def test_export_writes_the_households_data_to_a_file(seeded_file: Seeded, tmp_path: Path) -> None:
    output = tmp_path / "export.json"

    assert main(["household", "export", "HQuincampoix ", "--output", str(output)]) == 0

    exported = json.loads(output.read_text(encoding="utf-8"))
    assert exported["household"]["reference"] == "quincampoix-ref"
    assert exported["generated_at"].startswith("2027-03-01T09:00")


def test_export_writes_to_standard_output(seeded_file: Seeded, capsys) -> None:  # noqa: ANN001
    assert main(["household", "export", seeded_file.login]) == 0
    assert json.loads(capsys.readouterr().out)["guardians"][0]["first_name"] == "Hippolyte"


def test_an_unknown_login_is_said_so(seeded_file: Seeded, capsys) -> None:  # noqa: ANN001
    assert main(["household", "export", "nobody"]) == 1
    assert main(["household", "erase", "nobody", "--yes"]) == 1
    assert "no guardian has the login 'nobody'" in capsys.readouterr().err


def test_erase_asks_before_erasing(seeded_file: Seeded, capsys) -> None:  # noqa: ANN001
    assert main(["household", "erase", seeded_file.login]) == 1

    assert "pass --yes" in capsys.readouterr().err
    assert main(["household", "export", seeded_file.login]) == 0, "nothing was erased"


def test_erase_pseudonymises_the_household_and_says_what_it_kept(
    seeded_file: Seeded,
    capsys,  # noqa: ANN001
) -> None:
    assert main(["household", "erase", seeded_file.login, "--yes"]) == 0

    out = capsys.readouterr().out
    assert "Household quincampoix-ref (QUINCAMPOIX)" in out
    assert "Erased: household quincampoix-ref is now erased-" in out
    assert "kept: 1 booking(s), 1 payment(s), ledger entries: 2" in out
    assert "Balances kept under erased-" in out and "euros 1800" in out
    assert main(["household", "export", seeded_file.login]) == 1


def test_erase_is_refused_while_a_payment_is_open(
    seeded_file: Seeded,
    sqlite_url: str,
    capsys,  # noqa: ANN001
) -> None:
    async def open_payment(database: Database) -> None:
        async with database.writing() as db:
            db.add(
                Payment(
                    household_id=seeded_file.household_id,
                    purpose=PaymentPurpose.TOP_UP,
                    amount_cents=1000,
                    state=PaymentState.CREATED,
                    created_at=PINNED_NOW,
                )
            )

    on_file(sqlite_url, open_payment)

    assert main(["household", "erase", seeded_file.login, "--yes"]) == 1

    err = capsys.readouterr().err
    assert "household quincampoix-ref not erased:" in err
    assert "1 payment(s) still open" in err

    async def login_of(database: Database) -> str:
        async with database.reading() as db:
            return await db.scalar(
                select(Guardian.login).where(Guardian.household_id == seeded_file.household_id)
            )

    assert on_file(sqlite_url, login_of) == seeded_file.login
