"""Helpers for test_control_plane.py: a `junction dev` process (router + admin API over a
control store: SQLite in a temp dir, or a fresh Postgres database), a small stdlib REST
client for the admin API, and autobahn sessions that answer ticket / WAMP-CRA challenges.

Contract with the binary:
    JUNCTION_ROUTER_LISTEN=127.0.0.1:0 JUNCTION_ADMIN_LISTEN=127.0.0.1:0 \
        junction dev --data-dir DIR [--database-url postgres://...]
prints ``junction: admin listening on http://HOST:PORT`` and
``junction: router listening on ws://HOST:PORT/ws`` on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth

from wamp_client import DEFAULT_TIMEOUT, SERIALIZERS, Client, JoinFailed

STARTUP_TIMEOUT = 20.0
ADMIN_RE = re.compile(r"admin listening on (https?://\S+)")
ROUTER_RE = re.compile(r"router listening on (wss?://\S+)")
PG_BASE = os.environ.get("JUNCTION_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


# --------------------------------------------------------------------------- postgres


def _pg_parts() -> tuple[str, str, str]:
    u = urlparse(PG_BASE)
    return u.hostname or "127.0.0.1", str(u.port or 5432), u.username or "postgres"


def psql(sql: str) -> subprocess.CompletedProcess:
    host, port, user = _pg_parts()
    return subprocess.run(
        ["psql", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
    )


def pg_available() -> str | None:
    """None when Postgres answers, else why not."""
    try:
        r = psql("SELECT 1")
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else r.stderr.strip()


def create_pg_database() -> tuple[str, str]:
    """A fresh database: (name, URL)."""
    name = "junction_py_" + uuid.uuid4().hex[:12]
    r = psql(f"CREATE DATABASE {name}")
    assert r.returncode == 0, r.stderr
    host, port, user = _pg_parts()
    return name, f"postgres://{user}@{host}:{port}/{name}"


def drop_pg_database(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --------------------------------------------------------------------------- the process


class Junction:
    """One `junction dev` process."""

    def __init__(self, binary: Path, data_dir: Path, database_url: str | None = None):
        self.stderr_path = data_dir / "junction.stderr.log"
        self.stdout_lines: list[str] = []
        self.admin_url: str | None = None
        self.router_url: str | None = None
        args = [str(binary), "dev", "--data-dir", str(data_dir)]
        if database_url:
            args += ["--database-url", database_url]
        env = {**os.environ, "JUNCTION_ROUTER_LISTEN": "127.0.0.1:0", "JUNCTION_ADMIN_LISTEN": "127.0.0.1:0"}
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env, start_new_session=True
        )
        ready = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                if (m := ADMIN_RE.search(line)) and self.admin_url is None:
                    self.admin_url = m.group(1).rstrip("/")
                if (m := ROUTER_RE.search(line)) and self.router_url is None:
                    self.router_url = m.group(1)
                if self.admin_url and self.router_url:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        ready.wait(STARTUP_TIMEOUT)
        if not (self.admin_url and self.router_url):
            code = self.proc.poll()
            self.stop()
            raise RuntimeError(
                f"junction dev did not print both listening lines within {STARTUP_TIMEOUT}s (exit {code})\n"
                + "\n".join(self.stdout_lines[-30:])
                + "\nstderr:\n"
                + self.stderr_tail()
            )

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            return self.stderr_path.read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._stderr.close()


# --------------------------------------------------------------------------- REST


class ApiError(AssertionError):
    def __init__(self, method: str, path: str, status: int, body):
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.body = body


class Admin:
    """The admin REST API as a tenant owner uses it (stdlib urllib, JSON in and out)."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.token = token

    def request(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                raw = res.read()
                return res.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            return e.code, payload

    def ok(self, method: str, path: str, body: dict | None = None):
        status, payload = self.request(method, path, body)
        if not 200 <= status < 300:
            raise ApiError(method, path, status, payload)
        return payload

    @classmethod
    def signup(cls, base: str, email: str, tenant: str) -> "Admin":
        api = cls(base)
        status, body = api.request(
            "POST", "/v1/signup", {"email": email, "password": "correct horse battery", "tenant_name": tenant}
        )
        assert status == 201, (status, body)
        api.token = body["access_token"]
        return api

    def realm(self, uri: str, **settings) -> str:
        return self.ok("POST", "/v1/realms", {"uri": uri, **settings})["id"]

    def role(self, realm_id: str, name: str) -> str:
        return self.ok("POST", f"/v1/realms/{realm_id}/roles", {"name": name})["id"]

    def rule(self, realm_id: str, role_id: str, uri: str, match: str = "exact", **allow: bool) -> str:
        body = {"uri": uri, "match": match, "allow": allow, "disclose": {}}
        return self.ok("POST", f"/v1/realms/{realm_id}/roles/{role_id}/rules", body)["id"]

    def patch_rule(self, realm_id: str, role_id: str, rule_id: str, **allow: bool) -> dict:
        return self.ok("PATCH", f"/v1/realms/{realm_id}/roles/{role_id}/rules/{rule_id}", {"allow": allow})

    def credential(self, realm_id: str, **body) -> tuple[str, str | None]:
        """Issues a credential: (credential id, secret)."""
        res = self.ok("POST", f"/v1/realms/{realm_id}/credentials", body)
        return res["credential"]["id"], res.get("secret")

    def revoke(self, realm_id: str, credential_id: str) -> None:
        self.ok("POST", f"/v1/realms/{realm_id}/credentials/{credential_id}/revoke", {})

    def client_token(self, realm_id: str, authid: str, role: str, ttl_seconds: int = 300) -> str:
        res = self.ok("POST", f"/v1/realms/{realm_id}/tokens", {"authid": authid, "role": role, "ttl_seconds": ttl_seconds})
        return res["token"]


# --------------------------------------------------------------------------- WAMP


class CraClient(Client):
    """A session that answers a WAMP-CRA challenge with ``secret`` (salted or not)."""

    def __init__(self, realm: str, authid: str, secret: str):
        super().__init__(realm, authid=authid, authmethods=["wampcra"])
        self._secret = secret

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        if challenge.method != "wampcra":
            raise Exception(f"unexpected challenge {challenge.method}")
        key = self._secret.encode("utf8")
        if "salt" in challenge.extra:
            key = auth.derive_key(key, challenge.extra["salt"], challenge.extra["iterations"], challenge.extra["keylen"])
        return auth.compute_wcs(key, challenge.extra["challenge"].encode("utf8")).decode("ascii")


async def join(url: str, session: Client, serializer: str = "json", timeout: float = DEFAULT_TIMEOUT) -> Client:
    """Connect ``session`` and wait for WELCOME; raises :class:`JoinFailed` on ABORT."""
    loop = asyncio.get_running_loop()
    factory = WampWebSocketClientFactory(lambda: session, url=url, serializers=[SERIALIZERS[serializer]()], loop=loop)
    u = urlparse(url)
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except JoinFailed:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(session.disconnected), timeout)
        raise
    return session


async def join_refused(url: str, session: Client) -> JoinFailed:
    """Assert the join is refused; returns the failure (``.reason`` = ABORT reason)."""
    try:
        await join(url, session)
    except JoinFailed as e:
        return e
    await session.close()
    raise AssertionError(f"join as {session.name!r} unexpectedly succeeded")
