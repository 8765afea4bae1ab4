"""Session meta API and testaments (advanced profile)."""

import asyncio

import pytest
from autobahn.wamp.types import PublishOptions

from conftest import RealmSpec
from wamp_client import Inbox, bounded, call_error

ACK = PublishOptions(acknowledge=True)


async def _watch_leaves(router, ser):
    obs = await router.connect(ser)
    leaves = Inbox()
    await obs.subscribe(leaves, "wamp.session.on_leave")
    return obs, leaves


async def _left(leaves, *session_ids):
    await leaves.wait_for(
        lambda items: set(session_ids) <= {r.args[0] for r in items if r.args}, what=f"on_leave for {session_ids}"
    )


async def test_session_count_and_list(router, ser):
    obs = await router.connect(ser)  # anonymous
    alice = await router.connect(ser, authid="alice")
    bob = await router.connect(ser, authid="bob")
    carol = await router.connect(ser, authid="carol")
    everyone = sorted([obs.id, alice.id, bob.id, carol.id])

    assert await bounded(obs.call("wamp.session.count")) == 4
    assert await bounded(obs.call("wamp.session.count", ["user"])) == 2
    assert await bounded(obs.call("wamp.session.count", ["admin", "anonymous"])) == 2
    assert await bounded(obs.call("wamp.session.count", ["nobody"])) == 0
    assert sorted(await bounded(obs.call("wamp.session.list"))) == everyone
    assert sorted(await bounded(obs.call("wamp.session.list", ["user"]))) == sorted([alice.id, bob.id])
    assert await bounded(obs.call("wamp.session.list", ["admin"])) == [carol.id]

    _, leaves = await _watch_leaves(router, ser)
    await bob.close()
    await _left(leaves, bob.id)
    assert await bounded(obs.call("wamp.session.count", ["user"])) == 1
    assert bob.id not in await bounded(obs.call("wamp.session.list"))


async def test_session_get(router, ser):
    obs = await router.connect(ser)
    alice = await router.connect(ser, authid="alice")
    got = await bounded(obs.call("wamp.session.get", alice.id))
    assert got["session"] == alice.id
    assert got["authid"] == "alice"
    assert got["authrole"] == "user"
    assert got["authmethod"] == "ticket"
    assert isinstance(got.get("authprovider"), str)
    me = await bounded(obs.call("wamp.session.get", obs.id))
    assert me["session"] == obs.id and me["authrole"] == "anonymous" and me["authmethod"] == "anonymous"
    err = await call_error(obs.call("wamp.session.get", 424242))
    assert err.error == "wamp.error.no_such_session"


async def test_session_kill(router, ser):
    admin = await router.connect(ser, authid="carol")
    bob = await router.connect(ser, authid="bob")
    alice = await router.connect(ser, authid="alice")
    bystander = await router.connect(ser)
    watcher, leaves = await _watch_leaves(router, ser)

    await bounded(admin.call("wamp.session.kill", bob.id, reason="com.example.kicked", message="bye bob"))
    left = await bounded(bob.left, what="GOODBYE to the killed session")
    assert left.reason == "com.example.kicked"
    assert left.message == "bye bob"
    await bob.wait_disconnected()

    # defaults: reason wamp.close.normal
    await bounded(admin.call("wamp.session.kill", alice.id))
    left = await bounded(alice.left)
    assert left.reason == "wamp.close.normal"
    await _left(leaves, bob.id, alice.id)

    # only other sessions can be killed; unknown ids and bad reasons are errors
    err = await call_error(admin.call("wamp.session.kill", admin.id))
    assert err.error == "wamp.error.no_such_session"
    err = await call_error(admin.call("wamp.session.kill", bob.id))
    assert err.error == "wamp.error.no_such_session"
    err = await call_error(admin.call("wamp.session.kill", bystander.id, reason="not a valid uri!"))
    assert err.error == "wamp.error.invalid_uri"

    # the rest continue
    assert bystander.is_attached() and admin.is_attached()
    assert sorted(await bounded(bystander.call("wamp.session.list"))) == sorted([admin.id, bystander.id, watcher.id])


async def test_session_kill_by_authid(router, ser):
    caller = await router.connect(ser, authid="alice")
    victims = [await router.connect(ser, authid="alice") for _ in range(2)]
    bob = await router.connect(ser, authid="bob")
    _, leaves = await _watch_leaves(router, ser)
    n = await bounded(caller.call("wamp.session.kill_by_authid", "alice", reason="com.example.rotate", message="m"))
    assert n == 2  # the caller's own session is excluded
    for v in victims:
        left = await bounded(v.left)
        assert left.reason == "com.example.rotate"
    await _left(leaves, *[v.id for v in victims])
    assert caller.is_attached() and bob.is_attached()
    assert sorted(await bounded(caller.call("wamp.session.list", ["user"]))) == sorted([caller.id, bob.id])
    assert await bounded(caller.call("wamp.session.kill_by_authid", "nobody")) == 0


async def test_session_kill_by_authrole(router, ser):
    admin = await router.connect(ser, authid="carol")
    users = [await router.connect(ser, authid=a) for a in ("alice", "bob", "alice")]
    anon = await router.connect(ser)
    _, leaves = await _watch_leaves(router, ser)
    n = await bounded(admin.call("wamp.session.kill_by_authrole", "user"))
    assert n == 3
    for u in users:
        left = await bounded(u.left)
        assert left.reason == "wamp.close.normal"
    await _left(leaves, *[u.id for u in users])
    assert anon.is_attached() and admin.is_attached()
    # own session excluded
    n = await bounded(admin.call("wamp.session.kill_by_authrole", "admin"))
    assert n == 0 and admin.is_attached()


async def test_session_on_join_on_leave(router, ser):
    obs = await router.connect(ser)
    inbox = Inbox()
    await obs.subscribe(inbox.tagged("join"), "wamp.session.on_join")
    await obs.subscribe(inbox.tagged("leave"), "wamp.session.on_leave")
    alice = await router.connect(ser, authid="alice")
    await inbox.wait_for(lambda items: any(r.tag == "join" and r.args[0].get("session") == alice.id for r in items))
    join = next(r for r in inbox.items if r.tag == "join" and r.args[0].get("session") == alice.id)
    assert len(join.args) == 1
    details = join.args[0]
    assert details["authid"] == "alice"
    assert details["authrole"] == "user"
    assert details["authmethod"] == "ticket"
    assert isinstance(details.get("authprovider"), str)

    anon = await router.connect(ser)
    alice_id, anon_id = alice.id, anon.id
    await alice.close()
    anon.drop()  # an unclean disconnect is a leave too
    await inbox.wait_for(
        lambda items: len([r for r in items if r.tag == "leave"]) >= 2, what="two on_leave events"
    )
    leaves = [r for r in inbox.items if r.tag == "leave"]
    by_session = {r.args[0]: r.args for r in leaves}
    # spec: on_leave(session|id, authid|string, authrole|string)
    assert set(by_session) == {alice_id, anon_id}
    assert by_session[alice_id] == (alice_id, "alice", "user")
    assert by_session[anon_id][2] == "anonymous"
    # a join is always reported before the leave of the same session
    order = [(r.tag, r.args[0] if r.tag == "leave" else r.args[0]["session"]) for r in inbox.items]
    assert order.index(("join", anon_id)) < order.index(("leave", anon_id))


@pytest.mark.parametrize("how", ["drop", "goodbye"])
async def test_testament_published_on_session_end(router, ser, how):
    obs = await router.connect(ser)
    inbox = Inbox()
    await obs.subscribe(inbox, "com.example.testament")
    dying = await router.connect(ser, authid="alice")
    await bounded(
        dying.call("wamp.session.add_testament", "com.example.testament", ["gone", b"\x00\xff"], {"who": "alice"})
    )
    await bounded(dying.call("wamp.session.add_testament", "com.example.testament", ["second"], {}))
    assert inbox.items == []  # nothing is published while the session lives
    if how == "drop":
        dying.drop()
    else:
        await dying.close()
    await inbox.wait_count(2)
    assert [(r.args, r.kwargs) for r in inbox.items] == [
        (("gone", b"\x00\xff"), {"who": "alice"}),
        (("second",), {}),
    ]


async def test_testament_flush(router, ser):
    obs = await router.connect(ser)
    inbox = Inbox()
    await obs.subscribe(inbox, "com.example.testament")
    _, leaves = await _watch_leaves(router, ser)

    flushed = await router.connect(ser)
    await bounded(flushed.call("wamp.session.add_testament", "com.example.testament", ["flushed"], {}))
    await bounded(flushed.call("wamp.session.flush_testaments"))
    flushed_id = flushed.id
    flushed.drop()
    await _left(leaves, flushed_id)

    # sentinel: a later session's testament arrives; the flushed one never did
    kept = await router.connect(ser)
    await bounded(kept.call("wamp.session.add_testament", "com.example.testament", ["kept"], {}))
    kept.drop()
    await inbox.wait_args(("kept",))
    assert inbox.args == [("kept",)]


async def test_testament_scopes(router, ser):
    obs = await router.connect(ser)
    inbox = Inbox()
    await obs.subscribe(inbox, "com.example.testament")
    s = await router.connect(ser)
    add = "wamp.session.add_testament"
    await bounded(s.call(add, "com.example.testament", ["destroyed"], {}, scope="destroyed"))
    await bounded(s.call(add, "com.example.testament", ["detached-1"], {}, scope="detached"))
    # flushing one scope leaves the other
    await bounded(s.call("wamp.session.flush_testaments", scope="detached"))
    await bounded(s.call(add, "com.example.testament", ["detached-2"], {}, scope="detached"))
    s.drop()
    await inbox.wait_count(2)
    # a router without session resumption sends detached-scope testaments before destroyed ones
    assert inbox.args == [("detached-2",), ("destroyed",)]


async def test_session_kill_all(router, ser):
    admin = await router.connect(ser, authid="carol")
    others = [await router.connect(ser), await router.connect(ser, authid="alice"), await router.connect(ser, authid="carol")]
    n = await bounded(admin.call("wamp.session.kill_all", reason="com.example.maintenance", message="later"))
    assert n == 3  # everyone but the caller
    for s in others:
        left = await bounded(s.left)
        assert left.reason == "com.example.maintenance" and left.message == "later"
        await s.wait_disconnected()
    assert admin.is_attached()
    assert await bounded(admin.call("wamp.session.list")) == [admin.id]


async def test_session_meta_is_per_realm(router_factory, realm_name, ser):
    """A realm is a tenant boundary: meta procedures see and act on their own realm only."""
    a, b = RealmSpec(realm_name("a")), RealmSpec(realm_name("b"))
    r = router_factory(realms=[a, b])
    admin_a = await r.connect(ser, authid="carol", realm=a.uri)
    alice_a = await r.connect(ser, authid="alice", realm=a.uri)
    alice_b = await r.connect(ser, authid="alice", realm=b.uri)
    anon_b = await r.connect(ser, realm=b.uri)
    assert await bounded(admin_a.call("wamp.session.count")) == 2
    assert sorted(await bounded(admin_a.call("wamp.session.list"))) == sorted([admin_a.id, alice_a.id])
    err = await call_error(admin_a.call("wamp.session.get", alice_b.id))
    assert err.error == "wamp.error.no_such_session"
    err = await call_error(admin_a.call("wamp.session.kill", anon_b.id))
    assert err.error == "wamp.error.no_such_session"
    assert await bounded(admin_a.call("wamp.session.kill_by_authid", "alice")) == 1
    await bounded(alice_a.left)
    assert alice_b.is_attached() and anon_b.is_attached()
    assert await bounded(anon_b.call("wamp.session.count")) == 2


async def test_testament_published_when_killed(router, ser):
    obs = await router.connect(ser, authid="carol")
    inbox = Inbox()
    await obs.subscribe(inbox, "com.example.testament")
    victim = await router.connect(ser)
    await bounded(victim.call("wamp.session.add_testament", "com.example.testament", ["killed"], {"id": victim.id}))
    await bounded(obs.call("wamp.session.kill", victim.id))
    await inbox.wait_count(1)
    assert inbox.items[0].args == ("killed",) and inbox.items[0].kwargs == {"id": victim.id}


async def test_many_sessions_join_and_leave(router, ser):
    obs = await router.connect(ser)
    leaves = Inbox()
    await obs.subscribe(leaves, "wamp.session.on_leave")
    sessions = await bounded(
        asyncio.gather(*[router.connect(ser, authid=("alice", "bob", "carol", None)[i % 4]) for i in range(100)]),
        timeout=30,
    )
    ids = [s.id for s in sessions]
    assert len(set(ids)) == 100
    assert await bounded(obs.call("wamp.session.count")) == 101
    assert await bounded(obs.call("wamp.session.count", ["admin"])) == 25
    for i, s in enumerate(sessions):
        if i % 2:
            s.drop()
        else:
            s.leave()
    await leaves.wait_for(lambda items: {r.args[0] for r in items} >= set(ids), timeout=20, what="100 on_leave")
    assert await bounded(obs.call("wamp.session.count")) == 1
    assert await bounded(obs.call("wamp.session.list")) == [obs.id]
