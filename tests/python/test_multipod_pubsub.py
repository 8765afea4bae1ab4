"""Pub/sub across router pods (issue #5): 3 pods on one Redis serve one realm, publisher and
subscribers sit on different pods. Before publishing, a test waits until the publisher's pod
knows the remote subscriptions (meta API polled with a deadline, see multipod.py)."""

from autobahn.wamp.types import PublishOptions, SubscribeOptions

from multipod import log_barrier, wait_subscribers
from test_pubsub import LISTING_BY_AUTHID, LISTING_BY_AUTHROLE, LISTING_BY_SESSION, PAYLOAD_ARGS, PAYLOAD_KWARGS
from wamp_client import Inbox, bounded, publish_with, valid_id

ACK = PublishOptions(acknowledge=True)
DETAILS = SubscribeOptions(details=True)
PREFIX = SubscribeOptions(match="prefix", details=True)
WILDCARD = SubscribeOptions(match="wildcard", details=True)
RETAINED = SubscribeOptions(get_retained=True, details=True)
TOPIC = "com.example.multipod"


async def test_exact_subscription_and_acknowledge_across_pods(multipod, ser):
    pods = await multipod()
    pub = await pods.connect(0, ser)
    local, sub1, sub2 = await pods.connect(0, ser), await pods.connect(1, ser), await pods.connect(2, ser)
    inboxes = [Inbox(), Inbox(), Inbox()]
    sentinel = Inbox()
    subs = [await bounded(s.subscribe(i, TOPIC, options=DETAILS)) for s, i in zip((local, sub1, sub2), inboxes)]
    # one subscription realm-wide: every pod names it alike
    assert valid_id(subs[0].id) and subs[0].id == subs[1].id == subs[2].id
    s_sentinel = await bounded(sub2.subscribe(sentinel, TOPIC + ".sentinel"))
    await wait_subscribers(pub, subs[0].id, 3)
    await wait_subscribers(pub, s_sentinel.id, 1)

    for n in range(3):
        pub.publish(TOPIC, n, n=n)
    pub.publish(TOPIC + ".longer", "no")
    pub.publish("com.example", "no")
    publication = await bounded(pub.publish(TOPIC, *PAYLOAD_ARGS, **PAYLOAD_KWARGS, options=ACK), what="PUBLISHED")
    assert valid_id(publication.id)
    for inbox in inboxes:
        await inbox.wait_count(4)
        assert inbox.args[:3] == [(0,), (1,), (2,)]
        assert [r.kwargs for r in inbox.items[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert list(inbox.items[3].args) == PAYLOAD_ARGS and inbox.items[3].kwargs == PAYLOAD_KWARGS
        assert inbox.items[3].details.publication == publication.id
        assert len({r.details.publication for r in inbox.items}) == 4
    # a publication has one id, whichever pod delivers it
    ids = [[r.details.publication for r in inbox.items] for inbox in inboxes]
    assert ids[0] == ids[1] == ids[2]

    # an unsubscribe on pod 2 stops delivery there, once pod 0 knows
    await bounded(subs[2].unsubscribe(), what="UNSUBSCRIBED")
    await wait_subscribers(pub, subs[0].id, 2)
    await bounded(pub.publish(TOPIC, "after", options=ACK))
    await bounded(pub.publish(TOPIC + ".sentinel", "sentinel", options=ACK))
    await sentinel.wait_args(("sentinel",))
    for inbox in inboxes[:2]:
        await inbox.wait_args(("after",))
        assert len(inbox) == 5
    assert len(inboxes[2]) == 4, inboxes[2].args[4:]
    # acknowledged with no subscriber on any pod
    assert valid_id((await bounded(pub.publish("com.example.nobody", options=ACK))).id)


async def test_prefix_and_wildcard_subscriptions_across_pods(multipod, ser):
    pods = await multipod()
    pub = await pods.connect(0, ser)
    psub, wsub = await pods.connect(1, ser), await pods.connect(2, ser)
    prefix, wild = Inbox(), Inbox()
    sp = await bounded(psub.subscribe(prefix, "com.example.pre", options=PREFIX))
    sw = await bounded(wsub.subscribe(wild, "com.example..leaf", options=WILDCARD))
    await wait_subscribers(pub, sp.id, 1)
    await wait_subscribers(pub, sw.id, 1)
    topics = [
        "com.example.pr",
        "com.example.pre",
        "com.example.a.leaf",
        "com.example.pre.a.b",
        "com.example.a.b.leaf",
        "com.example.prefix",
        "com.example.leaf",
        "com.example.b_2.leaf",
        "org.example.a.leaf",
        "com.example.other.pre",
    ]
    for t in topics:
        pub.publish(t, t)
    await bounded(pub.publish("com.example.pre.leaf", "end", options=ACK))  # matches both
    await prefix.wait_args(("end",))
    await wild.wait_args(("end",))
    assert [r.args[0] for r in prefix.items] == ["com.example.pre", "com.example.pre.a.b", "com.example.prefix", "end"]
    assert [r.details.topic for r in prefix.items] == [
        "com.example.pre",
        "com.example.pre.a.b",
        "com.example.prefix",
        "com.example.pre.leaf",
    ]
    assert [r.args[0] for r in wild.items] == ["com.example.a.leaf", "com.example.b_2.leaf", "end"]
    assert [r.details.topic for r in wild.items] == [
        "com.example.a.leaf",
        "com.example.b_2.leaf",
        "com.example.pre.leaf",
    ]


LISTING_CASES = LISTING_BY_SESSION + LISTING_BY_AUTHID + LISTING_BY_AUTHROLE


async def test_exclude_eligible_across_pods(multipod, ser):
    """Black/white lists by session, authid and authrole, applied on the receiving pod:
    alice(user) on pod 0, bob(user) on pod 1, carol(admin) on pod 2, publisher on pod 1. The last,
    unrestricted event is the sentinel (per-publisher ordering holds across pods)."""
    pods = await multipod()
    subs = {
        "alice": await pods.connect(0, ser, authid="alice"),
        "bob": await pods.connect(1, ser, authid="bob"),
        "carol": await pods.connect(2, ser, authid="carol"),
    }
    inboxes = {n: Inbox() for n in subs}
    for n, s in subs.items():
        sub = await bounded(s.subscribe(inboxes[n], "com.example.listing"))
    pub = await pods.connect(1, ser)
    await wait_subscribers(pub, sub.id, 3)
    ids = {n: s.id for n, s in subs.items()}
    for i, (make_opts, _) in enumerate(LISTING_CASES):
        await bounded(pub.publish("com.example.listing", i, options=PublishOptions(acknowledge=True, **make_opts(ids))))
    await bounded(pub.publish("com.example.listing", "end", options=ACK))
    for n, inbox in inboxes.items():
        await inbox.wait_args(("end",))
        expected = [(i,) for i, (_, who) in enumerate(LISTING_CASES) if n in who] + [("end",)]
        assert inbox.args == expected, f"{n} received {inbox.args}, expected {expected}"


async def test_exclude_me_across_pods(multipod, ser):
    pods = await multipod()
    pub = await pods.connect(0, ser)
    others = [await pods.connect(1, ser), await pods.connect(2, ser)]
    mine, theirs = Inbox(), [Inbox(), Inbox()]
    s = await bounded(pub.subscribe(mine, "com.example.me"))
    for o, inbox in zip(others, theirs):
        await bounded(o.subscribe(inbox, "com.example.me"))
    await wait_subscribers(pub, s.id, 3)
    excluded = PublishOptions(exclude_me=True, acknowledge=True)
    included = PublishOptions(exclude_me=False, acknowledge=True)
    await bounded(pub.publish("com.example.me", "default", options=ACK))  # exclude_me defaults to true
    await bounded(pub.publish("com.example.me", "excluded", options=excluded))
    await bounded(pub.publish("com.example.me", "included", options=included))
    # exclude_me excludes the publisher only, wherever the subscribers are
    await wait_subscribers(others[0], s.id, 3)
    await bounded(others[0].publish("com.example.me", "from-pod-1", options=excluded))
    await bounded(others[0].publish("com.example.me", "end", options=included))
    await mine.wait_args(("end",))
    # local events before remote ones: "included" was delivered before "from-pod-1" was published
    assert mine.args == [("included",), ("from-pod-1",), ("end",)]
    for inbox, got_own in zip(theirs, (False, True)):
        await inbox.wait_args(("included",))
        await inbox.wait_args(("end",))
        # per publisher in order (events of two publishers on two pods may interleave)
        from_pub = [a for a in inbox.args if a[0] in ("default", "excluded", "included")]
        from_other = [a for a in inbox.args if a[0] in ("from-pod-1", "end")]
        assert from_pub == [("default",), ("excluded",), ("included",)]
        assert from_other == ([("from-pod-1",)] if got_own else []) + [("end",)]
        assert len(inbox) == len(from_pub) + len(from_other)


async def test_publisher_disclosure_across_pods(multipod, ser):
    pods = await multipod()
    pub = await pods.connect(0, ser, authid="alice")
    subs = [await pods.connect(1, ser), await pods.connect(2, ser)]
    inboxes = [Inbox(), Inbox()]
    for s, inbox in zip(subs, inboxes):
        sub = await bounded(s.subscribe(inbox, "com.example.disclose", options=DETAILS))
    await wait_subscribers(pub, sub.id, 2)
    await publish_with(pub, "com.example.disclose", "disclosed", extra={"disclose_me": True}, options=ACK)
    await bounded(pub.publish("com.example.disclose", "anonymous", options=ACK))
    for inbox in inboxes:
        await inbox.wait_count(2)
        disclosed, anonymous = inbox.items
        assert disclosed.args == ("disclosed",)
        d = disclosed.details
        assert (d.publisher, d.publisher_authid, d.publisher_authrole) == (pub.id, "alice", "user")
        assert anonymous.args == ("anonymous",)
        d = anonymous.details
        assert (d.publisher, d.publisher_authid, d.publisher_authrole) == (None, None, None)


async def test_retained_events_across_pods(multipod, ser):
    """Retained on pod 0, replayed by get_retained on pods 1 and 2, eligibility included."""
    pods = await multipod()
    pub = await pods.connect(0, ser)
    retain = PublishOptions(retain=True, acknowledge=True)
    await bounded(pub.publish("com.example.retained", "first", options=retain))
    await bounded(pub.publish("com.example.retained", "second", b"\x01\x02", k={"v": 1}, options=retain))
    await bounded(pub.publish("com.example.retained", "not-retained", options=ACK))
    await bounded(pub.publish(
        "com.example.retained.acl",
        "for-admins",
        options=PublishOptions(retain=True, acknowledge=True, eligible_authrole=["admin"]),
    ))
    # pods 1 and 2 open the realm now (first session there) ...
    late = await pods.connect(1, ser)
    alice, carol = await pods.connect(2, ser, authid="alice"), await pods.connect(2, ser, authid="carol")
    # ... and have applied the Retain ops (before the barrier in the realm's log)
    await log_barrier(pub, [late, alice])

    inbox = Inbox()
    s_late = await bounded(late.subscribe(inbox, "com.example.retained", options=RETAINED))
    await inbox.wait_count(1)
    got = inbox.items[0]
    assert (got.args, got.kwargs) == (("second", b"\x01\x02"), {"k": {"v": 1}})
    assert got.details.retained is True

    alice_inbox, carol_inbox = Inbox(), Inbox()
    s = await bounded(alice.subscribe(alice_inbox, "com.example.retained.acl", options=RETAINED))
    await bounded(carol.subscribe(carol_inbox, "com.example.retained.acl", options=RETAINED))
    await carol_inbox.wait_args(("for-admins",))
    await wait_subscribers(pub, s.id, 2)
    await bounded(pub.publish("com.example.retained.acl", "live", options=ACK))
    await alice_inbox.wait_args(("live",))
    await carol_inbox.wait_args(("live",))
    assert alice_inbox.args == [("live",)]  # never eligible for the retained one
    assert carol_inbox.args == [("for-admins",), ("live",)]

    # a live event on another pod is not marked retained
    await wait_subscribers(pub, s_late.id, 1)
    await bounded(pub.publish("com.example.retained", "live", options=ACK))
    await inbox.wait_args(("live",))
    assert inbox.args == [("second", b"\x01\x02"), ("live",)]
    assert not inbox.items[1].details.retained


async def test_per_publisher_ordering_across_pods(multipod, ser):
    """Two publishers (pods 0 and 2), 500 events each, subscribers on pods 1 and 2: each
    subscriber gets every event of each publisher, in that publisher's order."""
    n = 500
    pods = await multipod()
    pub_a, pub_c = await pods.connect(0, ser), await pods.connect(2, ser)
    subs = [await pods.connect(1, ser), await pods.connect(2, ser)]
    inboxes = [Inbox(), Inbox()]
    for s, inbox in zip(subs, inboxes):
        sub = await bounded(s.subscribe(inbox, "com.example.order"))
    await wait_subscribers(pub_a, sub.id, 2)
    await wait_subscribers(pub_c, sub.id, 2)
    for i in range(n):
        pub_a.publish("com.example.order", "a", i, b"\x00" * (i % 5))
        pub_c.publish("com.example.order", "c", i)
    await bounded(pub_a.publish("com.example.order", "a", "end", options=ACK))
    await bounded(pub_c.publish("com.example.order", "c", "end", options=ACK))
    for inbox in inboxes:
        await inbox.wait_for(
            lambda items: {("a", "end"), ("c", "end")} <= {r.args[:2] for r in items}, timeout=20, what="both ends"
        )
        assert len(inbox) == 2 * n + 2
        from_a = [r.args for r in inbox.items if r.args[0] == "a"]
        from_c = [r.args for r in inbox.items if r.args[0] == "c"]
        assert from_a == [("a", i, b"\x00" * (i % 5)) for i in range(n)] + [("a", "end")]
        assert from_c == [("c", i) for i in range(n)] + [("c", "end")]
