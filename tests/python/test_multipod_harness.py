"""The multi-pod harness itself (multipod.py): pods on port 0 with the test's Redis and prefix,
private Redis servers and clusters, killing pods, cleanup. These hold whether or not the pods
share state, so they also tell a harness problem from a backplane problem."""

import asyncio
import os

from autobahn.wamp.types import PublishOptions

from conftest import RealmSpec, close_routers
from multipod import (
    SHARED_REDIS_URL,
    Pod,
    PodSet,
    RedisTarget,
    host_port,
    delete_prefix,
    keys_under,
    new_prefix,
    redis_command,
    redis_ping,
    shared_redis,
)
from wamp_client import Inbox, bounded, valid_id

ACK = PublishOptions(acknowledge=True)


async def test_three_pods_start_with_the_tests_redis_and_prefix(multipod):
    pods = await multipod()
    assert len(pods) == 3
    urls = [p.url for p in pods]
    assert len(set(urls)) == 3, urls
    assert all(u.startswith("ws://127.0.0.1:") and u.endswith("/ws") for u in urls), urls
    assert [await p.http_status("/healthz") for p in pods] == [200, 200, 200]
    assert await pods.readyz() == [200, 200, 200]
    # every pod: the same config (same static realms), the same Redis and prefix
    assert len({p.config_path.read_text() for p in pods}) == 1
    assert all(p.args == ["--redis-url", SHARED_REDIS_URL, "--redis-prefix", pods.prefix] for p in pods)
    assert all(p.alive for p in pods)
    # another set in the same test: its own prefix
    more = await multipod(n=2)
    assert more.prefix != pods.prefix and more.prefix.startswith("t-") and pods.prefix.startswith("t-")
    assert more.realm != pods.realm
    assert len({p.url for p in list(pods) + list(more)}) == 5


async def test_single_pod_routes_with_the_redis_flags(multipod, ser):
    """One pod on the Redis backplane is a complete router: pub/sub, RPC and meta inside it."""
    pods = await multipod(n=1)
    sub, pub = await pods.connect(0, ser), await pods.connect(0, ser, authid="alice")
    inbox = Inbox()
    s = await bounded(sub.subscribe(inbox, "com.example.single"))
    assert valid_id(s.id)
    for i in range(3):
        pub.publish("com.example.single", i)
    publication = await bounded(pub.publish("com.example.single", "end", options=ACK))
    assert valid_id(publication.id)
    await inbox.wait_args(("end",))
    assert inbox.args == [(0,), (1,), (2,), ("end",)]
    reg = await bounded(sub.register(lambda a, b: a + b, "com.example.add"))
    assert valid_id(reg.id)
    assert await bounded(pub.call("com.example.add", 2, 3)) == 5
    assert await bounded(pub.call("wamp.session.count")) == 2
    assert sorted(await bounded(pub.call("wamp.session.list"))) == sorted([sub.id, pub.id])
    assert await bounded(pub.call("wamp.registration.lookup", "com.example.add")) == reg.id


async def test_pod_set_cleanup(request, tmp_path):
    """What the fixture does after a test, driven by hand so that its effects can be checked:
    sessions dropped, pods stopped (a pod the test killed is not reported as a problem), keys
    under the prefix deleted from the shared Redis."""
    redis = shared_redis()
    host, port = host_port(redis.urls[0])
    prefix = new_prefix()
    realms = [RealmSpec(f"test.cleanup.{os.urandom(4).hex()}")]
    pods = []
    try:
        for i in range(2):
            workdir = tmp_path / f"pod{i}"
            workdir.mkdir()
            pods.append(Pod(workdir, realms, i, redis.cli_args(prefix), 1 << 20))
        request.node._junction_logs = list(pods)
        ps = PodSet(pods, realms, prefix, redis)
        a, b = await ps.connect(0, "json"), await ps.connect(1, "cbor")
        redis_command(host, port, "SET", f"{prefix}:probe", "1")
        redis_command(host, port, "SET", f"{prefix}:{{{realms[0].uri}}}:probe", "1")
        pids = [p.proc.pid for p in pods]
        assert len(keys_under(redis.urls[0], prefix)) >= 2

        ps[1].kill()  # as the pod-loss tests do
        assert not ps[1].alive
        await b.wait_disconnected()
    finally:
        problems = await close_routers(pods)
        delete_prefix(redis.urls[0], prefix)
    assert problems == []
    assert a.disconnected.done() and b.disconnected.done()
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"pod process {pid} still running"
    assert keys_under(redis.urls[0], prefix) == []


async def test_pod_killed_others_go_on(multipod, ser):
    pods = await multipod(n=2)
    victim = await pods.connect(1, ser)
    pods[1].kill()
    await victim.wait_disconnected()
    assert not pods[1].alive and pods[0].alive
    a, b = await pods.connect(0, ser), await pods.connect(0, ser)
    inbox = Inbox()
    await bounded(a.subscribe(inbox, "com.example.after"))
    await bounded(b.publish("com.example.after", "ok", options=ACK))
    await inbox.wait_args(("ok",))


async def test_private_redis_server_kill_and_restart(redis_server):
    server = redis_server()
    assert server.url == f"redis://127.0.0.1:{server.port}"
    assert server.command("SET", "k", "v") == "OK"
    server.kill()
    assert not redis_ping("127.0.0.1", server.port)
    server.start()  # same port, nothing kept
    assert redis_ping("127.0.0.1", server.port)
    assert server.command("GET", "k") is None


async def test_pods_on_a_private_redis(multipod, redis_server):
    server = redis_server()
    pods = await multipod(n=2, redis=RedisTarget([server.url]))
    assert pods[0].args == ["--redis-url", server.url, "--redis-prefix", pods.prefix]
    assert await pods.readyz() == [200, 200]


async def test_redis_cluster_fixture(redis_cluster):
    cluster = await asyncio.to_thread(redis_cluster, 3)
    assert len(cluster.nodes) == 3 and len({n.port for n in cluster.nodes}) == 3
    for node in cluster.nodes:
        info = node.command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info
        assert "cluster_slots_assigned:16384" in info
        assert "cluster_known_nodes:3" in info
    urls = ",".join(cluster.urls)
    assert cluster.target().cli_args("p") == ["--redis-url", urls, "--redis-prefix", "p", "--redis-cluster"]
