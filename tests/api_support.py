"""A real MindPulse API server for the tests: ``mindpulse api`` in its own process, on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mindpulse.accounts import Accounts
from mindpulse.settings import Settings
from mindpulse.store import Store

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")
PASSWORD = "a long enough password"
ROLES = ("viewer", "counsellor", "admin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    home: Path
    url: str
    process: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)  # role -> a token of an account with that role
    log: Path | None = None

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home)

    def store(self) -> Store:
        return Store.from_settings(self.settings)

    def client(self, role: str | None = None, token: str | None = None) -> httpx.Client:
        token = token or (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prepare_home(template: Path, home: Path) -> dict[str, str]:
    """Copy the demo home ``template`` to ``home`` and add one account (and token) per role."""
    shutil.copytree(template, home)
    tokens = {}
    with Store.from_settings(Settings(home=home)) as store:
        accounts = Accounts(store)
        for role in ROLES:
            accounts.add(role, role, PASSWORD)
            tokens[role], _ = accounts.create_token(role, f"{role} tests")
    return tokens


def start_server(home: Path, tokens: dict[str, str], *, env: dict[str, str] | None = None) -> ApiServer:
    port = free_port()
    log = home / "api.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MINDPULSE_")}
    environment.update({"MINDPULSE_HOME": str(home), **(env or {})})
    with open(log, "ab") as out:
        process = subprocess.Popen([MINDPULSE, "api", "--port", str(port)], env=environment, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = ApiServer(home, f"http://127.0.0.1:{port}", process, tokens, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mindpulse api exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"mindpulse api did not answer within 60 s: {log.read_text()[-2000:]}")


def count_predictions(server: ApiServer) -> int:
    with server.store() as store:
        return int(store.stats()["rows_total"])
