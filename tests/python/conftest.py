"""Fixtures: a fresh junction router process per test, autobahn sessions against it.

Contract with the binary (services/junction):
    junction router --config FILE [EXTRA ARGS]
prints ``junction: router listening on ws://127.0.0.1:PORT/ws`` on stdout once it accepts
connections. ``JUNCTION_BIN`` overrides the binary path (default: <repo>/target/debug/junction).
The multi-pod fixtures (``multipod.py``) start several routers on one Redis through ``Router``
with extra arguments (``--redis-url ... --redis-prefix ...``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wamp_client import SERIALIZER_NAMES, Client, connect

# the multi-pod fixtures (multipod, redis_server, redis_cluster)
pytest_plugins = ["multipod"]

REPO = Path(__file__).resolve().parents[2]
JUNCTION_BIN = Path(os.environ.get("JUNCTION_BIN", REPO / "target" / "debug" / "junction"))
STARTUP_TIMEOUT = 20.0
LISTEN_RE = re.compile(r"router listening on (wss?://\S+)")
MAX_MESSAGE_SIZE = 1024 * 1024


@dataclass
class Principal:
    authid: str
    ticket: str
    role: str


# ticket principals every default realm has (different authids and roles for black/white listing)
DEFAULT_PRINCIPALS = [
    Principal("alice", "ticket-alice-1", "user"),
    Principal("bob", "ticket-bob-2", "user"),
    Principal("carol", "ticket-carol-3", "admin"),
]


@dataclass
class RealmSpec:
    uri: str
    anonymous_role: str | None = "anonymous"
    principals: list[Principal] = field(default_factory=lambda: list(DEFAULT_PRINCIPALS))


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string of printable text is a valid TOML basic string
    raise TypeError(v)


def render_config(realms: list[RealmSpec], max_message_size: int, router_extra: dict | None = None) -> str:
    lines = [
        "[router]",
        f"listen = {_toml('127.0.0.1:0')}",
        f"max_message_size = {_toml(max_message_size)}",
    ]
    lines += [f"{k} = {_toml(v)}" for k, v in (router_extra or {}).items()]
    lines.append("")
    for realm in realms:
        lines += ["[[realms]]", f"uri = {_toml(realm.uri)}"]
        if realm.anonymous_role is not None:
            lines.append(f"anonymous_role = {_toml(realm.anonymous_role)}")
        lines.append("")
        for p in realm.principals:
            lines += [
                "[[realms.principals]]",
                f"authid = {_toml(p.authid)}",
                f"ticket = {_toml(p.ticket)}",
                f"role = {_toml(p.role)}",
                "",
            ]
    return "\n".join(lines)


class Router:
    """One junction router process with its own config and realms. ``args`` are extra command-line
    arguments after ``--config FILE``; ``label`` names the process in failure reports."""

    def __init__(
        self,
        workdir: Path,
        realms: list[RealmSpec],
        max_message_size: int,
        router_extra: dict | None = None,
        args: list[str] | None = None,
        label: str | None = None,
    ):
        self.args = list(args or [])
        self.label = label
        self.realms = realms
        self.realm = realms[0].uri
        self.max_message_size = max_message_size
        self.config_path = workdir / "junction.toml"
        self.config_path.write_text(render_config(realms, max_message_size, router_extra))
        self.stderr_path = workdir / "junction.stderr.log"
        self.stdout_lines: list[str] = []
        self.sessions: list[Client] = []
        self.url: str | None = None
        self.stopped_by_us = False
        self._start()

    # -- process
    def _start(self):
        if not JUNCTION_BIN.exists():
            pytest.fail(
                f"junction binary not found at {JUNCTION_BIN} (cargo build -p junction, or set JUNCTION_BIN)",
                pytrace=False,
            )
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(JUNCTION_BIN), "router", "--config", str(self.config_path), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        found = threading.Event()

        def pump():
            for raw in self.proc.stdout:  # keeps draining after the listening line
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                m = LISTEN_RE.search(line)
                if m and self.url is None:
                    self.url = m.group(1)
                    found.set()
            found.set()  # EOF: the process is gone

        threading.Thread(target=pump, daemon=True).start()
        found.wait(STARTUP_TIMEOUT)
        if self.url is None:
            code = self.proc.poll()
            self.stop()
            pytest.fail(
                f"junction router did not print its listening line within {STARTUP_TIMEOUT}s "
                f"(exit code {code}).\nconfig:\n{self.config_path.read_text()}\n"
                f"stdout:\n" + "\n".join(self.stdout_lines[-50:]) + f"\nstderr:\n{self.stderr_tail()}",
                pytrace=False,
            )

    def stderr_tail(self, limit: int = 6000) -> str:
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def exited_unexpectedly(self) -> int | None:
        code = self.proc.poll()
        return None if self.stopped_by_us else code

    def stop(self):
        if self.proc.poll() is None:
            self.stopped_by_us = True
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._stderr.close()

    # -- clients
    def principal(self, authid: str, realm: str | None = None) -> Principal:
        spec = next(r for r in self.realms if r.uri == (realm or self.realm))
        return next(p for p in spec.principals if p.authid == authid)

    async def connect(self, serializer: str, authid: str | None = None, realm: str | None = None, **kwargs) -> Client:
        """Join ``realm`` (default: the first) anonymously, or as ticket principal ``authid``."""
        realm = realm or self.realm
        if authid is not None and "ticket" not in kwargs:
            kwargs["ticket"] = self.principal(authid, realm).ticket
        s = await connect(self.url, realm, serializer, authid=authid, **kwargs)
        self.sessions.append(s)
        return s

    async def connect_many(self, serializers, authid: str | None = None, **kwargs) -> list[Client]:
        return [await self.connect(ser, authid=authid, **kwargs) for ser in serializers]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")[:40] or "t"


@pytest.fixture(params=SERIALIZER_NAMES)
def ser(request) -> str:
    """The serializer under test: every test runs once per wamp.2.json / msgpack / cbor."""
    return request.param


@pytest.fixture
async def router_factory(request, tmp_path):
    """Start routers with custom realms: ``router_factory(realms=[RealmSpec(...)], ...)``;
    ``router_extra`` adds keys to the ``[router]`` table (e.g. ``ping_interval_ms``)."""
    routers: list[Router] = []
    request.node._junction_routers = routers

    def make(
        realms: list[RealmSpec] | None = None, max_message_size: int = MAX_MESSAGE_SIZE, router_extra: dict | None = None
    ) -> Router:
        if realms is None:
            realms = [RealmSpec(new_realm(request))]
        workdir = tmp_path / f"router{len(routers)}"
        workdir.mkdir()
        r = Router(workdir, realms, max_message_size, router_extra)
        routers.append(r)
        return r

    yield make

    problems = await close_routers(routers)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


async def close_routers(routers: list[Router]) -> list[str]:
    """Drop every client session, then stop the routers; the problems found (a router that exited
    on its own during the test), one message each."""
    # close the client side first (TCP drop, no handshake) and let the loop process it, so the
    # routers have no session to drain when they get SIGTERM
    pending = []
    for r in routers:
        for s in r.sessions:
            if s._transport is not None:
                try:
                    s.drop()
                except Exception:
                    pass
            if not s.disconnected.done():
                pending.append(asyncio.shield(s.disconnected))
    if pending:
        await asyncio.wait(pending, timeout=2)
    problems = []
    for i, r in enumerate(routers):
        code = r.exited_unexpectedly()
        if code is not None:
            name = r.label or f"router {i}"
            problems.append(f"{name} exited during the test with code {code}; stderr:\n{r.stderr_tail()}")
        r.stop()
    return problems


@pytest.fixture
async def router(router_factory) -> Router:
    """A router with one realm (its own name) allowing anonymous and the default ticket principals."""
    return router_factory()


def new_realm(request, suffix: str = "") -> str:
    base = _slug(request.node.name)
    return f"test.{base}.{uuid.uuid4().hex[:8]}{('.' + suffix) if suffix else ''}"


@pytest.fixture
def realm_name(request):
    """Factory of unique realm URIs for this test."""
    return lambda suffix="": new_realm(request, suffix)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for i, r in enumerate(getattr(item, "_junction_routers", [])):
            tail = r.stderr_tail(4000)
            if tail:
                report.sections.append((f"junction router {i} stderr (tail)", tail))
        # other processes of the test (multipod.py: router pods, private Redis servers): anything
        # with a ``label`` and a ``stderr_tail(limit)``
        for p in getattr(item, "_junction_logs", []):
            tail = p.stderr_tail(4000)
            if tail:
                report.sections.append((f"{p.label} stderr (tail)", tail))
    return report

