"""Thin helpers around autobahn-python's asyncio ApplicationSession for the junction suite.

Everything a test awaits is bounded (``asyncio.wait_for``); a timeout is a failure, never a
synchronisation device. The helpers only use autobahn's public API, except where autobahn has
no API for a WAMP option the router must support:

* ``PUBLISH.Options.disclose_me`` / ``CALL.Options.disclose_me`` (autobahn 26 dropped them
  from PublishOptions/CallOptions): :func:`extra_options` merges extra keys into the options
  dict of the next PUBLISH/CALL marshalled by this process.
* ``CANCEL.Options.mode``: autobahn cancels a call (when its future is cancelled) with a CANCEL
  carrying no mode; :func:`cancel_call` sends CANCEL with an explicit mode for a pending call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp import message  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import ComponentConfig  # noqa: E402

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
}
SERIALIZER_NAMES = list(SERIALIZERS)

MAX_ID = 2**53
DEFAULT_TIMEOUT = 5.0

# URIs a router may use to refuse a join (the spec names several, routers differ)
AUTH_REFUSED = {
    "wamp.error.not_authorized",
    "wamp.error.authorization_denied",
    "wamp.error.authentication_failed",
    "wamp.error.authentication_denied",
    "wamp.error.authentication_required",
    "wamp.error.no_auth_method",
    "wamp.error.no_such_principal",
}


class JoinFailed(Exception):
    def __init__(self, reason: str | None, message: str | None = None):
        super().__init__(f"join failed: {reason} {message or ''}".strip())
        self.reason = reason
        self.message = message


# --------------------------------------------------------------------------- extra options

_EXTRA_OPTIONS: dict[str, dict[str, Any]] = {}


def _patch_marshal_options(cls, kind: str) -> None:
    original = cls.marshal_options

    def marshal_options(self):
        options = original(self)
        extra = _EXTRA_OPTIONS.get(kind)
        if extra:
            options.update(extra)
        return options

    cls.marshal_options = marshal_options


_patch_marshal_options(message.Publish, "publish")
_patch_marshal_options(message.Call, "call")


@contextlib.contextmanager
def extra_options(kind: str, **options):
    """Merge ``options`` into every ``kind`` ("publish" or "call") message marshalled inside the
    block. ``session.publish``/``session.call`` marshal synchronously, so wrap just that call."""
    assert kind in ("publish", "call")
    _EXTRA_OPTIONS[kind] = options
    try:
        yield
    finally:
        _EXTRA_OPTIONS.pop(kind, None)


def publish_with(session, topic, *args, extra: dict | None = None, **kwargs):
    with extra_options("publish", **(extra or {})):
        return session.publish(topic, *args, **kwargs)


def call_with(session, procedure, *args, extra: dict | None = None, **kwargs):
    with extra_options("call", **(extra or {})):
        return session.call(procedure, *args, **kwargs)


def cancel_call(session, call_future, mode: str | None) -> int:
    """Send CANCEL (with ``mode``) for the pending call whose autobahn future is ``call_future``.
    The future is left alone: it is rejected by the router's ERROR. Returns the request id."""
    for request_id, req in session._call_reqs.items():
        if req.on_reply is call_future:
            session._transport.send(message.Cancel(request_id, mode=mode))
            return request_id
    raise AssertionError("call is not pending")


# --------------------------------------------------------------------------- session


class Client(ApplicationSession):
    """An autobahn session with futures for join / leave / disconnect and a ticket answer."""

    def __init__(
        self,
        realm: str,
        authid: str | None = None,
        ticket: str | None = None,
        authmethods: list[str] | None = None,
        authrole: str | None = None,
    ):
        super().__init__(ComponentConfig(realm=realm))
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future = loop.create_future()
        self.left: asyncio.Future = loop.create_future()
        self.disconnected: asyncio.Future = loop.create_future()
        self._ticket = ticket
        self._hello_authid = authid
        self._hello_authrole = authrole
        if authmethods is None:
            authmethods = ["ticket"] if ticket is not None else ["anonymous"]
        self._authmethods = authmethods
        self.challenges: list = []
        self.welcome = None
        self.name = authid or "anonymous"
        self.serializer_id: str | None = None
        self._joined_id: int | None = None
        self.proto = None

    # -- autobahn callbacks
    def onConnect(self):
        self.proto = self._transport  # the WebSocket protocol instance (close codes, ping/pong)
        self.serializer_id = self._transport._serializer.SERIALIZER_ID
        self.join(
            self.config.realm,
            authmethods=self._authmethods,
            authid=self._hello_authid,
            authrole=self._hello_authrole,
        )

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        if challenge.method == "ticket" and self._ticket is not None:
            return self._ticket
        raise Exception(f"unexpected challenge {challenge.method}")

    def onWelcome(self, welcome):
        self.welcome = welcome
        return None

    def onJoin(self, details):
        self._joined_id = details.session
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details):
        if not self.left.done():
            self.left.set_result(details)
        if not self.joined.done():
            self.joined.set_exception(JoinFailed(details.reason, details.message))
        return super().onLeave(details)

    def onDisconnect(self):
        if not self.disconnected.done():
            self.disconnected.set_result(True)
        if not self.joined.done():
            self.joined.set_exception(JoinFailed("transport closed before WELCOME"))
        if not self.left.done():
            self.left.set_result(None)
        return super().onDisconnect()

    # -- helpers for tests
    @property
    def id(self) -> int | None:
        """The WAMP session id; still the joined id after the session ended."""
        return self._session_id if self._session_id is not None else self._joined_id

    async def close(self, timeout: float = DEFAULT_TIMEOUT):
        """Leave with GOODBYE and wait for the transport to close."""
        if self._session_id and self._transport is not None:
            self.leave()
            await asyncio.wait_for(asyncio.shield(self.left), timeout)
        if self._transport is not None:
            try:
                self._transport.close()
            except Exception:
                pass
        await asyncio.wait_for(asyncio.shield(self.disconnected), timeout)

    def drop(self):
        """Drop the TCP connection without GOODBYE and without a WebSocket close handshake."""
        proto = self._transport
        assert proto is not None, "not connected"
        proto.transport.abort()

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT):
        try:
            await asyncio.wait_for(asyncio.shield(self.disconnected), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"session {self.id} still connected after {timeout}s") from None

    @property
    def remote_close_code(self) -> int | None:
        """WebSocket close code sent by the router (None: no close frame, e.g. TCP drop)."""
        return getattr(self.proto, "remoteCloseCode", None)


async def connect(
    url: str,
    realm: str,
    serializer: str = "json",
    authid: str | None = None,
    ticket: str | None = None,
    authmethods: list[str] | None = None,
    authrole: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Client:
    """Open a WebSocket with exactly one WAMP subprotocol (``wamp.2.<serializer>``) and join.
    Raises :class:`JoinFailed` on ABORT (``.reason`` is the ABORT reason)."""
    loop = asyncio.get_running_loop()
    session = Client(realm, authid=authid, ticket=ticket, authmethods=authmethods, authrole=authrole)
    factory = WampWebSocketClientFactory(
        lambda: session,
        url=url,
        serializers=[SERIALIZERS[serializer]()],
        loop=loop,
    )
    # no client-side size limits: the router's limit is what is under test
    factory.setProtocolOptions(maxFramePayloadSize=0, maxMessagePayloadSize=0, autoFragmentSize=0)
    u = urlparse(url)
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except JoinFailed:
        # let the transport close (router sent ABORT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(session.disconnected), timeout)
        raise
    return session


async def join_fails(url: str, realm: str, serializer: str, **kwargs) -> JoinFailed:
    """Assert the join is refused and return the failure (ABORT reason)."""
    try:
        s = await connect(url, realm, serializer, **kwargs)
    except JoinFailed as e:
        return e
    await s.close()
    raise AssertionError(f"join to {realm!r} with {kwargs} unexpectedly succeeded")


# --------------------------------------------------------------------------- inbox


@dataclass
class Received:
    args: tuple
    kwargs: dict
    details: Any = None
    tag: Any = None
    at: float = field(default_factory=time.monotonic)


class Inbox:
    """A subscription handler / procedure recorder that tests can await on.

    Use as ``session.subscribe(inbox, topic, options=SubscribeOptions(details=True))`` or
    ``inbox.tagged("x")`` to record under a tag (several subscriptions into one inbox keep the
    arrival order across topics)."""

    def __init__(self):
        self.items: list[Received] = []
        self._waiters: list[tuple[asyncio.Future, Callable[[list[Received]], bool]]] = []

    def __call__(self, *args, **kwargs):
        self._record(None, args, kwargs)

    def tagged(self, tag):
        def handler(*args, **kwargs):
            self._record(tag, args, kwargs)

        return handler

    def _record(self, tag, args, kwargs):
        details = kwargs.pop("details", None)
        self.items.append(Received(tuple(args), dict(kwargs), details, tag))
        for fut, pred in list(self._waiters):
            if not fut.done() and pred(self.items):
                fut.set_result(None)

    def __len__(self):
        return len(self.items)

    @property
    def args(self) -> list[tuple]:
        return [r.args for r in self.items]

    def with_tag(self, tag) -> list[Received]:
        return [r for r in self.items if r.tag == tag]

    async def wait_for(self, pred: Callable[[list[Received]], bool], timeout: float = DEFAULT_TIMEOUT, what: str = ""):
        if pred(self.items):
            return self.items
        fut = asyncio.get_running_loop().create_future()
        entry = (fut, pred)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or 'condition'}; received so far: "
                f"{[(r.tag, r.args, r.kwargs) for r in self.items][:50]}"
            ) from None
        finally:
            self._waiters.remove(entry)
        return self.items

    async def wait_count(self, n: int, timeout: float = DEFAULT_TIMEOUT):
        return await self.wait_for(lambda items: len(items) >= n, timeout, f"{n} items")

    async def wait_args(self, args: tuple, timeout: float = DEFAULT_TIMEOUT) -> Received:
        """Wait until an item with exactly these positional args arrived; return it."""
        await self.wait_for(lambda items: any(r.args == args for r in items), timeout, f"args {args!r}")
        return next(r for r in self.items if r.args == args)


async def bounded(aw, timeout: float = DEFAULT_TIMEOUT, what: str = ""):
    """Await with a bound; a timeout is an assertion failure with a readable message."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s: {what or aw!r}") from None


async def call_error(aw, timeout: float = DEFAULT_TIMEOUT) -> ApplicationError:
    """Await a call/subscribe/register expected to fail; return the ApplicationError."""
    try:
        result = await asyncio.wait_for(aw, timeout)
    except ApplicationError as e:
        return e
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for an ERROR") from None
    raise AssertionError(f"expected an ERROR, got result {result!r}")


def valid_id(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= MAX_ID


def publish_raw(session, topic: str, *args, **options):
    """Acknowledged PUBLISH to ``topic`` without autobahn's client-side URI check."""
    from autobahn.wamp.request import PublishRequest

    fut = asyncio.get_running_loop().create_future()
    req = session._request_id_gen.next()
    session._publish_reqs[req] = PublishRequest(req, fut, False)
    session._transport.send(message.Publish(req, topic, args=list(args) or None, acknowledge=True, **options))
    return fut


def call_raw(session, procedure: str, *args):
    """CALL ``procedure`` without autobahn's client-side URI check."""
    from autobahn.wamp.request import CallRequest

    fut = asyncio.get_running_loop().create_future()
    req = session._request_id_gen.next()
    session._call_reqs[req] = CallRequest(req, procedure, fut, None)
    session._transport.send(message.Call(req, procedure, args=list(args) or None))
    return fut


def unsubscribe_raw(session, subscription_id: int):
    """UNSUBSCRIBE an arbitrary subscription id (autobahn only unsubscribes ones it holds)."""
    from autobahn.wamp.request import UnsubscribeRequest

    fut = asyncio.get_running_loop().create_future()
    req = session._request_id_gen.next()
    session._unsubscribe_reqs[req] = UnsubscribeRequest(req, fut, subscription_id)
    session._transport.send(message.Unsubscribe(req, subscription_id))
    return fut


def unregister_raw(session, registration_id: int):
    """UNREGISTER an arbitrary registration id (autobahn only unregisters ones it holds)."""
    from autobahn.wamp.request import UnregisterRequest

    fut = asyncio.get_running_loop().create_future()
    req = session._request_id_gen.next()
    session._unregister_reqs[req] = UnregisterRequest(req, fut, registration_id)
    session._transport.send(message.Unregister(req, registration_id))
    return fut
