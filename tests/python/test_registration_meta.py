"""Registration meta API (advanced profile): wamp.registration.* procedures and events."""

from autobahn.wamp.types import RegisterOptions

from wamp_client import Inbox, bounded, call_error

PROC = "com.example.meta.proc"
META_EVENTS = ["on_create", "on_register", "on_unregister", "on_delete"]


async def _observe(router, ser):
    obs = await router.connect(ser)
    inbox = Inbox()
    for name in META_EVENTS:
        await obs.subscribe(inbox.tagged(name), f"wamp.registration.{name}")
    return obs, inbox


def _ours(uri, reg_id):
    def pred(r):
        if r.tag == "on_create":
            return len(r.args) >= 2 and isinstance(r.args[1], dict) and r.args[1].get("uri") == uri
        return len(r.args) >= 2 and r.args[1] == reg_id

    return pred


def _count(inbox, uri, reg_id):
    return len([r for r in inbox.items if _ours(uri, reg_id)(r)])


async def test_registration_meta_events(router, ser):
    obs, inbox = await _observe(router, ser)
    a, b = await router.connect(ser), await router.connect(ser)
    opts = RegisterOptions(invoke="roundrobin")
    ra = await a.register(lambda: "a", PROC, options=opts)
    await inbox.wait_for(lambda _: _count(inbox, PROC, ra.id) >= 2, what="on_create+on_register")
    rb = await b.register(lambda: "b", PROC, options=opts)
    assert rb.id == ra.id
    await inbox.wait_for(lambda _: _count(inbox, PROC, ra.id) >= 3, what="on_register(b)")
    await ra.unregister()
    await inbox.wait_for(lambda _: _count(inbox, PROC, ra.id) >= 4, what="on_unregister(a)")
    await rb.unregister()
    await inbox.wait_for(lambda _: _count(inbox, PROC, ra.id) >= 6, what="on_unregister(b)+on_delete")

    seq = [r for r in inbox.items if _ours(PROC, ra.id)(r)]
    assert [r.tag for r in seq] == [
        "on_create",
        "on_register",
        "on_register",
        "on_unregister",
        "on_unregister",
        "on_delete",
    ], [(r.tag, r.args) for r in seq]
    # on_create: (session|id, RegistrationDetails|dict)
    assert seq[0].args[0] == a.id
    details = seq[0].args[1]
    assert details["id"] == ra.id
    assert details["uri"] == PROC
    assert details["match"] == "exact"
    assert details["invoke"] == "roundrobin"
    assert isinstance(details["created"], str) and details["created"]
    assert [r.args for r in seq[1:]] == [
        (a.id, ra.id),
        (b.id, ra.id),
        (a.id, ra.id),
        (b.id, ra.id),
        (b.id, ra.id),
    ]


async def test_registration_meta_events_on_callee_leave(router, ser):
    obs, inbox = await _observe(router, ser)
    a = await router.connect(ser)
    reg = await a.register(lambda: 1, "com.example.meta", options=RegisterOptions(match="prefix"))
    await inbox.wait_for(lambda _: _count(inbox, "com.example.meta", reg.id) >= 2)
    seq = [r for r in inbox.items if _ours("com.example.meta", reg.id)(r)]
    assert seq[0].args[1]["match"] == "prefix"
    assert seq[0].args[1]["invoke"] == "single"
    a.drop()
    await inbox.wait_for(lambda _: _count(inbox, "com.example.meta", reg.id) >= 4, what="on_unregister+on_delete")
    seq = [r for r in inbox.items if _ours("com.example.meta", reg.id)(r)]
    assert [(r.tag, r.args) for r in seq[2:]] == [
        ("on_unregister", (a.id, reg.id)),
        ("on_delete", (a.id, reg.id)),
    ]


async def test_registration_meta_procedures(router, ser):
    a, b, obs = [await router.connect(ser) for _ in range(3)]
    exact = await a.register(lambda: "exact", "com.example.r.exact")
    prefix = await a.register(lambda: "prefix", "com.example.r", options=RegisterOptions(match="prefix"))
    wild = await a.register(lambda: "wild", "com.example..wild", options=RegisterOptions(match="wildcard"))
    shared_opts = RegisterOptions(invoke="roundrobin")
    shared = await a.register(lambda: "s", "com.example.shared", options=shared_opts)
    await b.register(lambda: "s", "com.example.shared", options=shared_opts)

    lists = await bounded(obs.call("wamp.registration.list"))
    assert set(lists) >= {"exact", "prefix", "wildcard"}, lists
    assert {exact.id, shared.id} <= set(lists["exact"])
    assert prefix.id in lists["prefix"] and prefix.id not in lists["exact"] + lists["wildcard"]
    assert wild.id in lists["wildcard"] and wild.id not in lists["exact"] + lists["prefix"]

    assert await bounded(obs.call("wamp.registration.lookup", "com.example.r.exact")) == exact.id
    assert await bounded(obs.call("wamp.registration.lookup", "com.example.r", {"match": "prefix"})) == prefix.id
    assert await bounded(obs.call("wamp.registration.lookup", "com.example..wild", {"match": "wildcard"})) == wild.id
    assert await bounded(obs.call("wamp.registration.lookup", "com.example.r")) is None
    assert await bounded(obs.call("wamp.registration.lookup", "com.example.none")) is None

    # match: the single best registration, as the dealer would route the call
    assert await bounded(obs.call("wamp.registration.match", "com.example.r.exact")) == exact.id
    assert await bounded(obs.call("wamp.registration.match", "com.example.r.other")) == prefix.id
    assert await bounded(obs.call("wamp.registration.match", "com.example.x.wild")) == wild.id
    assert await bounded(obs.call("wamp.registration.match", "org.example.none")) is None

    got = await bounded(obs.call("wamp.registration.get", shared.id))
    assert got["id"] == shared.id
    assert got["uri"] == "com.example.shared"
    assert got["match"] == "exact"
    assert got["invoke"] == "roundrobin"
    assert isinstance(got["created"], str) and got["created"]
    got = await bounded(obs.call("wamp.registration.get", wild.id))
    assert (got["uri"], got["match"], got["invoke"]) == ("com.example..wild", "wildcard", "single")

    assert sorted(await bounded(obs.call("wamp.registration.list_callees", shared.id))) == sorted([a.id, b.id])
    assert await bounded(obs.call("wamp.registration.count_callees", shared.id)) == 2
    assert await bounded(obs.call("wamp.registration.list_callees", exact.id)) == [a.id]
    assert await bounded(obs.call("wamp.registration.count_callees", exact.id)) == 1

    await b.close()
    assert await bounded(obs.call("wamp.registration.list_callees", shared.id)) == [a.id]
    assert await bounded(obs.call("wamp.registration.count_callees", shared.id)) == 1

    for proc in ("get", "list_callees", "count_callees"):
        err = await call_error(obs.call(f"wamp.registration.{proc}", 7654321))
        assert err.error == "wamp.error.no_such_registration", proc
