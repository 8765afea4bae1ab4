"""Publish & subscribe (basic profile + advanced: pattern-based subscriptions, publisher
exclusion, subscriber black/white listing, publisher identification, event retention)."""

from autobahn.wamp.types import PublishOptions, SubscribeOptions

from wamp_client import (
    SERIALIZER_NAMES,
    Inbox,
    bounded,
    call_error,
    publish_raw,
    publish_with,
    unsubscribe_raw,
    valid_id,
)

ACK = PublishOptions(acknowledge=True)
DETAILS = SubscribeOptions(details=True)

# every JSON type, unicode, nesting and binary: must reach every subscriber unchanged
PAYLOAD_ARGS = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**53,
    -(2**53),
    1.5,
    -0.25,
    "",
    "plain",
    "unicode: äöü ß € 日本語 🎉 \u2028",
    [],
    {},
    [1, [2, [3, [4, []]]]],
    {"a": {"b": {"c": [1, "x", None, {"d": True}]}}},
    b"\x00\x01\x02\xfe\xff",
    b"",
]
PAYLOAD_KWARGS = {
    "null": None,
    "yes": True,
    "no": False,
    "int": 42,
    "neg": -7,
    "float": 3.25,
    "str": "ünïcødé ✓",
    "empty": "",
    "list": [1, "two", 3.5, None, False],
    "dict": {"nested": {"deep": [{"k": "v"}, []]}},
    "bytes": b"\xde\xad\xbe\xef",
    "nested_bytes": [{"b": b"\x00"}, b"\x01"],
    "empty_list": [],
    "empty_dict": {},
    "ключ": "значение",
}


async def test_exact_subscription(router, ser):
    sub1, sub2, pub = [await router.connect(ser) for _ in range(3)]
    i1, i2 = Inbox(), Inbox()
    s1 = await sub1.subscribe(i1, "com.example.exact", options=DETAILS)
    s2 = await sub2.subscribe(i2, "com.example.exact", options=DETAILS)
    assert valid_id(s1.id) and valid_id(s2.id)
    for n in range(3):
        pub.publish("com.example.exact", n, n=n)
    # neither a longer nor a shorter topic matches an exact subscription
    pub.publish("com.example.exact.longer", "no")
    pub.publish("com.example", "no")
    publication = await pub.publish("com.example.exact", "last", options=ACK)
    assert valid_id(publication.id)
    for inbox in (i1, i2):
        await inbox.wait_args(("last",))
        assert inbox.args == [(0,), (1,), (2,), ("last",)]
        assert [r.kwargs for r in inbox.items] == [{"n": 0}, {"n": 1}, {"n": 2}, {}]
        assert inbox.items[-1].details.publication == publication.id
        assert len({r.details.publication for r in inbox.items}) == 4


async def test_prefix_subscription(router, ser):
    sub, pub = await router.connect(ser), await router.connect(ser)
    inbox = Inbox()
    await sub.subscribe(inbox, "com.example.pre", options=SubscribeOptions(match="prefix", details=True))
    # spec: prefix matching is on the URI string ("...emergency" matches "...emergency-low")
    matching = ["com.example.pre", "com.example.pre.a", "com.example.pre.a.b.c", "com.example.prefix"]
    not_matching = ["com.example.pr", "com.example.other.pre", "com.example"]
    for t in not_matching + matching:
        pub.publish(t, t)
    await pub.publish("com.example.pre.sentinel", "com.example.pre.sentinel", options=ACK)
    await inbox.wait_args(("com.example.pre.sentinel",))
    expected = matching + ["com.example.pre.sentinel"]
    assert [r.args[0] for r in inbox.items] == expected
    # on a pattern subscription the concrete topic is in EVENT.Details.topic
    assert [r.details.topic for r in inbox.items] == expected


async def test_wildcard_subscription(router, ser):
    sub, pub = await router.connect(ser), await router.connect(ser)
    inbox = Inbox()
    await sub.subscribe(inbox, "com.example..leaf", options=SubscribeOptions(match="wildcard", details=True))
    await sub.subscribe(inbox, "com..sentinel.", options=SubscribeOptions(match="wildcard", details=True))
    matching = ["com.example.a.leaf", "com.example.b_2.leaf"]
    not_matching = ["com.example.a.b.leaf", "com.example.a.other", "com.example.leaf", "org.example.a.leaf"]
    for t in not_matching + matching:
        pub.publish(t, t)
    await pub.publish("com.x.sentinel.end", "com.x.sentinel.end", options=ACK)
    await inbox.wait_args(("com.x.sentinel.end",))
    expected = matching + ["com.x.sentinel.end"]
    assert [r.args[0] for r in inbox.items] == expected
    assert [r.details.topic for r in inbox.items] == expected


async def test_overlapping_subscriptions_each_deliver(router, ser):
    sub, pub = await router.connect(ser), await router.connect(ser)
    exact, prefix, wildcard = Inbox(), Inbox(), Inbox()
    a = await sub.subscribe(exact, "com.example.o.x")
    b = await sub.subscribe(prefix, "com.example.o", options=SubscribeOptions(match="prefix"))
    c = await sub.subscribe(wildcard, "com.example..x", options=SubscribeOptions(match="wildcard"))
    assert len({a.id, b.id, c.id}) == 3
    await pub.publish("com.example.o.x", "hit", options=ACK)
    for inbox in (exact, prefix, wildcard):
        await inbox.wait_args(("hit",))
    await pub.publish("com.example.o.y", "prefix-only", options=ACK)
    await prefix.wait_args(("prefix-only",))
    await pub.publish("com.example.o.x", "end", options=ACK)
    for inbox in (exact, prefix, wildcard):
        await inbox.wait_args(("end",))
    assert exact.args == [("hit",), ("end",)]
    assert wildcard.args == [("hit",), ("end",)]
    assert prefix.args == [("hit",), ("prefix-only",), ("end",)]


async def test_subscription_id_shared_by_topic_and_match(router, ser):
    a, b, c = [await router.connect(ser) for _ in range(3)]
    ia, ib, ic, ip = Inbox(), Inbox(), Inbox(), Inbox()
    sa = await a.subscribe(ia, "com.example.shared")
    sb = await b.subscribe(ib, "com.example.shared")
    sc = await c.subscribe(ic, "com.example.shared", options=SubscribeOptions(match="exact"))
    sp = await c.subscribe(ip, "com.example.shared", options=SubscribeOptions(match="prefix"))
    assert sa.id == sb.id == sc.id
    assert sp.id != sa.id
    # the shared subscription still delivers to each subscriber once
    pub = await router.connect(ser)
    await pub.publish("com.example.shared", "one", options=ACK)
    for inbox in (ia, ib, ic, ip):
        await inbox.wait_args(("one",))
    # resubscribing the same topic from the same session returns the same id
    again = await a.subscribe(Inbox(), "com.example.shared")
    assert again.id == sa.id


async def test_unsubscribe_stops_delivery(router, ser):
    a, b, pub = [await router.connect(ser) for _ in range(3)]
    ia, ib, sentinel = Inbox(), Inbox(), Inbox()
    sub_a = await a.subscribe(ia, "com.example.unsub")
    await b.subscribe(ib, "com.example.unsub")
    await a.subscribe(sentinel, "com.example.unsub.sentinel")
    await pub.publish("com.example.unsub", "before", options=ACK)
    await ia.wait_args(("before",))
    await ib.wait_args(("before",))
    await bounded(sub_a.unsubscribe(), what="UNSUBSCRIBED")
    assert not sub_a.active
    await pub.publish("com.example.unsub", "after", options=ACK)
    await pub.publish("com.example.unsub.sentinel", "sentinel", options=ACK)
    await sentinel.wait_args(("sentinel",))
    await ib.wait_args(("after",))
    assert ia.args == [("before",)]
    assert ib.args == [("before",), ("after",)]


async def test_unsubscribe_unknown_subscription(router, ser):
    s = await router.connect(ser)
    err = await call_error(unsubscribe_raw(s, 123456789))
    assert err.error == "wamp.error.no_such_subscription"


async def test_acknowledged_publish(router, ser):
    sub, pub = await router.connect(ser), await router.connect(ser)
    inbox = Inbox()
    await sub.subscribe(inbox, "com.example.ack", options=DETAILS)
    p1 = await bounded(pub.publish("com.example.ack", 1, options=ACK), what="PUBLISHED")
    p2 = await bounded(pub.publish("com.example.ack", 2, options=ACK), what="PUBLISHED")
    assert valid_id(p1.id) and valid_id(p2.id) and p1.id != p2.id
    await inbox.wait_count(2)
    assert [r.details.publication for r in inbox.items] == [p1.id, p2.id]
    # acknowledged even with no subscriber
    p3 = await bounded(pub.publish("com.example.nobody", options=ACK), what="PUBLISHED")
    assert valid_id(p3.id)
    # without acknowledge=True there is no PUBLISHED (autobahn returns None)
    assert pub.publish("com.example.ack", 3) is None


async def test_exclude_me(router, ser):
    pub, other = await router.connect(ser), await router.connect(ser)
    mine, theirs = Inbox(), Inbox()
    await pub.subscribe(mine, "com.example.me")
    await other.subscribe(theirs, "com.example.me")
    await pub.publish("com.example.me", "default", options=ACK)  # exclude_me defaults to true
    await pub.publish("com.example.me", "excluded", options=PublishOptions(exclude_me=True, acknowledge=True))
    await pub.publish("com.example.me", "included", options=PublishOptions(exclude_me=False, acknowledge=True))
    await mine.wait_args(("included",))
    await theirs.wait_count(3)
    assert mine.args == [("included",)]
    assert theirs.args == [("default",), ("excluded",), ("included",)]


# Black/white list cases: (publish options from the subscribers' session ids, the authids
# expected to receive); subscribers alice (user), bob (user), carol (admin).
LISTING_BY_SESSION = [
    (lambda ids: dict(exclude=[ids["alice"]]), {"bob", "carol"}),
    (lambda ids: dict(exclude=[ids["alice"], ids["carol"]]), {"bob"}),
    (lambda ids: dict(eligible=[ids["bob"]]), {"bob"}),
    (lambda ids: dict(eligible=[ids["alice"], ids["carol"]]), {"alice", "carol"}),
    (lambda ids: dict(eligible=[ids["alice"], ids["bob"]], exclude=[ids["alice"]]), {"bob"}),
    (lambda ids: dict(eligible=[]), set()),
    (lambda ids: dict(exclude=[]), {"alice", "bob", "carol"}),
]

LISTING_BY_AUTHID = [
    (lambda ids: dict(exclude_authid=["alice"]), {"bob", "carol"}),
    (lambda ids: dict(eligible_authid=["alice", "carol"]), {"alice", "carol"}),
    (lambda ids: dict(eligible_authid=["nobody"]), set()),
    (lambda ids: dict(eligible_authid=["alice", "bob"], exclude_authid=["bob"]), {"alice"}),
    (lambda ids: dict(eligible=[ids["bob"], ids["carol"]], exclude_authid=["carol"]), {"bob"}),
]

LISTING_BY_AUTHROLE = [
    (lambda ids: dict(exclude_authrole=["user"]), {"carol"}),
    (lambda ids: dict(eligible_authrole=["user"]), {"alice", "bob"}),
    (lambda ids: dict(eligible_authrole=["admin"]), {"carol"}),
    (lambda ids: dict(eligible_authrole=["user"], exclude_authid=["alice"]), {"bob"}),
    (lambda ids: dict(eligible_authrole=["admin"], exclude=[ids["carol"]]), set()),
]


async def _listing_case(router, ser, cases):
    """Subscribers alice(user), bob(user), carol(admin); anonymous publisher; each case is
    (publish options, set of authids expected to receive). A final unrestricted event is the
    sentinel: per-publisher ordering means anything not received before it never will be."""
    subs = {n: await router.connect(ser, authid=n) for n in ("alice", "bob", "carol")}
    inboxes = {n: Inbox() for n in subs}
    for n, s in subs.items():
        await s.subscribe(inboxes[n], "com.example.listing")
    pub = await router.connect(ser)
    ids = {n: s.id for n, s in subs.items()}
    for i, (make_opts, _) in enumerate(cases):
        await pub.publish("com.example.listing", i, options=PublishOptions(acknowledge=True, **make_opts(ids)))
    await pub.publish("com.example.listing", "end", options=ACK)
    for n, inbox in inboxes.items():
        await inbox.wait_args(("end",))
        expected = [(i,) for i, (_, who) in enumerate(cases) if n in who] + [("end",)]
        assert inbox.args == expected, f"{n} received {inbox.args}, expected {expected}"


async def test_exclude_eligible_by_session(router, ser):
    await _listing_case(router, ser, LISTING_BY_SESSION)


async def test_exclude_eligible_by_authid(router, ser):
    await _listing_case(router, ser, LISTING_BY_AUTHID)


async def test_exclude_eligible_by_authrole(router, ser):
    await _listing_case(router, ser, LISTING_BY_AUTHROLE)


async def test_publisher_disclosure(router, ser):
    sub = await router.connect(ser)
    pub = await router.connect(ser, authid="alice")
    inbox = Inbox()
    await sub.subscribe(inbox, "com.example.disclose", options=DETAILS)
    await publish_with(pub, "com.example.disclose", "disclosed", extra={"disclose_me": True}, options=ACK)
    await pub.publish("com.example.disclose", "anonymous", options=ACK)
    await inbox.wait_count(2)
    disclosed, anonymous = inbox.items
    assert disclosed.args == ("disclosed",)
    assert disclosed.details.publisher == pub.id
    assert disclosed.details.publisher_authid == "alice"
    assert disclosed.details.publisher_authrole == "user"
    assert anonymous.args == ("anonymous",)
    assert anonymous.details.publisher is None
    assert anonymous.details.publisher_authid is None
    assert anonymous.details.publisher_authrole is None


async def test_retained_event(router, ser):
    pub = await router.connect(ser)
    retain = PublishOptions(retain=True, acknowledge=True)
    await pub.publish("com.example.retained", "first", options=retain)
    await pub.publish("com.example.retained", "second", b"\x01\x02", k={"v": 1}, options=retain)
    # a later non-retained event does not replace the retained one
    await pub.publish("com.example.retained", "not-retained", options=ACK)

    late = await router.connect(ser)
    inbox = Inbox()
    await late.subscribe(inbox, "com.example.retained", options=SubscribeOptions(get_retained=True, details=True))
    await inbox.wait_count(1)
    got = inbox.items[0]
    assert got.args == ("second", b"\x01\x02")
    assert got.kwargs == {"k": {"v": 1}}
    assert got.details.retained is True

    # without get_retained nothing is replayed; a live event is not marked retained
    plain = await router.connect(ser)
    plain_inbox = Inbox()
    await plain.subscribe(plain_inbox, "com.example.retained", options=DETAILS)
    await pub.publish("com.example.retained", "live", options=ACK)
    await plain_inbox.wait_args(("live",))
    await inbox.wait_args(("live",))
    assert plain_inbox.args == [("live",)]
    assert not plain_inbox.items[0].details.retained
    assert inbox.args == [("second", b"\x01\x02"), ("live",)]
    assert not inbox.items[1].details.retained


async def test_retained_event_respects_eligibility(router, ser):
    pub = await router.connect(ser)
    await pub.publish(
        "com.example.retained.acl",
        "for-admins",
        options=PublishOptions(retain=True, acknowledge=True, eligible_authrole=["admin"]),
    )
    # spec: the broker MUST NOT send a retained event the subscriber was not eligible for
    alice = await router.connect(ser, authid="alice")
    inbox = Inbox()
    await alice.subscribe(inbox, "com.example.retained.acl", options=SubscribeOptions(get_retained=True))
    await pub.publish("com.example.retained.acl", "live", options=ACK)
    await inbox.wait_args(("live",))
    assert inbox.args == [("live",)]


async def test_payload_types_pass_through(router, ser):
    sub, pub = await router.connect(ser), await router.connect(ser)
    inbox = Inbox()
    await sub.subscribe(inbox, "com.example.payload")
    await pub.publish("com.example.payload", *PAYLOAD_ARGS, **PAYLOAD_KWARGS, options=ACK)
    await pub.publish("com.example.payload", options=ACK)  # no args, no kwargs
    await pub.publish("com.example.payload", only="kwargs", options=ACK)
    await inbox.wait_count(3)
    full, empty, kw_only = inbox.items
    assert list(full.args) == PAYLOAD_ARGS
    assert full.kwargs == PAYLOAD_KWARGS
    assert isinstance(full.args[17], bytes) and isinstance(full.kwargs["bytes"], bytes)
    assert empty.args == () and empty.kwargs == {}
    assert kw_only.args == () and kw_only.kwargs == {"only": "kwargs"}


async def test_mixed_serializers_pubsub(router, ser):
    """Publisher in ``ser``; one subscriber in each serializer: the router transcodes, and binary
    stays binary (JSON carries it as the spec's \\0-prefixed base64 string)."""
    pub = await router.connect(ser)
    subs = {name: await router.connect(name) for name in SERIALIZER_NAMES}
    inboxes = {name: Inbox() for name in subs}
    for name, s in subs.items():
        await s.subscribe(inboxes[name], "com.example.mixed", options=DETAILS)
    await publish_with(
        pub, "com.example.mixed", *PAYLOAD_ARGS, **PAYLOAD_KWARGS, extra={"disclose_me": True}, options=ACK
    )
    await pub.publish("com.example.mixed", b"\xff" * 1000, options=ACK)
    for name, inbox in inboxes.items():
        await inbox.wait_count(2)
        first, second = inbox.items
        assert list(first.args) == PAYLOAD_ARGS, name
        assert first.kwargs == PAYLOAD_KWARGS, name
        assert type(first.args[17]) is bytes, name
        assert first.details.publisher == pub.id, name
        assert second.args == (b"\xff" * 1000,), name


async def test_invalid_uris_rejected(router, ser):
    s = await router.connect(ser)
    # an exact subscription may not have empty components (autobahn lets it through for wildcards)
    err = await call_error(s.subscribe(Inbox(), "com..x"))
    assert err.error == "wamp.error.invalid_uri"
    for topic in ("com..x", "com.#.x", "com.ex ample", "", "com.example."):
        err = await call_error(publish_raw(s, topic, 1))
        assert err.error == "wamp.error.invalid_uri", topic
    # the session is still fine
    assert valid_id((await s.publish("com.example.ok", options=ACK)).id)


async def test_fanout_many_subscribers(router, ser):
    """30 subscribers (10 per serializer) x 200 events: everyone gets everything, in order."""
    pub = await router.connect(ser)
    subs = [await router.connect(SERIALIZER_NAMES[i % 3]) for i in range(30)]
    inboxes = [Inbox() for _ in subs]
    for s, inbox in zip(subs, inboxes):
        await s.subscribe(inbox, "com.example.fanout")
    for i in range(200):
        pub.publish("com.example.fanout", i, b"\x00" * (i % 7))
    await pub.publish("com.example.fanout", "end", options=ACK)
    for inbox in inboxes:
        await inbox.wait_args(("end",), timeout=20)
        assert [r.args for r in inbox.items] == [(i, b"\x00" * (i % 7)) for i in range(200)] + [("end",)]


async def test_exclude_me_false_with_pattern_subscription(router, ser):
    s = await router.connect(ser)
    inbox = Inbox()
    await s.subscribe(inbox, "com.example.self", options=SubscribeOptions(match="prefix", details=True))
    await s.publish("com.example.self.a", "excluded", options=ACK)
    await s.publish("com.example.self.b", "mine", options=PublishOptions(exclude_me=False, acknowledge=True))
    await inbox.wait_args(("mine",))
    assert inbox.args == [("mine",)]
    assert inbox.items[0].details.topic == "com.example.self.b"


# values at the edges of what every serializer can carry
EDGE_ARGS = [
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    0.1,
    1e300,
    -1e-300,
    2.5e-5,
    "a" * 10000,
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    {"": "empty key", "k" * 200: "long key"},
]


async def test_payload_edge_values_mixed(router, ser):
    """Large integers (int64/uint64 range), float precision, long strings, deep nesting:
    payload transparency across every serializer pair."""
    pub = await router.connect(ser)
    subs = {name: await router.connect(name) for name in SERIALIZER_NAMES}
    inboxes = {name: Inbox() for name in subs}
    for name, s in subs.items():
        await s.subscribe(inboxes[name], "com.example.edge")
    await pub.publish("com.example.edge", *EDGE_ARGS, options=ACK)
    for name, inbox in inboxes.items():
        await inbox.wait_count(1)
        got = list(inbox.items[0].args)
        assert got == EDGE_ARGS, (name, [(i, a, b) for i, (a, b) in enumerate(zip(got, EDGE_ARGS)) if a != b])
        assert all(type(a) is type(b) for a, b in zip(got, EDGE_ARGS)), name


async def test_unicode_uris(router, ser):
    """Loose URIs (the default) may contain any character but whitespace, '.' and '#'."""
    sub, pub = await router.connect(ser), await router.connect(ser)
    inbox = Inbox()
    await sub.subscribe(inbox, "com.exämple.tópic.日本", options=DETAILS)
    await sub.subscribe(inbox, "com.exämple", options=SubscribeOptions(match="prefix", details=True))
    await pub.publish("com.exämple.tópic.日本", "ü", options=ACK)
    await inbox.wait_count(2)
    assert sorted((r.args, r.details.topic or "com.exämple.tópic.日本") for r in inbox.items) == [
        (("ü",), "com.exämple.tópic.日本"),
        (("ü",), "com.exämple.tópic.日本"),
    ]
    await sub.register(lambda: "ok", "com.exämple.prozedur.ß")
    assert await bounded(pub.call("com.exämple.prozedur.ß")) == "ok"
