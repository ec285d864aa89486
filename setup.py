"""Build hook: the gettext catalogues are compiled into the package when it is built, so that
a wheel or `pip install .` speaks English without `make` (pyproject.toml holds the rest)."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithCatalogues(build_py):
    """build_py, plus locales/*/LC_MESSAGES/*.po compiled to dialogs/catalogues/…/*.mo."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for source in sorted((ROOT / "locales").glob("*/LC_MESSAGES/*.po")):
            locale = source.parent.parent.name
            target = Path(self.build_lib) / "dialogs" / "catalogues" / locale / "LC_MESSAGES"
            target.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as po:
                catalog = read_po(po, locale=locale)
            with (target / source.with_suffix(".mo").name).open("wb") as mo:
                write_mo(mo, catalog, use_fuzzy=False)
            # the source too: the package then needs nothing from the source tree
            (target / source.name).write_bytes(source.read_bytes())


setup(cmdclass={"build_py": BuildWithCatalogues})
