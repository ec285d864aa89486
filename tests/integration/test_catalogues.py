"""The English catalogue travels with the package and is never silently missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dialogs import i18n

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locales" / "en" / "LC_MESSAGES" / "ribambelle.po"


@pytest.fixture
def catalogues_in(monkeypatch: pytest.MonkeyPatch):
    """Point the translator at other folders, its cache cleared before and after."""

    def use(bundled: Path, source: Path) -> None:
        monkeypatch.setattr(i18n, "BUNDLED_DIR", bundled)
        monkeypatch.setattr(i18n, "LOCALES_DIR", source)
        i18n._translations.cache_clear()

    yield use
    i18n._translations.cache_clear()


def test_english_is_spoken_from_the_po_when_nothing_was_compiled(catalogues_in, tmp_path):
    source = tmp_path / "locales" / "en" / "LC_MESSAGES"
    source.mkdir(parents=True)
    shutil.copy(PO, source / "ribambelle.po")  # no .mo: `make` never ran
    catalogues_in(tmp_path / "none", tmp_path / "locales")
    assert i18n.Translator("en")._("C'est noté, je vous parle en français.") != (
        "C'est noté, je vous parle en français."
    )


def test_a_missing_catalogue_stops_the_start_up(catalogues_in, tmp_path):
    catalogues_in(tmp_path / "none", tmp_path / "nothing either")
    with pytest.raises(i18n.MissingCatalogue):
        i18n.check_catalogues()


def test_a_wheel_built_in_a_temporary_directory_carries_the_compiled_english(tmp_path):
    tree = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tree / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(tmp_path / "dist"), str(tree)],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("ribambelle-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dialogs/catalogues/en/LC_MESSAGES/ribambelle.mo" in names
