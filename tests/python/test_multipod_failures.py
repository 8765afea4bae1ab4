"""Failures and Redis shapes (issue #5): a pod killed with SIGKILL, Redis lost and restarted
under running pods, and pods on a Redis Cluster. One serializer per pod (not parametrised:
these are the slow tests)."""

import asyncio
import time

from autobahn.wamp.types import PublishOptions

from multipod import (
    POD_LOSS_BOUND,
    REDIS_RECOVERY_TIMEOUT,
    RedisTarget,
    wait_callees,
    wait_session_count,
    wait_sessions,
    wait_subscribers,
    wait_until,
)
from test_rpc import CANCELED, slow_callee
from wamp_client import Inbox, bounded, call_error

ACK = PublishOptions(acknowledge=True)


async def test_pod_loss(multipod):
    """kill -9 pod 2: within 5 s pods 0 and 1 drop its sessions (on_leave), subscriptions and
    registrations, fail the call pending on its callee with wamp.error.canceled, and publish
    its session's testament (once)."""
    pods = await multipod()
    obs = await pods.connect(0, "json")
    caller = await pods.connect(1, "msgpack")
    victim = await pods.connect(2, "cbor", authid="alice")
    bystander = await pods.connect(2, "json")

    victim_sub = await bounded(victim.subscribe(Inbox(), "com.example.victim.topic"))
    state, (slow_id, ping_id) = await slow_callee(victim)
    await bounded(
        victim.call("wamp.session.add_testament", "com.example.testament", ["gone", b"\x00\xff"], {"who": "alice"})
    )
    leaves, testaments = Inbox(), Inbox()
    s_leave = await bounded(obs.subscribe(leaves, "wamp.session.on_leave"))
    s_testament = await bounded(obs.subscribe(testaments, "com.example.testament"))
    everyone = [obs.id, caller.id, victim.id, bystander.id]
    # the dead pod's sessions are reaped by pod 0 or pod 1: both must know everything first
    for s in (obs, caller):
        await wait_sessions(s, everyone)
        await wait_subscribers(s, s_leave.id, 1)
        await wait_subscribers(s, s_testament.id, 1)
        await wait_subscribers(s, victim_sub.id, 1)
        await wait_callees(s, slow_id, 1)
    assert await bounded(caller.call("com.example.ping")) == "pong"
    pending = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION on pod 2")

    t0 = time.monotonic()
    pods[2].kill()

    def left() -> float:
        return max(t0 + POD_LOSS_BOUND - time.monotonic(), 0.01)

    err = await call_error(pending, timeout=left())
    assert err.error == CANCELED
    await leaves.wait_for(
        lambda items: {victim.id, bystander.id} <= {r.args[0] for r in items},
        timeout=left(),
        what="on_leave of pod 2's sessions",
    )
    by_session = {r.args[0]: r.args for r in leaves.items}
    assert by_session[victim.id] == (victim.id, "alice", "user")
    assert by_session[bystander.id][2] == "anonymous"
    await testaments.wait_count(1, timeout=left())
    assert [(r.args, r.kwargs) for r in testaments.items] == [(("gone", b"\x00\xff"), {"who": "alice"})]
    for s in (obs, caller):
        await wait_sessions(s, [obs.id, caller.id], timeout=left())
        await wait_callees(s, slow_id, 0, timeout=left())
        await wait_callees(s, ping_id, 0, timeout=left())
        await wait_subscribers(s, victim_sub.id, 0, timeout=left())
    elapsed = time.monotonic() - t0
    assert elapsed <= POD_LOSS_BOUND, elapsed

    err = await call_error(caller.call("com.example.ping"))
    assert err.error == "wamp.error.no_such_procedure"
    # the survivors route on, and the testament was published once: a later event on its topic
    # from pod 1 (the sentinel) arrives with nothing before it but the one testament
    await bounded(caller.publish("com.example.testament", "sentinel", options=ACK))
    await testaments.wait_args(("sentinel",))
    assert testaments.args == [("gone", b"\x00\xff"), ("sentinel",)]
    await bounded(obs.register(lambda: "from-pod-0", "com.example.survivor"))
    await wait_until(lambda: caller.call("com.example.survivor"), "from-pod-0")


async def test_redis_loss(multipod, redis_server):
    """A private Redis under 2 pods is killed: /readyz turns 503 and routing inside a pod goes
    on; Redis restarts empty on the same port: /readyz is 200 again and the pods re-announce
    their state, so cross-pod pub/sub and RPC work again for sessions joined before the outage,
    without restarting the pods."""
    server = redis_server()
    pods = await multipod(n=2, redis=RedisTarget([server.url]))
    assert await pods.readyz() == [200, 200]
    a, local = await pods.connect(0, "json"), await pods.connect(0, "cbor")
    b = await pods.connect(1, "msgpack")
    ib, il = Inbox(), Inbox()
    sb = await bounded(b.subscribe(ib, "com.example.cross"))
    sl = await bounded(local.subscribe(il, "com.example.local"))
    rb = await bounded(b.register(lambda x: ["b", x], "com.example.b.proc"))
    await bounded(local.register(lambda x: ["local", x], "com.example.local.proc"))
    await wait_subscribers(a, sb.id, 1)
    await wait_callees(a, rb.id, 1)
    await bounded(a.publish("com.example.cross", "before", options=ACK))
    await ib.wait_args(("before",))
    assert await bounded(a.call("com.example.b.proc", 1)) == ["b", 1]

    server.kill()
    await wait_until(pods.readyz, [503, 503], timeout=REDIS_RECOVERY_TIMEOUT, what="/readyz 503 without Redis")
    # routing between two sessions of pod 0 goes on: what they had, and what they add now
    await bounded(a.publish("com.example.local", "during", options=ACK))
    await il.wait_args(("during",))
    assert await bounded(a.call("com.example.local.proc", 2)) == ["local", 2]
    inew = Inbox()
    s_new = await bounded(local.subscribe(inew, "com.example.local.new"), what="SUBSCRIBED without Redis")
    r_new = await bounded(
        local.register(lambda: "new-proc", "com.example.local.new.proc"), what="REGISTERED without Redis"
    )
    await bounded(a.publish("com.example.local.new", "new", options=ACK))
    await inew.wait_args(("new",))
    assert await bounded(a.call("com.example.local.new.proc")) == "new-proc"
    assert il.args == [("during",)]

    server.start()  # same port, empty: the shared log is gone
    await wait_until(pods.readyz, [200, 200], timeout=REDIS_RECOVERY_TIMEOUT, what="/readyz 200 after Redis is back")
    # pod 0 learns pod 1's state again, and pod 1 pod 0's (including what was added during the outage)
    await wait_subscribers(a, sb.id, 1, timeout=REDIS_RECOVERY_TIMEOUT)
    await wait_callees(a, rb.id, 1, timeout=REDIS_RECOVERY_TIMEOUT)
    await wait_subscribers(b, s_new.id, 1, timeout=REDIS_RECOVERY_TIMEOUT)
    await wait_callees(b, r_new.id, 1, timeout=REDIS_RECOVERY_TIMEOUT)
    for s in (a, b):
        await wait_sessions(s, [a.id, local.id, b.id], timeout=REDIS_RECOVERY_TIMEOUT)
    await bounded(a.publish("com.example.cross", "after", options=ACK))
    await ib.wait_args(("after",))
    assert ib.args == [("before",), ("after",)]
    assert await bounded(a.call("com.example.b.proc", 3)) == ["b", 3]
    await bounded(b.publish("com.example.local.new", "from-pod-1", options=ACK))
    await inew.wait_args(("from-pod-1",))
    assert await bounded(b.call("com.example.local.new.proc")) == "new-proc"
    await wait_subscribers(b, sl.id, 1)
    await bounded(b.publish("com.example.local", "from-pod-1", options=ACK))
    await il.wait_args(("from-pod-1",))
    # and a session joining now is seen on both pods
    late = await pods.connect(1, "json")
    await wait_session_count(a, 4)
    assert await bounded(late.call("wamp.session.count")) == 4


async def test_redis_cluster(multipod, redis_cluster):
    """3 pods on a 3-master Redis Cluster (sharded pub/sub): cross-pod pub/sub, RPC and meta."""
    cluster = await asyncio.to_thread(redis_cluster, 3)
    pods = await multipod(redis=cluster.target())
    assert all(p.args[-1] == "--redis-cluster" for p in pods)
    assert await pods.readyz() == [200, 200, 200]
    a, b, c = await pods.connect_each()
    ib, ic = Inbox(), Inbox()
    sb = await bounded(b.subscribe(ib, "com.example.cluster"))
    await bounded(c.subscribe(ic, "com.example.cluster"))
    rc = await bounded(c.register(lambda x: ["c", x], "com.example.cluster.proc"))
    for s in (a, b, c):
        await wait_sessions(s, [a.id, b.id, c.id])
    await wait_subscribers(a, sb.id, 2)
    await wait_callees(a, rc.id, 1)
    await wait_callees(b, rc.id, 1)
    for i in range(50):
        a.publish("com.example.cluster", i)
    await bounded(a.publish("com.example.cluster", "end", options=ACK))
    for inbox in (ib, ic):
        await inbox.wait_args(("end",))
        assert inbox.args == [(i,) for i in range(50)] + [("end",)]
    assert await bounded(a.call("com.example.cluster.proc", 1)) == ["c", 1]
    assert await bounded(b.call("com.example.cluster.proc", 2)) == ["c", 2]
    for s in (a, b, c):
        assert await bounded(s.call("wamp.session.count")) == 3
        assert await bounded(s.call("wamp.subscription.count_subscribers", sb.id)) == 2
