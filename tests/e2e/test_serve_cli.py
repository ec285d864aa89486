"""`ribambelle serve` as an operator starts it: a real process on a free port, an SQLite file,
no RIBAMBELLE_PUBLIC_URL. It says it serves only once the port answers, and the payment links
a turn builds point to the port it serves."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings

STARTUP_SECONDS = 120  # migrations, the demo town and the app: generous for a slow CI machine
SERVING = "serving the web chat on "
ROOT = Path(__file__).resolve().parents[2]
# The installed command (`pip install -e .` puts it beside the interpreter), else its module.
_SCRIPT = Path(sys.executable).with_name("ribambelle")
RIBAMBELLE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "bot.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            return True
    except OSError:
        return False


class Server:
    """A `ribambelle serve` subprocess whose log lines are read as they come."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [*RIBAMBELLE, "serve", "--demo", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, fragment: str) -> str:
        """The first log line containing `fragment`, waiting for it as long as start-up may."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError("the server stopped:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if fragment in line:
                return line
        raise AssertionError(
            f"no {fragment!r} within {STARTUP_SECONDS} s:\n" + "\n".join(self.lines)
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIBAMBELLE_")}
    env |= {
        "RIBAMBELLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ribambelle.db'}",
        "RIBAMBELLE_NOW": "2027-03-01T09:00:00+01:00",
        "RIBAMBELLE_PAYMENT_SECRET": "test-secret",
        "PYTHONUNBUFFERED": "1",
    }
    running = Server(free_port(), env)
    try:
        yield running
    finally:
        running.stop()


def turn(port: int, conversation: str | None, **body: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/chat/turn",
        data=json.dumps({"conversation": conversation, **body}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def button(reply: dict, label: str) -> str:
    for message in reply["messages"]:
        for row in message["buttons"]:
            for candidate in row:
                if candidate["label"] == label:
                    return candidate["payload"]
    raise AssertionError(f"no button {label!r} in {reply}")


def test_serve_says_it_serves_once_the_port_answers_and_pay_links_use_that_port(server):
    line = server.wait_for(SERVING)

    # Tried once, at once: the line must not come before the port answers (the demo town
    # takes seconds to load, so a line logged before it would find the port closed).
    assert accepts(server.port), "logged as serving, yet the port refuses connections"
    assert f"http://127.0.0.1:{server.port}" in line, line

    reply = turn(server.port, None, text="connexion")
    token = reply["conversation"]
    for text in ("dupont", "demo-dupont", "inscris Léa au mercredi loisirs le 3 et le 24"):
        reply = turn(server.port, token, text=text)
    reply = turn(server.port, token, button=button(reply, "Confirmer"))
    links = [message["link"]["url"] for message in reply["messages"] if message["link"]]

    assert links, reply
    assert links[0].startswith(f"http://127.0.0.1:{server.port}/pay/"), links
    assert any("payment links point to" in logged for logged in server.lines), server.lines


def test_without_a_public_url_links_point_to_the_address_served():
    settings = Settings.from_env({})

    assert settings.served_at("127.0.0.1", 8123).public_url == "http://127.0.0.1:8123"
    assert settings.served_at("0.0.0.0", 8123).public_url == "http://127.0.0.1:8123"
    assert settings.served_at("::", 8123).public_url == "http://[::1]:8123"
    assert settings.served_at("192.168.1.20", 80).public_url == "http://192.168.1.20:80"
    assert settings.served_at("ecole.local", 8080).public_url == "http://ecole.local:8080"


def test_a_public_url_set_in_the_environment_is_kept_whatever_the_address_served():
    settings = Settings.from_env({"RIBAMBELLE_PUBLIC_URL": "https://ville.example.org/"})

    assert settings.served_at("0.0.0.0", 8123).public_url == "https://ville.example.org"
