"""Subscription meta API (advanced profile): wamp.subscription.* procedures and events."""

from autobahn.wamp.types import PublishOptions, SubscribeOptions

from conftest import RealmSpec
from wamp_client import Inbox, bounded, call_error, valid_id

TOPIC = "com.example.meta.topic"
META_EVENTS = ["on_create", "on_subscribe", "on_unsubscribe", "on_delete"]


async def _observe(router, ser):
    obs = await router.connect(ser)
    inbox = Inbox()
    for name in META_EVENTS:
        await obs.subscribe(inbox.tagged(name), f"wamp.subscription.{name}")
    return obs, inbox


def _ours(uri, sub_id):
    """Filter meta events to those about our topic (the router may also report others, e.g. the
    observer's own subscriptions to wamp.* topics)."""

    def pred(r):
        if r.tag == "on_create":
            return len(r.args) >= 2 and isinstance(r.args[1], dict) and r.args[1].get("uri") == uri
        return len(r.args) >= 2 and r.args[1] == sub_id

    return pred


def _sequence(inbox, uri, sub_id):
    return [r for r in inbox.items if _ours(uri, sub_id)(r)]


async def test_subscription_meta_events(router, ser):
    obs, inbox = await _observe(router, ser)
    a, b = await router.connect(ser), await router.connect(ser)
    sa = await a.subscribe(Inbox(), TOPIC)
    sub_id = sa.id
    await inbox.wait_for(lambda items: len([r for r in items if _ours(TOPIC, sub_id)(r)]) >= 2, what="on_create+on_subscribe")
    sb = await b.subscribe(Inbox(), TOPIC)
    assert sb.id == sub_id
    await inbox.wait_for(lambda items: len([r for r in items if _ours(TOPIC, sub_id)(r)]) >= 3, what="on_subscribe(b)")
    await sa.unsubscribe()
    await inbox.wait_for(lambda items: len([r for r in items if _ours(TOPIC, sub_id)(r)]) >= 4, what="on_unsubscribe(a)")
    await sb.unsubscribe()
    await inbox.wait_for(lambda items: len([r for r in items if _ours(TOPIC, sub_id)(r)]) >= 6, what="on_unsubscribe(b)+on_delete")

    seq = _sequence(inbox, TOPIC, sub_id)
    assert [r.tag for r in seq] == [
        "on_create",
        "on_subscribe",
        "on_subscribe",
        "on_unsubscribe",
        "on_unsubscribe",
        "on_delete",
    ], [(r.tag, r.args) for r in seq]
    create = seq[0]
    # on_create: (session|id, SubscriptionDetails|dict)
    assert create.args[0] == a.id
    details = create.args[1]
    assert details["id"] == sub_id
    assert details["uri"] == TOPIC
    assert details["match"] == "exact"
    assert isinstance(details["created"], str) and details["created"]
    # the others: (session|id, subscription|id)
    assert seq[1].args == (a.id, sub_id)
    assert seq[2].args == (b.id, sub_id)
    assert seq[3].args == (a.id, sub_id)
    assert seq[4].args == (b.id, sub_id)
    assert seq[5].args == (b.id, sub_id)


async def test_subscription_meta_events_pattern_and_session_leave(router, ser):
    obs, inbox = await _observe(router, ser)
    a = await router.connect(ser)
    sp = await a.subscribe(Inbox(), "com.example.meta", options=SubscribeOptions(match="prefix"))
    await inbox.wait_for(lambda items: len([r for r in items if _ours("com.example.meta", sp.id)(r)]) >= 2)
    create = _sequence(inbox, "com.example.meta", sp.id)[0]
    assert create.args[1]["match"] == "prefix"
    # a subscriber that goes away without UNSUBSCRIBE is removed, with events
    a.drop()
    await inbox.wait_for(
        lambda items: len([r for r in items if _ours("com.example.meta", sp.id)(r)]) >= 4, what="on_unsubscribe+on_delete"
    )
    seq = _sequence(inbox, "com.example.meta", sp.id)
    assert [(r.tag, r.args) for r in seq[2:]] == [("on_unsubscribe", (a.id, sp.id)), ("on_delete", (a.id, sp.id))]


async def test_subscription_meta_procedures(router, ser):
    a, b, obs = [await router.connect(ser) for _ in range(3)]
    exact = await a.subscribe(Inbox(), "com.example.m.exact")
    await b.subscribe(Inbox(), "com.example.m.exact")
    prefix = await a.subscribe(Inbox(), "com.example.m.pre", options=SubscribeOptions(match="prefix"))
    wild = await a.subscribe(Inbox(), "com.example..w", options=SubscribeOptions(match="wildcard"))
    wild2 = await b.subscribe(Inbox(), "com..m.pre", options=SubscribeOptions(match="wildcard"))

    lists = await bounded(obs.call("wamp.subscription.list"))
    assert set(lists) >= {"exact", "prefix", "wildcard"}, lists
    assert exact.id in lists["exact"] and exact.id not in lists["prefix"] + lists["wildcard"]
    assert prefix.id in lists["prefix"] and prefix.id not in lists["exact"] + lists["wildcard"]
    assert wild.id in lists["wildcard"] and wild.id not in lists["exact"] + lists["prefix"]

    assert await bounded(obs.call("wamp.subscription.lookup", "com.example.m.exact")) == exact.id
    assert await bounded(obs.call("wamp.subscription.lookup", "com.example.m.exact", {"match": "exact"})) == exact.id
    assert await bounded(obs.call("wamp.subscription.lookup", "com.example.m.pre", {"match": "prefix"})) == prefix.id
    assert await bounded(obs.call("wamp.subscription.lookup", "com.example..w", {"match": "wildcard"})) == wild.id
    # lookup is by URI and policy, not by matching
    assert await bounded(obs.call("wamp.subscription.lookup", "com.example.m.pre")) is None
    assert await bounded(obs.call("wamp.subscription.lookup", "com.example.none")) is None

    # match: every subscription whose pattern matches the topic, whatever the policy
    assert sorted(await bounded(obs.call("wamp.subscription.match", "com.example.m.exact"))) == sorted([exact.id])
    assert sorted(await bounded(obs.call("wamp.subscription.match", "com.example.m.pre"))) == sorted(
        [prefix.id, wild2.id]
    )
    assert sorted(await bounded(obs.call("wamp.subscription.match", "com.example.m.pre.x"))) == [prefix.id]
    assert sorted(await bounded(obs.call("wamp.subscription.match", "com.example.m.w"))) == [wild.id]
    assert await bounded(obs.call("wamp.subscription.match", "org.example.none")) in (None, [])

    got = await bounded(obs.call("wamp.subscription.get", prefix.id))
    assert got["id"] == prefix.id and got["uri"] == "com.example.m.pre" and got["match"] == "prefix"
    assert isinstance(got["created"], str) and got["created"]

    assert sorted(await bounded(obs.call("wamp.subscription.list_subscribers", exact.id))) == sorted([a.id, b.id])
    assert await bounded(obs.call("wamp.subscription.count_subscribers", exact.id)) == 2
    assert await bounded(obs.call("wamp.subscription.count_subscribers", prefix.id)) == 1

    await b.close()
    assert await bounded(obs.call("wamp.subscription.list_subscribers", exact.id)) == [a.id]
    assert await bounded(obs.call("wamp.subscription.count_subscribers", exact.id)) == 1

    for proc in ("get", "list_subscribers", "count_subscribers"):
        err = await call_error(obs.call(f"wamp.subscription.{proc}", 1234567))
        assert err.error == "wamp.error.no_such_subscription", proc
    assert valid_id(exact.id)


async def test_subscription_meta_is_per_realm(router_factory, realm_name, ser):
    r1, r2 = RealmSpec(realm_name("one")), RealmSpec(realm_name("two"))
    r = router_factory(realms=[r1, r2])
    a = await r.connect(ser, realm=r1.uri)
    obs_other = await r.connect(ser, realm=r2.uri)
    inbox = Inbox()
    await obs_other.subscribe(inbox.tagged("on_create"), "wamp.subscription.on_create")
    await obs_other.subscribe(inbox.tagged("sentinel"), "com.example.sentinel")
    sub = await a.subscribe(Inbox(), "com.example.realm.one")
    assert await bounded(obs_other.call("wamp.subscription.lookup", "com.example.realm.one")) is None
    pub = await r.connect(ser, realm=r2.uri)
    await pub.publish("com.example.sentinel", "s", options=PublishOptions(acknowledge=True))
    await inbox.wait_for(lambda items: any(x.tag == "sentinel" for x in items))
    assert not [x for x in inbox.items if x.tag == "on_create" and x.args[1].get("id") == sub.id]
