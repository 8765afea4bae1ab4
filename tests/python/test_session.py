"""Session lifecycle: HELLO/WELCOME/ABORT/CHALLENGE/AUTHENTICATE/GOODBYE (WAMP basic profile,
advanced profile ticket authentication), in every serializer."""

import asyncio

from autobahn.wamp.types import PublishOptions

from conftest import DEFAULT_PRINCIPALS, RealmSpec
from wamp_client import AUTH_REFUSED, Inbox, bounded, call_error, join_fails, valid_id

BROKER_FEATURES = [
    "publisher_identification",
    "publisher_exclusion",
    "subscriber_blackwhite_listing",
    "pattern_based_subscription",
    "subscription_meta_api",
    "session_meta_api",
    "event_retention",
]
DEALER_FEATURES = [
    "caller_identification",
    "pattern_based_registration",
    "shared_registration",
    "progressive_call_results",
    "call_timeout",
    "call_canceling",
    "registration_meta_api",
    "session_meta_api",
    "testament_meta_api",
]


async def test_join_welcome_details_and_leave(router, ser):
    s = await router.connect(ser)
    # the router accepted exactly the subprotocol we offered
    assert s.serializer_id == ser
    w = s.welcome
    assert valid_id(w.session), w.session
    assert s.id == w.session
    assert w.authrole == "anonymous"
    assert w.authmethod == "anonymous"
    assert isinstance(w.authid, str) and w.authid
    assert w.realm in (None, router.realm)
    # router roles and features announced in WELCOME.Details.roles
    assert set(w.roles) >= {"broker", "dealer"}, w.roles
    broker, dealer = w.roles["broker"], w.roles["dealer"]
    missing = [f"broker.{f}" for f in BROKER_FEATURES if getattr(broker, f) is not True]
    missing += [f"dealer.{f}" for f in DEALER_FEATURES if getattr(dealer, f) is not True]
    assert not missing, f"features not announced as true in WELCOME: {missing}"

    s.leave()
    left = await s.left
    # the router answers a client GOODBYE with GOODBYE(wamp.close.goodbye_and_out)
    assert left.reason == "wamp.close.goodbye_and_out"
    await s.wait_disconnected()


async def test_session_ids_unique_and_in_range(router, ser):
    sessions = [await router.connect(ser) for _ in range(6)]
    ids = [s.id for s in sessions]
    assert all(valid_id(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    for s in sessions:
        await s.close()


async def test_anonymous_refused_when_not_configured(router_factory, realm_name, ser):
    closed = RealmSpec(realm_name("closed"), anonymous_role=None)
    r = router_factory(realms=[closed])
    err = await join_fails(r.url, closed.uri, ser)
    assert err.reason in AUTH_REFUSED, err.reason
    # the realm still accepts ticket principals
    s = await r.connect(ser, authid="alice", realm=closed.uri)
    assert s.welcome.authid == "alice"
    await s.close()


async def test_ticket_auth_good(router, ser):
    for p in DEFAULT_PRINCIPALS:
        s = await router.connect(ser, authid=p.authid)
        assert [c.method for c in s.challenges] == ["ticket"]
        w = s.welcome
        assert w.authid == p.authid
        assert w.authrole == p.role
        assert w.authmethod == "ticket"
        assert valid_id(w.session)
        await s.close()


async def test_ticket_auth_bad_ticket(router, ser):
    err = await join_fails(router.url, router.realm, ser, authid="alice", ticket="wrong-ticket")
    assert err.reason in AUTH_REFUSED, err.reason
    # another principal's ticket is not alice's ticket
    err = await join_fails(router.url, router.realm, ser, authid="alice", ticket=router.principal("bob").ticket)
    assert err.reason in AUTH_REFUSED, err.reason


async def test_ticket_auth_unknown_authid(router, ser):
    err = await join_fails(router.url, router.realm, ser, authid="mallory", ticket="whatever")
    assert err.reason in AUTH_REFUSED, err.reason


async def test_ticket_of_other_realm_refused(router_factory, realm_name, ser):
    a = RealmSpec(realm_name("a"), anonymous_role=None)
    b = RealmSpec(realm_name("b"), anonymous_role=None, principals=[])
    r = router_factory(realms=[a, b])
    err = await join_fails(r.url, b.uri, ser, authid="alice", ticket=r.principal("alice", a.uri).ticket)
    assert err.reason in AUTH_REFUSED, err.reason


async def test_unknown_realm(router, ser):
    err = await join_fails(router.url, router.realm + ".nope", ser)
    assert err.reason == "wamp.error.no_such_realm"


async def test_sessions_of_other_realm_are_isolated(router_factory, realm_name, ser):
    a, b = RealmSpec(realm_name("a")), RealmSpec(realm_name("b"))
    r = router_factory(realms=[a, b])
    sub_a = await r.connect(ser, realm=a.uri)
    sub_b = await r.connect(ser, realm=b.uri)
    pub_a = await r.connect(ser, realm=a.uri)
    inbox_a, inbox_b = Inbox(), Inbox()
    await sub_a.subscribe(inbox_a, "com.example.topic")
    await sub_b.subscribe(inbox_b, "com.example.topic")
    # same topic in another realm: a realm is a routing boundary
    await sub_b.subscribe(inbox_b, "com.example.sentinel")
    await pub_a.publish("com.example.topic", "in-a", options=PublishOptions(acknowledge=True))
    await inbox_a.wait_args(("in-a",))
    pub_b = await r.connect(ser, realm=b.uri)
    await pub_b.publish("com.example.sentinel", "sentinel", options=PublishOptions(acknowledge=True))
    await inbox_b.wait_args(("sentinel",))
    assert inbox_b.args == [("sentinel",)]


async def test_authmethod_preference(router, ser):
    # the client lists methods in order of preference; a ticket principal gets ticket auth
    s = await router.connect(ser, authid="bob", authmethods=["ticket", "anonymous"])
    assert (s.welcome.authid, s.welcome.authrole, s.welcome.authmethod) == ("bob", "user", "ticket")
    a = await router.connect(ser, authmethods=["anonymous", "ticket"])
    assert (a.welcome.authrole, a.welcome.authmethod) == ("anonymous", "anonymous")


async def test_websocket_ping_answered(router, ser):
    """RFC 6455 5.5.3: a pong carries the payload of the ping it answers; an endpoint with pings
    still unanswered may answer only the most recent one. So the last ping's payload must come
    back, and any earlier pong must be one of the earlier pings', in order."""
    s = await router.connect(ser)
    sent = [f"ping-{i}".encode() for i in range(3)]
    pongs = []
    got_last = asyncio.get_running_loop().create_future()

    def on_pong(payload):
        pongs.append(bytes(payload))
        if bytes(payload) == sent[-1] and not got_last.done():
            got_last.set_result(None)

    s.proto.onPong = on_pong
    for p in sent:
        s.proto.sendPing(p)
    await bounded(got_last, what="the pong of the last ping")
    assert pongs[-1] == sent[-1]
    indices = [sent.index(p) for p in pongs]  # ValueError: a payload nobody sent
    assert indices == sorted(set(indices)), pongs
    assert s.is_attached()


async def test_router_pings_idle_session(router_factory, ser):
    r = router_factory(router_extra={"ping_interval_ms": 100})
    s = await r.connect(ser)
    pings = []
    two = asyncio.get_running_loop().create_future()
    original = s.proto.onPing

    def on_ping(payload):
        pings.append(payload)
        original(payload)  # answer with a pong, as autobahn does
        if len(pings) >= 2 and not two.done():
            two.set_result(None)

    s.proto.onPing = on_ping
    await bounded(two, timeout=5, what="two router pings on an idle session")
    # the session survives keepalive (it answered every ping)
    assert await bounded(s.call("wamp.session.count")) == 1


async def test_realms_isolate_registrations(router_factory, realm_name, ser):
    a, b = RealmSpec(realm_name("a")), RealmSpec(realm_name("b"))
    r = router_factory(realms=[a, b])
    callee_a, callee_b = await r.connect(ser, realm=a.uri), await r.connect(ser, realm=b.uri)
    # the same URI registers independently in each realm, and calls stay in their realm
    await callee_a.register(lambda: "a", "com.example.proc")
    await callee_b.register(lambda: "b", "com.example.proc")
    caller_a, caller_b = await r.connect(ser, realm=a.uri), await r.connect(ser, realm=b.uri)
    assert await bounded(caller_a.call("com.example.proc")) == "a"
    assert await bounded(caller_b.call("com.example.proc")) == "b"
    await callee_b.register(lambda: "only-b", "com.example.only_b")
    err = await call_error(caller_a.call("com.example.only_b"))
    assert err.error == "wamp.error.no_such_procedure"
