"""Multi-pod harness: several ``junction router`` pods sharing one Redis, as one router.

A test asks the ``multipod`` fixture for a set of pods::

    pods = await multipod()                  # 3 pods on the shared Redis, fresh realm and prefix
    pub = await pods.connect(0, ser)         # a session on pod 0
    sub = await pods.connect(1, ser, authid="alice")

Every pod is a separate process (``junction router --config FILE --redis-url URL
--redis-prefix PREFIX [--redis-cluster]``) listening on 127.0.0.1 port 0, started from the
same config (same static realms) with the same Redis and prefix. The prefix is unique per
``multipod()`` call (``t-<uuid>``), the realm name unique per test, so tests never share state
in Redis; the keys under a prefix on the shared Redis are deleted after the test.

Redis: the shared one at ``JUNCTION_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``, the
one CI starts; tests skip when it is not reachable), or a private ``redis-server`` / Redis
Cluster started by the ``redis_server`` / ``redis_cluster`` fixtures on free loopback ports
(tests skip when ``redis-server`` is not installed).

Synchronisation. Pods apply the realm's op log asynchronously: a SUBSCRIBED / REGISTERED /
WELCOME means the op is in the log, not that every other pod has applied it yet. A test that
needs pod X to know about a change made on pod Y waits for X to show it, through the meta API
of a session on X, polled with a deadline (:func:`wait_until` and the helpers on top of it).
These polls are on observable state; they are never sleeps. :func:`log_barrier` waits until
pods have applied everything appended to the realm's log so far (for state the meta API does
not show, e.g. retained events).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import pytest
from autobahn.wamp.exception import ApplicationError

from conftest import MAX_MESSAGE_SIZE, RealmSpec, Router, close_routers, new_realm
from wamp_client import SERIALIZER_NAMES, Client

SHARED_REDIS_URL = os.environ.get("JUNCTION_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI", "redis-cli")

# How long a change on one pod may take to show on another (the log push); a bound, not a delay.
PROPAGATION_TIMEOUT = 5.0
# Issue #5: a dead pod's sessions, subscriptions and registrations are gone within 5 s.
POD_LOSS_BOUND = 5.0
# Starting a Redis server / cluster, and Redis coming back after a restart (reconnect backoff).
REDIS_START_TIMEOUT = 20.0
REDIS_RECOVERY_TIMEOUT = 20.0
# A pod started on a reachable Redis answers /readyz 200 within this.
POD_READY_TIMEOUT = 10.0


# --------------------------------------------------------------------------- polling


class _Truthy:
    def __repr__(self):
        return "<truthy>"


TRUTHY = _Truthy()


async def wait_until(
    probe: Callable[[], Any],
    expect: Any = TRUTHY,
    *,
    timeout: float = PROPAGATION_TIMEOUT,
    what: str = "",
    interval: float = 0.02,
):
    """Poll ``probe()`` (a plain function or one returning an awaitable) until its value is
    truthy, or equal to ``expect`` when given, and return that value. A WAMP error
    (``ApplicationError``, e.g. ``no_such_subscription`` before a pod knows the subscription)
    counts as "not yet". Fails the test with the last value seen when ``timeout`` passes.

    This is how a test waits for a pod to reflect a change made on another pod: a bounded poll
    of observable state (``interval`` is the pause between two probes, not a synchronisation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = "<never probed>"
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await asyncio.wait_for(value, max(deadline - loop.time(), 1.0))
        except ApplicationError as e:
            last = f"ApplicationError({e.error})"
        except asyncio.TimeoutError:
            last = "<probe timed out>"
        else:
            if (bool(value) if expect is TRUTHY else value == expect):
                return value
            last = value
        if loop.time() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or 'condition'}: "
                f"expected {expect!r}, last value {last!r}"
            )
        await asyncio.sleep(interval)


def _count_or_zero(no_such: str):
    async def probe(session, procedure, *args):
        try:
            return await session.call(procedure, *args)
        except ApplicationError as e:
            if e.error == no_such:
                return 0
            raise

    return probe


_subscribers = _count_or_zero("wamp.error.no_such_subscription")
_callees = _count_or_zero("wamp.error.no_such_registration")


async def wait_subscribers(session: Client, subscription_id: int, n: int, timeout: float = PROPAGATION_TIMEOUT):
    """Wait until ``session``'s pod counts ``n`` subscribers (on every pod) on the subscription
    (0: the subscription is gone)."""
    return await wait_until(
        lambda: _subscribers(session, "wamp.subscription.count_subscribers", subscription_id),
        n,
        timeout=timeout,
        what=f"{n} subscribers on subscription {subscription_id} seen from session {session.id}",
    )


async def wait_callees(session: Client, registration_id: int, n: int, timeout: float = PROPAGATION_TIMEOUT):
    """Wait until ``session``'s pod counts ``n`` callees (on every pod) on the registration
    (0: the registration is gone)."""
    return await wait_until(
        lambda: _callees(session, "wamp.registration.count_callees", registration_id),
        n,
        timeout=timeout,
        what=f"{n} callees on registration {registration_id} seen from session {session.id}",
    )


async def wait_session_count(session: Client, n: int, timeout: float = PROPAGATION_TIMEOUT, authroles=None):
    """Wait until ``session``'s pod counts ``n`` sessions in the realm (on every pod)."""
    args = (authroles,) if authroles is not None else ()
    return await wait_until(
        lambda: session.call("wamp.session.count", *args),
        n,
        timeout=timeout,
        what=f"wamp.session.count{args} == {n} seen from session {session.id}",
    )


async def wait_sessions(session: Client, ids, timeout: float = PROPAGATION_TIMEOUT):
    """Wait until ``session``'s pod lists exactly the sessions ``ids`` in the realm."""
    want = sorted(ids)

    async def probe():
        return sorted(await session.call("wamp.session.list"))

    return await wait_until(probe, want, timeout=timeout, what=f"wamp.session.list seen from session {session.id}")


async def log_barrier(writer: Client, readers: list[Client], timeout: float = PROPAGATION_TIMEOUT):
    """Wait until the pod of every session in ``readers`` has applied every op appended to the
    realm's log before this call (by any pod, as long as it was acknowledged: SUBSCRIBED,
    REGISTERED, WELCOME, PUBLISHED of a retained event...).

    ``writer`` subscribes a fresh marker topic: its SUBSCRIBED means the marker is in the log,
    after every op acknowledged before it; a pod applies the log in order, so once a reader's
    pod knows the marker subscription it has applied everything before it. The marker is then
    unsubscribed."""
    marker = f"junction.test.barrier.{uuid.uuid4().hex}"
    sub = await asyncio.wait_for(writer.subscribe(lambda *a, **kw: None, marker), timeout)
    for reader in readers:
        await wait_until(
            lambda: reader.call("wamp.subscription.lookup", marker),
            sub.id,
            timeout=timeout,
            what=f"log barrier {marker} seen from session {reader.id}",
        )
    await asyncio.wait_for(sub.unsubscribe(), timeout)


# --------------------------------------------------------------------------- Redis


class RedisError(Exception):
    pass


def _resp_encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise RedisError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise RedisError(f"unexpected reply {line!r}")


def redis_command(host: str, port: int, *args, timeout: float = 5.0):
    """One command over a fresh RESP2 connection (blocking; for fixtures). Raises OSError when
    the server is unreachable and RedisError on an error reply."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(_resp_encode(args))
        with s.makefile("rb") as f:
            return _resp_read(f)


def redis_ping(host: str, port: int) -> bool:
    try:
        return redis_command(host, port, "PING", timeout=1.0) == "PONG"
    except (OSError, RedisError):
        return False


def host_port(url: str) -> tuple[str, int]:
    u = urlparse(url)
    return u.hostname or "127.0.0.1", u.port or 6379


def _poll_blocking(check: Callable[[], bool], timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)  # poll interval; the condition is checked again


def free_port(cluster: bool = False) -> int:
    """A free loopback port (for a cluster node: one whose bus port, port + 10000, is free too)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster:
            return port
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


@dataclass
class RedisTarget:
    """The Redis a set of pods shares: one URL, or the seed URLs of a cluster."""

    urls: list[str]
    cluster: bool = False

    def cli_args(self, prefix: str) -> list[str]:
        args = ["--redis-url", ",".join(self.urls), "--redis-prefix", prefix]
        if self.cluster:
            args.append("--redis-cluster")
        return args


class RedisServer:
    """A private ``redis-server`` on a loopback port, nothing on disk; killable and restartable
    on the same port."""

    def __init__(self, workdir: Path, port: int | None = None, cluster: bool = False, label: str | None = None):
        self.port = port or free_port(cluster)
        self.cluster = cluster
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "redis.log"
        self.label = label or f"redis-server :{self.port}"
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--protected-mode", "no", "--dir", str(self.dir), "--logfile", str(self.log_path)]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.dir / f"nodes-{self.port}.conf")]
            args += ["--cluster-node-timeout", "2000"]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            _poll_blocking(
                lambda: self.proc.poll() is None and redis_ping("127.0.0.1", self.port),
                REDIS_START_TIMEOUT,
                f"{self.label} answering PING",
            )
        except AssertionError:
            code = self.proc.poll()
            self.kill()
            pytest.fail(f"{self.label} did not start (exit code {code}):\n{self.stderr_tail()}", pytrace=False)

    def kill(self):
        """SIGKILL: connections drop at once, the data is gone (nothing on disk)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)

    def command(self, *args):
        return redis_command("127.0.0.1", self.port, *args)

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


class RedisCluster:
    """A Redis Cluster of ``masters`` masters (no replicas) on free loopback ports."""

    def __init__(self, workdir: Path, masters: int = 3, nodes: list[RedisServer] | None = None):
        # ``nodes``: the caller's list to collect the nodes in as they start (so a failed create
        # still lets it stop the ones running)
        self.nodes: list[RedisServer] = []
        for i in range(masters):
            node = RedisServer(workdir, cluster=True, label=f"redis cluster node {i}")
            self.nodes.append(node)
            if nodes is not None:
                nodes.append(node)
        addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
        out = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addrs, "--cluster-replicas", "0", "--cluster-yes"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=REDIS_START_TIMEOUT,
        )
        if out.returncode != 0:
            raise AssertionError(f"redis-cli --cluster create failed:\n{out.stdout.decode()}{out.stderr.decode()}")
        for node in self.nodes:
            _poll_blocking(
                lambda: "cluster_state:ok" in (self._info(node) or ""),
                REDIS_START_TIMEOUT,
                f"cluster_state:ok on {node.label}",
            )

    @staticmethod
    def _info(node: RedisServer) -> str | None:
        try:
            return node.command("CLUSTER", "INFO")
        except (OSError, RedisError):
            return None

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def target(self) -> RedisTarget:
        return RedisTarget(self.urls, cluster=True)

    def kill(self):
        for n in self.nodes:
            n.kill()


def _logs(request) -> list:
    """The processes whose logs the report of a failing test shows (conftest's hook)."""
    node = request.node
    if not hasattr(node, "_junction_logs"):
        node._junction_logs = []
    return node._junction_logs


@pytest.fixture
def redis_server(request, tmp_path):
    """Factory of private ``redis-server`` processes (stopped after the test)."""
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip(f"{REDIS_SERVER} not installed")
    servers: list[RedisServer] = []

    def make(port: int | None = None) -> RedisServer:
        s = RedisServer(tmp_path / "redis", port=port)
        servers.append(s)
        _logs(request).append(s)
        return s

    yield make
    for s in servers:
        s.kill()


@pytest.fixture
def redis_cluster(request, tmp_path):
    """Factory of private Redis Clusters (every node stopped after the test)."""
    if shutil.which(REDIS_SERVER) is None or shutil.which(REDIS_CLI) is None:
        pytest.skip(f"{REDIS_SERVER} / {REDIS_CLI} not installed")
    nodes: list[RedisServer] = []

    def make(masters: int = 3) -> RedisCluster:
        first = len(nodes)
        try:
            return RedisCluster(tmp_path / f"cluster{first}", masters, nodes=nodes)
        finally:
            _logs(request).extend(nodes[first:])

    yield make
    for node in nodes:
        node.kill()


# --------------------------------------------------------------------------- pods


def new_prefix() -> str:
    return f"t-{uuid.uuid4().hex}"


def shared_redis() -> RedisTarget:
    host, port = host_port(SHARED_REDIS_URL)
    if not redis_ping(host, port):
        pytest.skip(f"Redis unavailable at {SHARED_REDIS_URL} (set JUNCTION_TEST_REDIS_URL)")
    return RedisTarget([SHARED_REDIS_URL])


def keys_under(url: str, prefix: str) -> list[str]:
    """Every key under ``prefix`` on the Redis at ``url``."""
    host, port = host_port(url)
    keys, cursor = [], "0"
    while True:
        cursor, batch = redis_command(host, port, "SCAN", cursor, "MATCH", f"{prefix}*", "COUNT", 1000)
        keys += batch
        if cursor == "0":
            return keys


def delete_prefix(url: str, prefix: str):
    """Delete every key under ``prefix`` on the Redis at ``url`` (best effort)."""
    host, port = host_port(url)
    try:
        keys = keys_under(url, prefix)
        for i in range(0, len(keys), 500):
            redis_command(host, port, "UNLINK", *keys[i : i + 500])
    except (OSError, RedisError):
        pass


class Pod(Router):
    """One router pod: a ``junction router`` process on a Redis backplane."""

    def __init__(self, workdir: Path, realms: list[RealmSpec], index: int, args: list[str], max_message_size: int):
        self.index = index
        super().__init__(workdir, realms, max_message_size, args=args, label=f"junction pod {index}")

    @property
    def http_url(self) -> str:
        u = urlparse(self.url)
        return f"http://{u.hostname}:{u.port}"

    def _http_status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.http_url + path, timeout=3) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    async def http_status(self, path: str) -> int:
        return await asyncio.to_thread(self._http_status, path)

    async def readyz(self) -> int:
        """The status of ``GET /readyz``: 200 with the backplane reachable, 503 otherwise."""
        return await self.http_status("/readyz")

    def kill(self):
        """SIGKILL the pod (no goodbye, no cleanup: its heartbeat just stops)."""
        self.stopped_by_us = True
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


class PodSet:
    """Pods sharing one Redis, prefix and config (hence realms): one router to clients."""

    def __init__(self, pods: list[Pod], realms: list[RealmSpec], prefix: str, redis: RedisTarget):
        self.pods = pods
        self.realms = realms
        self.realm = realms[0].uri
        self.prefix = prefix
        self.redis = redis

    def __getitem__(self, i) -> Pod:
        return self.pods[i]

    def __len__(self):
        return len(self.pods)

    def __iter__(self):
        return iter(self.pods)

    async def connect(self, pod: int, ser: str, authid: str | None = None, **kwargs) -> Client:
        """A session on pod ``pod`` (anonymous, or as ticket principal ``authid``)."""
        return await self.pods[pod].connect(ser, authid=authid, **kwargs)

    async def connect_each(self, ser: str | None = None, authid: str | None = None) -> list[Client]:
        """One session per pod; with ``ser`` None pod i uses ``SERIALIZER_NAMES[i % 3]``."""
        return [
            await self.connect(i, ser or SERIALIZER_NAMES[i % len(SERIALIZER_NAMES)], authid=authid)
            for i in range(len(self.pods))
        ]

    async def readyz(self) -> list[int]:
        return list(await asyncio.gather(*(p.readyz() for p in self.pods)))


@pytest.fixture
async def multipod(request, tmp_path):
    """Start pods: ``await multipod(n=3, realms=None, redis=None, prefix=None, ready=True)``.
    Default: 3 pods on the shared Redis, a fresh realm (anonymous + the default ticket
    principals) and a fresh prefix. ``redis`` is a :class:`RedisTarget` (e.g.
    ``RedisTarget([server.url])``, or ``cluster.target()``). With ``ready`` the pods are handed
    over once every one answers ``/readyz`` 200 (bounded by ``POD_READY_TIMEOUT``), as a load
    balancer would wait for them. Pods are stopped after the test (SIGTERM, then SIGKILL), a pod that
    died on its own fails the test, every pod's stderr is attached to a failure, and the keys
    under the prefix are deleted from the shared Redis."""
    started: list[Pod] = []
    used: list[tuple[RedisTarget, str]] = []
    counter = [0]

    async def make(
        n: int = 3,
        realms: list[RealmSpec] | None = None,
        redis: RedisTarget | None = None,
        prefix: str | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        ready: bool = True,
    ) -> PodSet:
        redis = redis or shared_redis()
        prefix = prefix or new_prefix()
        realms = realms or [RealmSpec(new_realm(request))]
        used.append((redis, prefix))
        args = redis.cli_args(prefix)
        indices = list(range(counter[0], counter[0] + n))
        counter[0] += n

        def start(i: int) -> Pod:
            workdir = tmp_path / f"pod{i}"
            workdir.mkdir()
            return Pod(workdir, realms, i, args, max_message_size)

        # in parallel: each start waits for the pod's listening line
        results = await asyncio.gather(*(asyncio.to_thread(start, i) for i in indices), return_exceptions=True)
        pods = [r for r in results if isinstance(r, Pod)]
        started.extend(pods)
        _logs(request).extend(pods)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        podset = PodSet(pods, realms, prefix, redis)
        if ready:
            await wait_until(
                podset.readyz, [200] * n, timeout=POD_READY_TIMEOUT, what=f"/readyz 200 on every pod of {prefix}"
            )
        return podset

    yield make

    problems = await close_routers(started)
    for redis, prefix in used:
        if not redis.cluster:
            delete_prefix(redis.urls[0], prefix)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
