"""Routed RPC (basic profile + advanced: pattern-based and shared registrations, progressive call
results, call timeout, call canceling, caller identification)."""

import asyncio
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, CallResult, RegisterOptions

from test_pubsub import PAYLOAD_ARGS, PAYLOAD_KWARGS
from wamp_client import (
    SERIALIZER_NAMES,
    bounded,
    call_error,
    call_raw,
    call_with,
    cancel_call,
    unregister_raw,
    valid_id,
)

CANCELED = "wamp.error.canceled"
ALREADY_EXISTS = "wamp.error.procedure_already_exists"
POLICY_CONFLICT = {
    "wamp.error.procedure_already_exists",
    "wamp.error.procedure_exists_with_different_invocation_policy",
}


def echo(*args, **kwargs):
    return CallResult(*args, **kwargs)


async def test_register_call_unregister(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)
    reg = await callee.register(lambda a, b: a + b, "com.example.add")
    assert valid_id(reg.id)
    assert await bounded(caller.call("com.example.add", 2, 3)) == 5
    # the callee may call its own procedure
    assert await bounded(callee.call("com.example.add", 20, 22)) == 42
    await bounded(reg.unregister(), what="UNREGISTERED")
    err = await call_error(caller.call("com.example.add", 2, 3))
    assert err.error == "wamp.error.no_such_procedure"
    # the URI is free again
    reg2 = await caller.register(lambda: "again", "com.example.add")
    assert valid_id(reg2.id)
    assert await bounded(callee.call("com.example.add")) == "again"


async def test_no_such_procedure(router, ser):
    caller = await router.connect(ser)
    err = await call_error(caller.call("com.example.nothing.here", 1))
    assert err.error == "wamp.error.no_such_procedure"


async def test_unregister_unknown_registration(router, ser):
    s = await router.connect(ser)
    err = await call_error(unregister_raw(s, 987654321))
    assert err.error == "wamp.error.no_such_registration"


async def test_procedure_already_exists(router, ser):
    a, b = await router.connect(ser), await router.connect(ser)
    await a.register(lambda: "a", "com.example.once")
    err = await call_error(b.register(lambda: "b", "com.example.once"))
    assert err.error == ALREADY_EXISTS
    err = await call_error(a.register(lambda: "a2", "com.example.once"))
    assert err.error == ALREADY_EXISTS
    # same URI with another match policy is a different registration
    await b.register(lambda: "b-prefix", "com.example.once", options=RegisterOptions(match="prefix"))
    assert await bounded(b.call("com.example.once")) == "a"


async def test_call_args_kwargs_pass_through(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)
    await callee.register(echo, "com.example.echo")
    res = await bounded(caller.call("com.example.echo", *PAYLOAD_ARGS, **PAYLOAD_KWARGS))
    assert isinstance(res, CallResult)
    assert list(res.results) == PAYLOAD_ARGS
    assert res.kwresults == PAYLOAD_KWARGS
    assert await bounded(caller.call("com.example.echo")) is None
    res = await bounded(caller.call("com.example.echo", only="kw"))
    assert list(res.results) == [] and res.kwresults == {"only": "kw"}


# spec example (Pattern-based Registrations, "Calls matching multiple registrations"), plus a
# prefix-free copy of its wildcard cases: the spec's own example says 'a1.b2.c3.d4.e5' has "no
# prefix match", but registrations 2 and 3 are prefixes of it, so by the spec's algorithm
# (exact, then longest prefix, then wildcard) it goes to 3. The x1.* URIs test the wildcard rule
# ("longest portion of URI components matched before each wildcard") without that slip.
PATTERN_REGS = [
    (1, "a1.b2.c3.d4.e55", "exact"),
    (2, "a1.b2.c3", "prefix"),
    (3, "a1.b2.c3.d4", "prefix"),
    (4, "a1.b2..d4.e5", "wildcard"),
    (5, "a1.b2.c3..e5", "wildcard"),
    (6, "a1.b2..d4.e5..g7", "wildcard"),
    (7, "a1.b2..d4..f6.g7", "wildcard"),
    (8, "x1.b2..d4.e5", "wildcard"),
    (9, "x1.b2.c3..e5", "wildcard"),
]
PATTERN_CALLS = [
    ("a1.b2.c3.d4.e55", 1),
    ("a1.b2.c3.d98.e74", 2),
    ("a1.b2.c3.d4.e325", 3),
    ("a1.b2.c55.d4.e5", 4),
    ("a1.b2.c3.d4.e5", 3),
    ("a1.b2.c88.d4.e5.f6.g7", 6),
    ("x1.b2.c55.d4.e5", 8),
    ("x1.b2.c3.d4.e5", 9),
]


async def test_pattern_registrations_most_specific_wins(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)

    def endpoint(n):
        def ep(*args, details):
            return [n, details.procedure, list(args)]

        return ep

    ids = set()
    for n, uri, match in PATTERN_REGS:
        reg = await callee.register(endpoint(n), uri, options=RegisterOptions(match=match, details=True))
        ids.add(reg.id)
    assert len(ids) == len(PATTERN_REGS)
    for uri, expected in PATTERN_CALLS:
        n, procedure, args = await bounded(caller.call(uri, "x"), what=f"call {uri}")
        assert n == expected, f"{uri} routed to registration {n}, spec says {expected}"
        # INVOCATION.Details.procedure carries the concrete URI on pattern registrations
        assert procedure == uri
        assert args == ["x"]
    err = await call_error(caller.call("a2.b2.c2.d2.e2"))
    assert err.error == "wamp.error.no_such_procedure"


async def test_prefix_registration_is_string_prefix(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)
    await callee.register(
        lambda details: details.procedure, "com.myapp.myobject1", options=RegisterOptions(match="prefix", details=True)
    )
    for uri in [
        "com.myapp.myobject1.myprocedure1",
        "com.myapp.myobject1-mysubobject1",
        "com.myapp.myobject1.mysubobject1.myprocedure1",
        "com.myapp.myobject1",
    ]:
        assert await bounded(caller.call(uri)) == uri
    for uri in ["com.myapp.myobject2", "com.myapp.myobject"]:
        err = await call_error(caller.call(uri))
        assert err.error == "wamp.error.no_such_procedure", uri


async def test_application_error_passes_through(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)

    def fail(*args, **kwargs):
        raise ApplicationError("com.example.error.custom", *args, **kwargs)

    await callee.register(fail, "com.example.fail")
    err = await call_error(caller.call("com.example.fail", *PAYLOAD_ARGS, **PAYLOAD_KWARGS))
    assert err.error == "com.example.error.custom"
    assert list(err.args) == PAYLOAD_ARGS
    assert err.kwargs == PAYLOAD_KWARGS
    err = await call_error(caller.call("com.example.fail"))
    assert err.error == "com.example.error.custom"
    assert err.args == () and err.kwargs == {}


@pytest.mark.parametrize("policy", ["roundrobin", "random", "first", "last"])
async def test_shared_registration(router, ser, policy):
    c1, c2, caller = [await router.connect(ser) for _ in range(3)]
    r1 = await c1.register(lambda: "c1", "com.example.shared", options=RegisterOptions(invoke=policy))
    r2 = await c2.register(lambda: "c2", "com.example.shared", options=RegisterOptions(invoke=policy))
    # one registration, two callees
    assert r1.id == r2.id
    n = 40 if policy == "random" else 8
    results = [await bounded(caller.call("com.example.shared")) for _ in range(n)]
    if policy == "roundrobin":
        assert results in (["c1", "c2"] * (n // 2), ["c2", "c1"] * (n // 2)), results
    elif policy == "random":
        assert set(results) == {"c1", "c2"}, results  # P(one callee only) = 2^-39
    elif policy == "first":
        assert results == ["c1"] * n
    elif policy == "last":
        assert results == ["c2"] * n
    # a third callee with the same policy joins the set
    c3 = await router.connect(ser)
    r3 = await c3.register(lambda: "c3", "com.example.shared", options=RegisterOptions(invoke=policy))
    assert r3.id == r1.id
    if policy == "last":
        assert await bounded(caller.call("com.example.shared")) == "c3"
    if policy == "first":
        assert await bounded(caller.call("com.example.shared")) == "c1"
    # when callees go, the rest keep serving
    await r1.unregister()
    await c3.close()
    results = [await bounded(caller.call("com.example.shared")) for _ in range(4)]
    assert results == ["c2"] * 4


async def test_shared_registration_policy_conflict(router, ser):
    c1, c2, caller = [await router.connect(ser) for _ in range(3)]
    await c1.register(lambda: "c1", "com.example.policy", options=RegisterOptions(invoke="roundrobin"))
    for other in ("random", "first", "last", "single"):
        err = await call_error(c2.register(lambda: "c2", "com.example.policy", options=RegisterOptions(invoke=other)))
        assert err.error in POLICY_CONFLICT, (other, err.error)
    # default policy is single: a second registration fails whatever its policy
    await c1.register(lambda: "c1", "com.example.single")
    err = await call_error(c2.register(lambda: "c2", "com.example.single", options=RegisterOptions(invoke="single")))
    assert err.error == ALREADY_EXISTS
    err = await call_error(c2.register(lambda: "c2", "com.example.single", options=RegisterOptions(invoke="roundrobin")))
    assert err.error in POLICY_CONFLICT
    # the original registrations are untouched
    assert [await bounded(caller.call("com.example.policy")) for _ in range(2)] == ["c1", "c1"]
    assert await bounded(caller.call("com.example.single")) == "c1"


async def test_progressive_call_results(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)
    seen_progress = []

    async def progressive(n, details):
        seen_progress.append(details.progress is not None)
        if details.progress is None:
            return "no-progress"
        for i in range(n):
            details.progress(i, b"\x00" * i, step=i)
        return CallResult("done", total=n)

    await callee.register(progressive, "com.example.progressive", options=RegisterOptions(details=True))
    progress = []
    res = await bounded(
        caller.call(
            "com.example.progressive", 5, options=CallOptions(on_progress=lambda *a, **kw: progress.append((a, kw)))
        )
    )
    assert seen_progress == [True], "INVOCATION.Details.receive_progress was not set"
    assert progress == [((i, b"\x00" * i), {"step": i}) for i in range(5)]
    assert list(res.results) == ["done"] and res.kwresults == {"total": 5}
    # a caller that did not ask for progress gets no receive_progress on the invocation
    assert await bounded(caller.call("com.example.progressive", 2)) == "no-progress"
    assert seen_progress == [True, False]


async def slow_callee(callee, uri="com.example.slow"):
    """Register ``uri`` (blocks until released; records INVOCATION and INTERRUPT) and
    ``com.example.ping`` on ``callee``; returns (state, registration ids)."""
    state = {
        "invoked": asyncio.Event(),
        "interrupted": asyncio.Event(),
        "release": asyncio.Event(),  # let a running invocation return "finished"
        "answer_interrupt": asyncio.Event(),  # let an interrupted invocation answer ERROR
    }

    async def slow(*args):
        state["invoked"].set()
        try:
            await asyncio.wait_for(state["release"].wait(), 30)
            return "finished"
        except asyncio.CancelledError:  # autobahn cancels the task on INTERRUPT
            if not callee.is_attached():
                raise  # not an INTERRUPT: the session is gone (test teardown)
            state["interrupted"].set()
            # bounded: if this cancellation came from the test's teardown rather than an
            # INTERRUPT, the task must still end
            await asyncio.wait_for(state["answer_interrupt"].wait(), 20)
            raise ApplicationError(CANCELED, "interrupted")

    r1 = await bounded(callee.register(slow, uri))
    r2 = await bounded(callee.register(lambda: "pong", "com.example.ping"))
    return state, (r1.id, r2.id)


async def _slow_callee(router, ser, uri="com.example.slow"):
    """A callee on ``router`` with :func:`slow_callee`'s procedures."""
    callee = await router.connect(ser)
    state, _ = await slow_callee(callee, uri)
    return callee, state


async def test_call_timeout(router, ser):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    t0 = time.monotonic()
    # CALL.Options.timeout is in milliseconds on the wire; autobahn passes the int through as is
    err = await call_error(caller.call("com.example.slow", options=CallOptions(timeout=300)), timeout=10)
    elapsed = time.monotonic() - t0
    assert err.error in (CANCELED, "wamp.error.timeout"), err.error
    assert 0.25 <= elapsed < 5, elapsed
    assert state["invoked"].is_set()
    # a call that finishes in time is unaffected
    assert await bounded(caller.call("com.example.ping", options=CallOptions(timeout=5000))) == "pong"


async def test_call_timeout_interrupts_callee(router, ser):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    await call_error(caller.call("com.example.slow", options=CallOptions(timeout=200)), timeout=10)
    # the dealer cancels the invocation it timed out (the callee announced call_canceling)
    await bounded(state["interrupted"].wait(), what="INTERRUPT after call timeout")
    state["answer_interrupt"].set()
    assert await bounded(caller.call("com.example.ping")) == "pong"


async def test_call_cancel_skip(router, ser):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    cancel_call(caller, fut, "skip")
    err = await call_error(fut)
    assert err.error == CANCELED
    # sentinel on the callee's connection: an INTERRUPT would have arrived before this INVOCATION
    assert await bounded(caller.call("com.example.ping")) == "pong"
    assert not state["interrupted"].is_set(), "skip mode must not INTERRUPT the callee"
    # the late YIELD is discarded by the dealer; the session and registration stay usable
    state["release"].set()
    assert await bounded(caller.call("com.example.ping")) == "pong"
    state["release"].clear()
    state["invoked"].clear()
    fut2 = caller.call("com.example.slow")
    await bounded(state["invoked"].wait())
    state["release"].set()
    assert await bounded(fut2) == "finished"


async def test_call_cancel_kill(router, ser):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    cancel_call(caller, fut, "kill")
    await bounded(state["interrupted"].wait(), what="INTERRUPT (kill)")
    # kill: the caller's ERROR waits for the callee's answer to the INTERRUPT
    assert await bounded(caller.call("com.example.ping")) == "pong"
    assert not fut.done(), "kill mode answered the caller before the callee responded"
    state["answer_interrupt"].set()
    err = await call_error(fut)
    assert err.error == CANCELED


async def test_call_cancel_killnowait(router, ser):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    cancel_call(caller, fut, "killnowait")
    # killnowait: the caller gets ERROR at once, while the callee still holds the invocation
    err = await call_error(fut)
    assert err.error == CANCELED
    await bounded(state["interrupted"].wait(), what="INTERRUPT (killnowait)")
    state["answer_interrupt"].set()  # this ERROR is discarded by the dealer
    assert await bounded(caller.call("com.example.ping")) == "pong"


async def test_call_cancel_by_cancelling_the_future(router, ser):
    """autobahn's own API: cancelling the call's future sends CANCEL (no mode)."""
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    fut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fut
    # whatever the default mode, the dealer finishes the call: the callee is interrupted or its
    # late result is discarded, and both sessions stay usable
    state["answer_interrupt"].set()
    state["release"].set()
    assert await bounded(caller.call("com.example.ping")) == "pong"
    assert await bounded(callee.call("com.example.ping")) == "pong"


async def test_caller_disclosure(router, ser):
    callee = await router.connect(ser)
    caller = await router.connect(ser, authid="carol")
    await callee.register(
        lambda details: [details.caller, details.caller_authid, details.caller_authrole],
        "com.example.whoami",
        options=RegisterOptions(details=True),
    )
    disclosed = await bounded(call_with(caller, "com.example.whoami", extra={"disclose_me": True}))
    assert disclosed == [caller.id, "carol", "admin"]
    hidden = await bounded(caller.call("com.example.whoami"))
    assert hidden == [None, None, None]


@pytest.mark.parametrize("how", ["goodbye", "drop"])
async def test_callee_leaving_mid_call_cancels_call(router, ser, how):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    if how == "goodbye":
        await callee.close()
    else:
        callee.drop()
    err = await call_error(fut)
    assert err.error == CANCELED
    # and the registration is gone with its callee
    err = await call_error(caller.call("com.example.slow"))
    assert err.error == "wamp.error.no_such_procedure"


async def test_mixed_serializers_rpc(router, ser):
    """Caller in ``ser``; a callee in each serializer; payloads and errors transcode unchanged."""
    caller = await router.connect(ser)
    for name in SERIALIZER_NAMES:
        callee = await router.connect(name)
        await callee.register(echo, f"com.example.echo.{name}")

        def fail(*args, **kwargs):
            raise ApplicationError("com.example.error.mixed", *args, **kwargs)

        await callee.register(fail, f"com.example.fail.{name}")

        async def progressive(details):
            details.progress(b"\x01", part=1)
            return b"\x02"

        await callee.register(progressive, f"com.example.progress.{name}", options=RegisterOptions(details=True))
    for name in SERIALIZER_NAMES:
        res = await bounded(caller.call(f"com.example.echo.{name}", *PAYLOAD_ARGS, **PAYLOAD_KWARGS))
        assert list(res.results) == PAYLOAD_ARGS, name
        assert res.kwresults == PAYLOAD_KWARGS, name
        assert type(res.results[17]) is bytes, name
        err = await call_error(caller.call(f"com.example.fail.{name}", b"\xff\x00", k=b"\x00"))
        assert err.error == "com.example.error.mixed"
        assert err.args == (b"\xff\x00",) and err.kwargs == {"k": b"\x00"}, name
        progress = []
        final = await bounded(
            caller.call(
                f"com.example.progress.{name}", options=CallOptions(on_progress=lambda *a, **kw: progress.append((a, kw)))
            )
        )
        assert progress == [((b"\x01",), {"part": 1})], name
        assert final == b"\x02", name


async def test_invalid_uris_rejected(router, ser):
    s = await router.connect(ser)
    err = await call_error(s.register(lambda: 1, "com..x"))
    assert err.error == "wamp.error.invalid_uri"
    for procedure in ("com..x", "com.#.x", "com.ex ample", ""):
        err = await call_error(call_raw(s, procedure, 1))
        assert err.error == "wamp.error.invalid_uri", procedure
    reg = await s.register(lambda: "ok", "com.example.ok")
    assert valid_id(reg.id) and await bounded(s.call("com.example.ok")) == "ok"


async def test_progressive_results_then_error(router, ser):
    callee, caller = await router.connect(ser), await router.connect(ser)

    def partial_then_fail(details):
        details.progress("part-1")
        details.progress("part-2", n=2)
        raise ApplicationError("com.example.error.midway", "after two parts", done=2)

    await callee.register(partial_then_fail, "com.example.midway", options=RegisterOptions(details=True))
    progress = []
    err = await call_error(
        caller.call("com.example.midway", options=CallOptions(on_progress=lambda *a, **kw: progress.append((a, kw))))
    )
    assert progress == [(("part-1",), {}), (("part-2",), {"n": 2})]
    assert err.error == "com.example.error.midway"
    assert err.args == ("after two parts",) and err.kwargs == {"done": 2}


async def test_caller_leaving_mid_call_leaves_callee_usable(router, ser):
    callee, state = await _slow_callee(router, ser)
    caller = await router.connect(ser)
    caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    caller.drop()
    await caller.wait_disconnected()
    # the callee's late answer (to an INTERRUPT, or its result) is discarded without harm
    state["answer_interrupt"].set()
    state["release"].set()
    other = await router.connect(ser)
    assert await bounded(other.call("com.example.ping")) == "pong"
    state["invoked"].clear()
    assert await bounded(other.call("com.example.slow")) == "finished"
