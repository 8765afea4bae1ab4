"""Routed RPC across router pods (issue #5): caller and callees on different pods of one realm
served by 3 pods on one Redis. Before calling, a test waits until the caller's pod knows the
remote registration (meta API polled with a deadline, see multipod.py)."""

import asyncio
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, CallResult, RegisterOptions

from multipod import wait_callees, wait_until
from test_pubsub import PAYLOAD_ARGS, PAYLOAD_KWARGS
from test_rpc import ALREADY_EXISTS, CANCELED, POLICY_CONFLICT, echo, slow_callee
from wamp_client import SERIALIZER_NAMES, bounded, call_error, call_with, cancel_call, valid_id

async def test_call_result_and_errors_across_pods(multipod, ser):
    pods = await multipod()
    caller, callee, third = await pods.connect(0, ser), await pods.connect(1, ser), await pods.connect(2, ser)

    def fail(*args, **kwargs):
        raise ApplicationError("com.example.error.custom", *args, **kwargs)

    r_echo = await bounded(callee.register(echo, "com.example.echo"))
    r_fail = await bounded(callee.register(fail, "com.example.fail"))
    for s in (caller, third):
        await wait_callees(s, r_echo.id, 1)
        await wait_callees(s, r_fail.id, 1)

    res = await bounded(caller.call("com.example.echo", *PAYLOAD_ARGS, **PAYLOAD_KWARGS))
    assert isinstance(res, CallResult)
    assert list(res.results) == PAYLOAD_ARGS and res.kwresults == PAYLOAD_KWARGS
    assert await bounded(caller.call("com.example.echo")) is None
    assert await bounded(third.call("com.example.echo", "from-pod-2")) == "from-pod-2"

    err = await call_error(caller.call("com.example.fail", *PAYLOAD_ARGS, **PAYLOAD_KWARGS))
    assert err.error == "com.example.error.custom"
    assert list(err.args) == PAYLOAD_ARGS and err.kwargs == PAYLOAD_KWARGS
    err = await call_error(third.call("com.example.fail"))
    assert (err.error, err.args, err.kwargs) == ("com.example.error.custom", (), {})

    # 100 concurrent calls from two pods: every result to its own caller
    results = await bounded(
        asyncio.gather(*[(caller if i % 2 else third).call("com.example.echo", i) for i in range(100)]), timeout=20
    )
    assert results == list(range(100))

    # unregistered on pod 1: gone on pod 0 too
    await bounded(r_echo.unregister(), what="UNREGISTERED")
    await wait_callees(caller, r_echo.id, 0)
    err = await call_error(caller.call("com.example.echo", 1))
    assert err.error == "wamp.error.no_such_procedure"
    err = await call_error(caller.call("com.example.nothing.here"))
    assert err.error == "wamp.error.no_such_procedure"


async def test_progressive_results_across_pods(multipod, ser):
    pods = await multipod()
    caller, callee = await pods.connect(0, ser), await pods.connect(2, ser)
    seen_progress = []

    async def progressive(n, details):
        seen_progress.append(details.progress is not None)
        if details.progress is None:
            return "no-progress"
        for i in range(n):
            details.progress(i, b"\x00" * i, step=i)
        return CallResult("done", total=n)

    def partial_then_fail(details):
        details.progress("part-1")
        raise ApplicationError("com.example.error.midway", "after one part", done=1)

    r1 = await bounded(callee.register(progressive, "com.example.progressive", options=RegisterOptions(details=True)))
    r2 = await bounded(callee.register(partial_then_fail, "com.example.midway", options=RegisterOptions(details=True)))
    await wait_callees(caller, r1.id, 1)
    await wait_callees(caller, r2.id, 1)

    progress = []
    res = await bounded(
        caller.call(
            "com.example.progressive", 5, options=CallOptions(on_progress=lambda *a, **kw: progress.append((a, kw)))
        )
    )
    assert seen_progress == [True], "INVOCATION.Details.receive_progress was not set"
    assert progress == [((i, b"\x00" * i), {"step": i}) for i in range(5)]
    assert list(res.results) == ["done"] and res.kwresults == {"total": 5}
    assert await bounded(caller.call("com.example.progressive", 2)) == "no-progress"
    assert seen_progress == [True, False]

    progress = []
    err = await call_error(
        caller.call("com.example.midway", options=CallOptions(on_progress=lambda *a, **kw: progress.append((a, kw))))
    )
    assert progress == [(("part-1",), {})]
    assert (err.error, err.args, err.kwargs) == ("com.example.error.midway", ("after one part",), {"done": 1})


def reset(state):
    for e in state.values():
        e.clear()


async def test_cancel_across_pods(multipod, ser):
    """CANCEL on pod 0 for a call whose callee is on pod 1: kill and killnowait INTERRUPT the
    callee on its pod, skip does not."""
    pods = await multipod()
    caller, callee = await pods.connect(0, ser), await pods.connect(1, ser)
    state, reg_ids = await slow_callee(callee)
    for rid in reg_ids:
        await wait_callees(caller, rid, 1)

    # kill: INTERRUPT reaches the callee's pod; the caller's ERROR waits for the callee's answer
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    cancel_call(caller, fut, "kill")
    await bounded(state["interrupted"].wait(), what="INTERRUPT (kill) on the callee's pod")
    assert await bounded(caller.call("com.example.ping")) == "pong"
    assert not fut.done(), "kill mode answered the caller before the callee responded"
    state["answer_interrupt"].set()
    err = await call_error(fut)
    assert err.error == CANCELED

    # killnowait: ERROR at once, INTERRUPT all the same
    reset(state)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    cancel_call(caller, fut, "killnowait")
    err = await call_error(fut)
    assert err.error == CANCELED
    await bounded(state["interrupted"].wait(), what="INTERRUPT (killnowait) on the callee's pod")
    state["answer_interrupt"].set()  # this ERROR is discarded
    assert await bounded(caller.call("com.example.ping")) == "pong"

    # skip: ERROR at once, no INTERRUPT; the late result is discarded
    reset(state)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait(), what="INVOCATION")
    cancel_call(caller, fut, "skip")
    err = await call_error(fut)
    assert err.error == CANCELED
    # sentinel on the callee's connection: an INTERRUPT would have arrived before this INVOCATION
    assert await bounded(caller.call("com.example.ping")) == "pong"
    assert not state["interrupted"].is_set(), "skip mode must not INTERRUPT the callee"
    state["release"].set()
    assert await bounded(caller.call("com.example.ping")) == "pong"
    reset(state)
    fut = caller.call("com.example.slow")
    await bounded(state["invoked"].wait())
    state["release"].set()
    assert await bounded(fut) == "finished"


async def test_call_timeout_across_pods(multipod, ser):
    pods = await multipod()
    caller, callee = await pods.connect(0, ser), await pods.connect(2, ser)
    state, reg_ids = await slow_callee(callee)
    for rid in reg_ids:
        await wait_callees(caller, rid, 1)
    t0 = time.monotonic()
    # CALL.Options.timeout is in milliseconds on the wire
    err = await call_error(caller.call("com.example.slow", options=CallOptions(timeout=300)), timeout=10)
    elapsed = time.monotonic() - t0
    assert err.error in (CANCELED, "wamp.error.timeout"), err.error
    assert 0.25 <= elapsed < 5, elapsed
    # the caller's pod timed the call out and interrupts the callee on its pod
    await bounded(state["interrupted"].wait(), what="INTERRUPT after call timeout")
    state["answer_interrupt"].set()
    assert await bounded(caller.call("com.example.ping", options=CallOptions(timeout=5000))) == "pong"


async def test_caller_disclosure_across_pods(multipod, ser):
    pods = await multipod()
    callee, caller = await pods.connect(1, ser), await pods.connect(2, ser, authid="carol")
    reg = await bounded(callee.register(
        lambda details: [details.caller, details.caller_authid, details.caller_authrole],
        "com.example.whoami",
        options=RegisterOptions(details=True),
    ))
    await wait_callees(caller, reg.id, 1)
    disclosed = await bounded(call_with(caller, "com.example.whoami", extra={"disclose_me": True}))
    assert disclosed == [caller.id, "carol", "admin"]
    assert await bounded(caller.call("com.example.whoami")) == [None, None, None]


@pytest.mark.parametrize("policy", ["single", "first", "last", "roundrobin", "random"])
async def test_shared_registration_across_pods(multipod, policy):
    """Callee i on pod i (registered in that order), callers on pods 0 and 1; one serializer per
    pod. Roundrobin rotates over every callee realm-wide, fairly, for each caller."""
    pods = await multipod()
    callees = await pods.connect_each()
    callers = [await pods.connect(0, "cbor"), await pods.connect(1, "json")]
    proc = "com.example.shared"

    if policy == "single":
        reg = await bounded(callees[0].register(lambda: "c0", proc))
        for c in callees[1:]:
            err = await call_error(c.register(lambda: "other", proc))
            assert err.error == ALREADY_EXISTS
            err = await call_error(c.register(lambda: "other", proc, options=RegisterOptions(invoke="roundrobin")))
            assert err.error in POLICY_CONFLICT
        for caller in callers:
            await wait_callees(caller, reg.id, 1)
            assert [await bounded(caller.call(proc)) for _ in range(3)] == ["c0"] * 3
        return

    opts = RegisterOptions(invoke=policy)
    regs = [await bounded(c.register(lambda i=i: f"c{i}", proc, options=opts)) for i, c in enumerate(callees)]
    # one registration realm-wide, three callees
    assert valid_id(regs[0].id) and len({r.id for r in regs}) == 1
    reg_id = regs[0].id
    for caller in callers:
        await wait_callees(caller, reg_id, 3)
    # another policy is a conflict on any pod
    err = await call_error(callers[1].register(lambda: "x", proc, options=RegisterOptions(invoke="single")))
    assert err.error in POLICY_CONFLICT

    everyone = ["c0", "c1", "c2"]
    for caller in callers:
        n = 60 if policy == "random" else 30
        results = [await bounded(caller.call(proc)) for _ in range(n)]
        if policy == "first":
            assert results == ["c0"] * n
        elif policy == "last":
            assert results == ["c2"] * n
        elif policy == "random":
            assert set(results) == set(everyone), results  # P(a callee missed) = 3 * (2/3)^60 < 1e-10
        else:  # roundrobin: a fixed rotation over the three callees, each gets a third
            assert sorted(results[:3]) == everyone, results
            assert results == results[:3] * (n // 3), results

    # the callee on pod 0 leaves the set: the others serve, as seen from both pods
    await bounded(regs[0].unregister(), what="UNREGISTERED")
    for caller in callers:
        await wait_callees(caller, reg_id, 2)
        results = [await bounded(caller.call(proc)) for _ in range(6)]
        if policy == "first":
            assert results == ["c1"] * 6
        elif policy == "last":
            assert results == ["c2"] * 6
        elif policy == "roundrobin":
            assert results in (["c1", "c2"] * 3, ["c2", "c1"] * 3), results
        else:
            assert set(results) <= {"c1", "c2"}, results


async def test_registration_ids_realm_wide(multipod):
    """A procedure has one registration id realm-wide (and a topic one subscription id), whichever
    pod registers, shares or looks it up."""
    pods = await multipod()
    a, b, c = await pods.connect_each()
    single = await bounded(a.register(lambda: "a", "com.example.single"))
    for s in (b, c):
        assert await wait_until(lambda: s.call("wamp.registration.lookup", "com.example.single")) == single.id
    err = await call_error(b.register(lambda: "b", "com.example.single"))
    assert err.error == ALREADY_EXISTS

    shared_opts = RegisterOptions(invoke="roundrobin")
    shared_a = await bounded(a.register(lambda: "a", "com.example.shared", options=shared_opts))
    shared_b = await bounded(b.register(lambda: "b", "com.example.shared", options=shared_opts))
    assert valid_id(shared_a.id) and shared_a.id == shared_b.id
    assert await wait_until(lambda: c.call("wamp.registration.lookup", "com.example.shared")) == shared_a.id

    prefix = await bounded(c.register(lambda: "c", "com.example.pre", options=RegisterOptions(match="prefix")))
    for s in (a, b):
        got = await wait_until(lambda: s.call("wamp.registration.lookup", "com.example.pre", {"match": "prefix"}))
        assert got == prefix.id
        assert await bounded(s.call("wamp.registration.match", "com.example.pre.x")) == prefix.id
    assert len({single.id, shared_a.id, prefix.id}) == 3

    subs = [await bounded(s.subscribe(lambda *x: None, "com.example.topic")) for s in (a, b, c)]
    assert valid_id(subs[0].id) and len({s.id for s in subs}) == 1


async def test_mixed_serializers_rpc_across_pods(multipod):
    """A caller per serializer on pod 0, a callee per serializer on pods 1 and 2: payloads,
    errors and progress transcode unchanged across pods."""
    pods = await multipod()
    callers = [await pods.connect(0, name) for name in SERIALIZER_NAMES]
    ids = []
    for i, name in enumerate(SERIALIZER_NAMES):
        callee = await pods.connect(1 + i % 2, name)
        ids.append((await bounded(callee.register(echo, f"com.example.echo.{name}"))).id)
    for caller in callers:
        for rid in ids:
            await wait_callees(caller, rid, 1)
        for name in SERIALIZER_NAMES:
            res = await bounded(caller.call(f"com.example.echo.{name}", *PAYLOAD_ARGS, **PAYLOAD_KWARGS))
            assert list(res.results) == PAYLOAD_ARGS, (caller.serializer_id, name)
            assert res.kwresults == PAYLOAD_KWARGS, (caller.serializer_id, name)
            assert type(res.results[17]) is bytes
