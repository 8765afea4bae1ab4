"""Meta API across router pods (issue #5): wamp.session.*, wamp.subscription.* and
wamp.registration.* procedures answer for the whole realm on every pod, meta events reach
observers on other pods, session ids are unique realm-wide, and pods on another prefix are
another router."""

import asyncio

from autobahn.wamp.types import PublishOptions, RegisterOptions, SubscribeOptions

from conftest import RealmSpec
from multipod import log_barrier, wait_callees, wait_sessions, wait_subscribers
from wamp_client import SERIALIZER_NAMES, Inbox, bounded, call_error, valid_id

ACK = PublishOptions(acknowledge=True)


async def test_session_count_list_get_on_every_pod(multipod, ser):
    pods = await multipod()
    alice = await pods.connect(0, ser, authid="alice")
    anon = await pods.connect(0, ser)
    bob = await pods.connect(1, ser, authid="bob")
    carol = await pods.connect(2, ser, authid="carol")
    everyone = [alice, anon, bob, carol]
    ids = [s.id for s in everyone]
    assert len(set(ids)) == 4
    for s in (alice, bob, carol):  # one session on every pod
        await wait_sessions(s, ids)
        assert await bounded(s.call("wamp.session.count")) == 4
        assert await bounded(s.call("wamp.session.count", ["user"])) == 2
        assert await bounded(s.call("wamp.session.count", ["admin", "anonymous"])) == 2
        assert await bounded(s.call("wamp.session.count", ["nobody"])) == 0
        assert sorted(await bounded(s.call("wamp.session.list", ["user"]))) == sorted([alice.id, bob.id])
        assert await bounded(s.call("wamp.session.list", ["admin"])) == [carol.id]
        for target, authid, role, method in [
            (alice, "alice", "user", "ticket"),
            (anon, None, "anonymous", "anonymous"),
            (bob, "bob", "user", "ticket"),
            (carol, "carol", "admin", "ticket"),
        ]:
            got = await bounded(s.call("wamp.session.get", target.id))
            assert got["session"] == target.id
            assert got["authrole"] == role and got["authmethod"] == method
            if authid is not None:
                assert got["authid"] == authid
            assert isinstance(got.get("authprovider"), str)
        err = await call_error(s.call("wamp.session.get", 424242))
        assert err.error == "wamp.error.no_such_session"

    # a session leaving pod 1 leaves every pod's view
    bob_id = bob.id
    await bob.close()
    for s in (alice, carol):
        await wait_sessions(s, [alice.id, anon.id, carol.id])
        assert await bounded(s.call("wamp.session.count", ["user"])) == 1
        err = await call_error(s.call("wamp.session.get", bob_id))
        assert err.error == "wamp.error.no_such_session"


async def test_session_kill_across_pods(multipod, ser):
    pods = await multipod()
    admin = await pods.connect(0, ser, authid="carol")
    bob = await pods.connect(1, ser, authid="bob")
    alice1 = await pods.connect(1, ser, authid="alice")
    alice2 = await pods.connect(2, ser, authid="alice")
    bystander = await pods.connect(2, ser)
    leaves = Inbox()
    s_leave = await bounded(bystander.subscribe(leaves, "wamp.session.on_leave"))
    everyone = [admin, bob, alice1, alice2, bystander]
    await wait_sessions(admin, [s.id for s in everyone])
    for s in (admin, bob):  # pods 0 and 1 know the on_leave subscriber on pod 2
        await wait_subscribers(s, s_leave.id, 1)

    # kill: pod 0 asks pod 1 to close bob's session
    await bounded(admin.call("wamp.session.kill", bob.id, reason="com.example.kicked", message="bye bob"))
    left = await bounded(bob.left, what="GOODBYE to the killed session on pod 1")
    assert (left.reason, left.message) == ("com.example.kicked", "bye bob")
    await bob.wait_disconnected()

    # kill_by_authid reaches every pod; the caller is never counted
    n = await bounded(admin.call("wamp.session.kill_by_authid", "alice", reason="com.example.rotate"))
    assert n == 2
    for s in (alice1, alice2):
        left = await bounded(s.left, what=f"GOODBYE to alice session {s.id}")
        assert left.reason == "com.example.rotate"
    await leaves.wait_for(
        lambda items: {bob.id, alice1.id, alice2.id} <= {r.args[0] for r in items}, what="on_leave of the killed"
    )
    by_session = {r.args[0]: r.args for r in leaves.items}
    assert by_session[bob.id] == (bob.id, "bob", "user")
    assert by_session[alice1.id] == (alice1.id, "alice", "user")
    assert by_session[alice2.id] == (alice2.id, "alice", "user")

    for s in (admin, bystander):
        await wait_sessions(s, [admin.id, bystander.id])
    err = await call_error(admin.call("wamp.session.kill", bob.id))
    assert err.error == "wamp.error.no_such_session"
    # the rest go on
    assert admin.is_attached() and bystander.is_attached()
    assert await bounded(bystander.call("wamp.session.kill_by_authrole", "admin")) == 1
    await bounded(admin.left)


async def test_subscription_and_registration_meta_on_every_pod(multipod, ser):
    pods = await multipod()
    a, b, c = [await pods.connect(i, ser) for i in range(3)]
    exact = [await bounded(s.subscribe(Inbox(), "com.example.m.exact")) for s in (a, b, c)]
    prefix = await bounded(c.subscribe(Inbox(), "com.example.m", options=SubscribeOptions(match="prefix")))
    shared_opts = RegisterOptions(invoke="roundrobin")
    shared = [await bounded(s.register(lambda: "s", "com.example.r.shared", options=shared_opts)) for s in (a, b)]
    single = await bounded(c.register(lambda: "x", "com.example.r.single"))
    wild = await bounded(b.register(lambda: "w", "com.example..wild", options=RegisterOptions(match="wildcard")))
    sub_id, reg_id = exact[0].id, shared[0].id
    assert len({s.id for s in exact}) == 1 and len({r.id for r in shared}) == 1

    for s in (a, b, c):
        await wait_subscribers(s, sub_id, 3)
        await wait_subscribers(s, prefix.id, 1)
        await wait_callees(s, reg_id, 2)
        await wait_callees(s, single.id, 1)
        await wait_callees(s, wild.id, 1)
        assert sorted(await bounded(s.call("wamp.subscription.list_subscribers", sub_id))) == sorted([a.id, b.id, c.id])
        assert await bounded(s.call("wamp.subscription.list_subscribers", prefix.id)) == [c.id]
        assert await bounded(s.call("wamp.subscription.lookup", "com.example.m.exact")) == sub_id
        assert await bounded(s.call("wamp.subscription.lookup", "com.example.m", {"match": "prefix"})) == prefix.id
        matching = await bounded(s.call("wamp.subscription.match", "com.example.m.exact"))
        assert sorted(matching) == sorted([sub_id, prefix.id])
        got = await bounded(s.call("wamp.subscription.get", prefix.id))
        assert (got["id"], got["uri"], got["match"]) == (prefix.id, "com.example.m", "prefix")
        lists = await bounded(s.call("wamp.subscription.list"))
        assert sub_id in lists["exact"] and prefix.id in lists["prefix"]

        assert sorted(await bounded(s.call("wamp.registration.list_callees", reg_id))) == sorted([a.id, b.id])
        assert await bounded(s.call("wamp.registration.list_callees", single.id)) == [c.id]
        assert await bounded(s.call("wamp.registration.lookup", "com.example.r.shared")) == reg_id
        assert await bounded(s.call("wamp.registration.lookup", "com.example..wild", {"match": "wildcard"})) == wild.id
        assert await bounded(s.call("wamp.registration.match", "com.example.x.wild")) == wild.id
        assert await bounded(s.call("wamp.registration.match", "com.example.r.single")) == single.id
        got = await bounded(s.call("wamp.registration.get", reg_id))
        assert (got["id"], got["uri"], got["match"]) == (reg_id, "com.example.r.shared", "exact")
        assert got["invoke"] == "roundrobin"
        lists = await bounded(s.call("wamp.registration.list"))
        assert {reg_id, single.id} <= set(lists["exact"]) and wild.id in lists["wildcard"]

    # pod 1's session unsubscribes, then leaves: every pod sees it
    await bounded(exact[1].unsubscribe())
    for s in (a, c):
        await wait_subscribers(s, sub_id, 2)
        assert sorted(await bounded(s.call("wamp.subscription.list_subscribers", sub_id))) == sorted([a.id, c.id])
    await b.close()
    for s in (a, c):
        await wait_callees(s, reg_id, 1)
        await wait_callees(s, wild.id, 0)
        assert await bounded(s.call("wamp.registration.list_callees", reg_id)) == [a.id]
        assert await bounded(s.call("wamp.registration.lookup", "com.example..wild", {"match": "wildcard"})) is None
        for proc in ("get", "list_callees", "count_callees"):
            err = await call_error(s.call(f"wamp.registration.{proc}", wild.id))
            assert err.error == "wamp.error.no_such_registration", proc


SESSION_EVENTS = ["wamp.session.on_join", "wamp.session.on_leave"]
SUB_EVENTS = [f"wamp.subscription.{e}" for e in ("on_create", "on_subscribe", "on_unsubscribe", "on_delete")]
REG_EVENTS = [f"wamp.registration.{e}" for e in ("on_create", "on_register", "on_unregister", "on_delete")]


async def test_meta_events_from_other_pods(multipod, ser):
    """An observer on pod 0 gets the session, subscription and registration meta events of
    sessions on pods 1 and 2, each pod's in order."""
    pods = await multipod()
    witnesses = [await pods.connect(1, ser), await pods.connect(2, ser)]
    obs = await pods.connect(0, ser)
    inbox = Inbox()
    for topic in SESSION_EVENTS + SUB_EVENTS + REG_EVENTS:
        await bounded(obs.subscribe(inbox.tagged(topic.split(".", 1)[1]), topic))
    await log_barrier(obs, witnesses)  # pods 1 and 2 know the observer's subscriptions

    topic, proc = "com.example.meta.topic", "com.example.meta.proc"
    actor = await pods.connect(1, ser, authid="alice")
    sub = await bounded(actor.subscribe(Inbox(), topic))
    reg = await bounded(actor.register(lambda: 1, proc))
    actor2 = await pods.connect(2, ser, authid="bob")
    await wait_subscribers(actor2, sub.id, 1)  # pod 2 knows the subscription exists
    sub2 = await bounded(actor2.subscribe(Inbox(), topic))
    assert sub2.id == sub.id
    await bounded(sub.unsubscribe())
    await bounded(reg.unregister())
    actor_id, actor2_id = actor.id, actor2.id
    actor.drop()
    await actor2.close()

    def about(session_id):
        """The events about our session/topic/procedure caused by ``session_id``, in arrival order."""
        out = []
        for r in inbox.items:
            if not r.args:
                continue
            if r.tag == "session.on_join":
                if r.args[0].get("session") == session_id:
                    out.append((r.tag, r.args[0]["authid"], r.args[0]["authrole"]))
            elif r.tag == "session.on_leave":
                if r.args[0] == session_id:
                    out.append((r.tag, *r.args))
            elif r.args[0] == session_id:
                if r.tag.endswith("on_create"):
                    if r.args[1]["uri"] in (topic, proc):
                        out.append((r.tag, r.args[1]["uri"], r.args[1]["id"]))
                elif r.args[1] in (sub.id, reg.id):
                    out.append((r.tag, r.args[1]))
        return out

    expected_actor = [
        ("session.on_join", "alice", "user"),
        ("subscription.on_create", topic, sub.id),
        ("subscription.on_subscribe", sub.id),
        ("registration.on_create", proc, reg.id),
        ("registration.on_register", reg.id),
        ("subscription.on_unsubscribe", sub.id),
        ("registration.on_unregister", reg.id),
        ("registration.on_delete", reg.id),
        ("session.on_leave", actor_id, "alice", "user"),
    ]
    expected_actor2 = [
        ("session.on_join", "bob", "user"),
        ("subscription.on_subscribe", sub.id),
        ("subscription.on_unsubscribe", sub.id),
        ("subscription.on_delete", sub.id),
        ("session.on_leave", actor2_id, "bob", "user"),
    ]
    await inbox.wait_for(
        lambda _: len(about(actor_id)) >= len(expected_actor) and len(about(actor2_id)) >= len(expected_actor2),
        what="every meta event of both actors",
    )
    assert about(actor_id) == expected_actor
    # the leave's own order among a leaving session's removals is the router's; compare sets there
    got2 = about(actor2_id)
    assert got2[:2] == expected_actor2[:2] and sorted(got2[2:]) == sorted(expected_actor2[2:]), got2


async def test_session_ids_unique_realm_wide(multipod):
    """20 sessions per pod joining at once: 60 distinct ids, every pod lists all of them."""
    pods = await multipod()
    sessions = await bounded(
        asyncio.gather(*[pods.connect(i % 3, SERIALIZER_NAMES[i % 3]) for i in range(60)]), timeout=30
    )
    ids = [s.id for s in sessions]
    assert all(valid_id(i) for i in ids)
    assert len(set(ids)) == 60
    for probe in sessions[:3]:  # one on each pod
        await wait_sessions(probe, ids, timeout=10)


async def test_prefixes_isolate_pod_sets(multipod, realm_name):
    """Two sets of pods on the same Redis with the same realm but different prefixes are two
    routers: each sees its own sessions and subscribers only."""
    realm = [RealmSpec(realm_name())]
    one = await multipod(n=2, realms=realm)
    two = await multipod(n=2, realms=realm)
    assert one.prefix != two.prefix and one.realm == two.realm
    x0, x1 = await one.connect(0, "json"), await one.connect(1, "msgpack")
    y0, y1 = await two.connect(0, "cbor"), await two.connect(1, "json")
    ix, iy = Inbox(), Inbox()
    sx = await bounded(x1.subscribe(ix, "com.example.iso"))
    sy = await bounded(y1.subscribe(iy, "com.example.iso"))
    for s in (x0, x1):
        await wait_sessions(s, [x0.id, x1.id])
    for s in (y0, y1):
        await wait_sessions(s, [y0.id, y1.id])
    await wait_subscribers(x0, sx.id, 1)
    await wait_subscribers(y0, sy.id, 1)
    await bounded(x0.publish("com.example.iso", "one", options=ACK))
    await bounded(y0.publish("com.example.iso", "two", options=ACK))
    await ix.wait_args(("one",))
    await iy.wait_args(("two",))
    await bounded(x0.publish("com.example.iso", "one-end", options=ACK))
    await ix.wait_args(("one-end",))
    assert ix.args == [("one",), ("one-end",)] and iy.args == [("two",)]
    assert await bounded(x0.call("wamp.subscription.count_subscribers", sx.id)) == 1
    assert await bounded(y0.call("wamp.subscription.count_subscribers", sy.id)) == 1
    assert sorted(await bounded(y1.call("wamp.session.list"))) == sorted([y0.id, y1.id])
