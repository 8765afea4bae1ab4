"""The control plane's other authentication and authorization paths end to end (issue 4), on
the real `junction dev` binary over SQLite and over a fresh Postgres database, provisioned
through the admin REST API as a user would (the ``junction`` and ``realm`` fixtures of
test_control_plane.py):

* cryptosign credentials (autobahn's own ``CryptosignKey`` signs the challenge): the right key
  joins with the credential's authid / authrole, by authid and by announced key; a wrong key
  is refused, and the refusal is the same whatever was wrong;
* a dynamic authenticator (``realm.authenticator``): a procedure a backend component of the
  tenant registers, in the same realm or in another realm of the tenant; the router calls it
  with the HELLO details and the ticket, the session gets the authid / role / extra it returns,
  and a refusal (an error from the procedure) aborts the join;
* a dynamic authorizer (``role.authorizer``): every action of the role is decided by a
  procedure; allowed and denied actions of each type, the session details it is given, and its
  ``cache`` flag (cached decisions are not asked again; uncached ones are asked every time).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter

import pytest
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from control_plane import join, join_refused
from test_control_plane import AUTH_FAILED, NOT_AUTHORIZED, junction, realm  # noqa: F401  (fixtures)
from wamp_client import Client, Inbox, bounded, call_error

ACK = PublishOptions(acknowledge=True)


class CryptosignClient(Client):
    """A session that authenticates with WAMP-cryptosign using autobahn's ``CryptosignKey``.
    ``announce`` puts the public key in HELLO.authextra.pubkey (needed without an authid)."""

    def __init__(self, realm: str, key: CryptosignKey, authid: str | None = None, announce: bool = True):
        super().__init__(realm, authid=authid, authmethods=["cryptosign"])
        self._key = key
        self._announce = announce
        self.name = authid or f"key {key.public_key()[:8]}"

    def onConnect(self):
        self.proto = self._transport
        self.serializer_id = self._transport._serializer.SERIALIZER_ID
        authextra = {"pubkey": self._key.public_key()} if self._announce else None
        self.join(self.config.realm, authmethods=["cryptosign"], authid=self._hello_authid, authextra=authextra)

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        if challenge.method != "cryptosign":
            raise Exception(f"unexpected challenge {challenge.method}")
        return self._key.sign_challenge(challenge)


def new_key() -> CryptosignKey:
    return CryptosignKey.from_bytes(os.urandom(32))


def welcome_of(s: Client) -> tuple:
    w = s.welcome
    return (w.authid, w.authrole, w.authmethod, w.authprovider)


# --------------------------------------------------------------------------- cryptosign


async def test_cryptosign_good_and_bad_keys(realm):
    api = realm.api
    api.rule(realm.id, realm.role_id, f"{realm.uri}.telemetry", publish=True)
    key = new_key()
    cred_id, _ = api.credential(realm.id, kind="cryptosign", authid="dev-1", role="user", public_key=key.public_key())

    # By authid (key announced), by authid alone, and by the announced key alone.
    for authid, announce in [("dev-1", True), ("dev-1", False), (None, True)]:
        s = await join(realm.url, CryptosignClient(realm.uri, key, authid=authid, announce=announce))
        assert welcome_of(s) == ("dev-1", "user", "cryptosign", "junction"), (authid, announce)
        assert s.challenges[0].method == "cryptosign"
        assert len(bytes.fromhex(s.challenges[0].extra["challenge"])) == 32
        # The credential's role applies.
        pub = await bounded(s.publish(f"{realm.uri}.telemetry", 1, options=ACK))
        assert isinstance(pub.id, int)
        e = await call_error(s.publish(f"{realm.uri}.other", 1, options=ACK))
        assert e.error == NOT_AUTHORIZED
        await s.close()

    # A wrong key: for the credential's authid (announced or not), and on its own. Every
    # refusal is the same (reason and message), so none tells which part was wrong.
    wrong = new_key()
    failures = []
    for authid, announce in [("dev-1", True), ("dev-1", False), (None, True), ("nobody", True)]:
        e = await join_refused(realm.url, CryptosignClient(realm.uri, wrong, authid=authid, announce=announce))
        failures.append((e.reason, e.message))
    assert {f[0] for f in failures} == {AUTH_FAILED}
    assert len({f[1] for f in failures}) == 1, failures
    for _, message in failures:
        assert "dev-1" not in (message or "") and "key" not in (message or "").lower()

    # Revoking the credential: the key no longer opens a session.
    api.revoke(realm.id, cred_id)
    e = await join_refused(realm.url, CryptosignClient(realm.uri, key, authid="dev-1"))
    assert e.reason == AUTH_FAILED


# --------------------------------------------------------------------------- dynamic authenticator


async def backend_component(api, realm_id: str, realm_url: str, realm_uri: str, register: dict) -> Client:
    """The tenant's backend: a ticket principal of role ``backend`` in ``realm_uri``, allowed to
    register exactly the procedures of ``register`` (uri -> handler), registering them."""
    role_id = api.role(realm_id, "backend")
    for uri in register:
        api.rule(realm_id, role_id, uri, register=True)
    authid = f"backend-{uuid.uuid4().hex[:6]}"
    _, secret = api.credential(realm_id, kind="ticket", authid=authid, role="backend")
    s = await join(realm_url, Client(realm_uri, authid=authid, ticket=secret))
    for uri, handler in register.items():
        await bounded(s.register(handler, uri))
    return s


@pytest.mark.parametrize("where", ["same_realm", "other_realm"])
async def test_dynamic_authenticator(realm, where):
    api = realm.api
    procedure = f"{realm.uri}.hooks.authenticate"
    if where == "other_realm":
        backend_uri = f"{realm.uri}-backend"
        backend_id = api.realm(backend_uri)
    else:
        backend_uri, backend_id = realm.uri, realm.id
    calls = []

    def authenticate(realm_arg, authid, details):
        calls.append((realm_arg, authid, details))
        if details.get("ticket") == f"letmein-{authid}":
            return {"role": "user", "authid": f"{authid}@dyn", "extra": {"plan": "gold", "seen_realm": realm_arg}}
        if details.get("ticket") == f"guest-{authid}":
            return "user"  # a bare role keeps the HELLO authid
        raise ApplicationError("com.example.invalid_ticket", "no such ticket for " + authid)

    backend = await backend_component(api, backend_id, realm.url, backend_uri, {procedure: authenticate})
    authenticator = {"procedure": procedure, "realm": None if where == "same_realm" else backend_uri}
    out = api.ok("PATCH", f"/v1/realms/{realm.id}", {"authenticator": authenticator})
    assert out["authenticator"]["procedure"] == procedure
    api.rule(realm.id, realm.role_id, f"{realm.uri}.orders", subscribe=True)

    # The answer's authid / role / extra make the session.
    s = await join(realm.url, Client(realm.uri, authid="alice", ticket="letmein-alice"))
    assert welcome_of(s) == ("alice@dyn", "user", "ticket", "dynamic")
    assert s.welcome.authextra == {"plan": "gold", "seen_realm": realm.uri}
    ((realm_arg, authid, details),) = calls
    assert (realm_arg, authid) == (realm.uri, "alice")
    assert details["ticket"] == "letmein-alice" and details["authmethod"] == "ticket"
    assert details["session"] == s.id
    await bounded(s.subscribe(lambda: None, f"{realm.uri}.orders"))  # the returned role's rules
    e = await call_error(s.subscribe(lambda: None, f"{realm.uri}.admin"))
    assert e.error == NOT_AUTHORIZED
    await s.close()

    s = await join(realm.url, Client(realm.uri, authid="bob", ticket="guest-bob"))
    assert welcome_of(s) == ("bob", "user", "ticket", "dynamic")
    await s.close()

    # A refusal from the authenticator aborts the join; the client learns nothing of why.
    e = await join_refused(realm.url, Client(realm.uri, authid="mallory", ticket="letmein-alice"))
    assert e.reason == AUTH_FAILED
    assert "invalid_ticket" not in (e.message or "") and "mallory" not in (e.message or "")
    assert [c[1] for c in calls] == ["alice", "bob", "mallory"]

    # Without the backend, log-ins fail (closed), they do not fall through.
    await backend.close()
    e = await join_refused(realm.url, Client(realm.uri, authid="alice", ticket="letmein-alice"))
    assert e.reason == AUTH_FAILED
    assert len(calls) == 3


# --------------------------------------------------------------------------- dynamic authorizer


async def test_dynamic_authorizer_decides_and_its_cache_flag_is_honoured(realm):
    api = realm.api
    p = realm.uri
    procedure = f"{p}.hooks.authorize"
    asked: Counter = Counter()
    seen_sessions = []

    def authorize(session, uri, action, options):
        asked[(uri, action)] += 1
        seen_sessions.append(session)
        if uri == f"{p}.open":
            return True
        if uri == f"{p}.cached":
            return {"allow": action == "subscribe", "cache": True}
        if uri == f"{p}.cached.denied":
            return {"allow": False, "cache": True}
        if uri == f"{p}.uncached":
            return {"allow": True, "cache": False}
        return False

    backend = await backend_component(api, realm.id, realm.url, realm.uri, {procedure: authorize})
    out = api.ok("PATCH", f"/v1/realms/{realm.id}/roles/{realm.role_id}", {"authorizer": {"procedure": procedure}})
    assert out["authorizer"]["procedure"] == procedure
    # A rule of the role that the authorizer overrides: it must not be consulted.
    api.rule(realm.id, realm.role_id, f"{p}.closed", subscribe=True, publish=True, call=True, register=True)
    _, secret = api.credential(realm.id, kind="ticket", authid="user-1", role="user")
    s = await join(realm.url, Client(realm.uri, authid="user-1", ticket=secret))

    # Every action type, allowed and denied.
    inbox = Inbox()
    await bounded(s.subscribe(inbox, f"{p}.open"))
    assert (await call_error(s.subscribe(inbox, f"{p}.closed"))).error == NOT_AUTHORIZED
    await bounded(s.publish(f"{p}.open", 1, options=PublishOptions(acknowledge=True, exclude_me=False)))
    await inbox.wait_args((1,))
    assert (await call_error(s.publish(f"{p}.closed", 2, options=ACK))).error == NOT_AUTHORIZED
    await bounded(s.register(lambda x: x + 1, f"{p}.open"))
    assert (await call_error(s.register(lambda: None, f"{p}.closed"))).error == NOT_AUTHORIZED
    assert await bounded(s.call(f"{p}.open", 41)) == 42
    assert (await call_error(s.call(f"{p}.closed"))).error == NOT_AUTHORIZED
    for action in ("subscribe", "publish", "register", "call"):
        assert asked[(f"{p}.open", action)] == 1, asked
        assert asked[(f"{p}.closed", action)] == 1, asked
    # What the authorizer is told about the session.
    first = seen_sessions[0]
    assert (first["session"], first["authid"], first["authrole"], first["authmethod"]) == (s.id, "user-1", "user", "ticket")
    assert first["realm"] == realm.uri

    # `cache: true`: asked once per (uri, action), whatever the answer; then decided locally.
    # (A subscription from the same session to the same topic is the same subscription, but
    # every SUBSCRIBE is authorized.)
    for _ in range(3):
        await bounded(s.subscribe(lambda: None, f"{p}.cached"))
        assert (await call_error(s.subscribe(lambda: None, f"{p}.cached.denied"))).error == NOT_AUTHORIZED
    assert asked[(f"{p}.cached", "subscribe")] == 1, asked
    assert asked[(f"{p}.cached.denied", "subscribe")] == 1, asked
    # A decision is cached for its (uri, action) only.
    for _ in range(2):
        assert (await call_error(s.publish(f"{p}.cached", options=ACK))).error == NOT_AUTHORIZED
    assert asked[(f"{p}.cached", "publish")] == 1, asked
    # `cache: false` (and a bare bool): asked every time.
    for _ in range(3):
        await bounded(s.subscribe(lambda: None, f"{p}.uncached"))
        await bounded(s.publish(f"{p}.open", 3, options=ACK))
    assert asked[(f"{p}.uncached", "subscribe")] == 3, asked
    assert asked[(f"{p}.open", "publish")] == 4, asked

    # Another session of the same role shares the cached decisions of this router.
    _, secret2 = api.credential(realm.id, kind="ticket", authid="user-2", role="user")
    s2 = await join(realm.url, Client(realm.uri, authid="user-2", ticket=secret2))
    await bounded(s2.subscribe(lambda: None, f"{p}.cached"))
    assert asked[(f"{p}.cached", "subscribe")] == 1, asked

    # Without the authorizer, everything is denied (fails closed), the cached decisions aside.
    await backend.close()
    assert (await call_error(s2.subscribe(lambda: None, f"{p}.open"))).error == NOT_AUTHORIZED
    await bounded(s2.subscribe(lambda: None, f"{p}.cached"))
    await s.close()
    await s2.close()


async def test_dynamic_authorizer_of_another_realm_of_the_tenant(realm):
    """The authorizer may live in another realm of the same tenant (the tenant's backend realm)."""
    api = realm.api
    backend_uri = f"{realm.uri}-backend"
    backend_id = api.realm(backend_uri)
    procedure = f"{backend_uri}.authorize"
    asked = []

    def authorize(session, uri, action, options):
        asked.append((session["realm"], uri, action))
        return uri.endswith(".allowed")

    backend = await backend_component(api, backend_id, realm.url, backend_uri, {procedure: authorize})
    api.ok("PATCH", f"/v1/realms/{realm.id}/roles/{realm.role_id}", {"authorizer": {"procedure": procedure, "realm": backend_uri}})
    _, secret = api.credential(realm.id, kind="ticket", authid="user-9", role="user")
    s = await join(realm.url, Client(realm.uri, authid="user-9", ticket=secret))
    await bounded(s.publish(f"{realm.uri}.allowed", options=ACK))
    assert (await call_error(s.publish(f"{realm.uri}.denied", options=ACK))).error == NOT_AUTHORIZED
    assert asked == [(realm.uri, f"{realm.uri}.allowed", "publish"), (realm.uri, f"{realm.uri}.denied", "publish")]
    await s.close()
    await backend.close()
