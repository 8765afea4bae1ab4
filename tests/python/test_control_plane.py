"""The control plane end to end (issue 4): provisioned through the admin REST API as a user
would, then exercised with autobahn-python against the real `junction dev` binary, once on a
SQLite control store and once on a fresh Postgres database.

Covers: ticket good/bad, WAMP-CRA (plain and salted) good/bad, a JWT from
POST /v1/realms/{id}/tokens used as a ticket, every action type allowed and denied
(wamp.error.not_authorized), a rule PATCHed under a connected session, and a revoked
credential closing its session.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from conftest import JUNCTION_BIN
from control_plane import Admin, CraClient, Junction, create_pg_database, drop_pg_database, join, join_refused, pg_available
from wamp_client import Client, Inbox, bounded, call_error

AUTH_FAILED = "wamp.error.authentication_failed"
NOT_AUTHORIZED = "wamp.error.not_authorized"
CREDENTIAL_REVOKED = "junction.close.credential_revoked"
# How long a control-plane change may take to reach the router (the change feed is
# asynchronous): a guard, not a delay; tests poll with real requests until it applies.
PROPAGATION_TIMEOUT = 5.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def junction(request, tmp_path_factory):
    """One `junction dev` process per backend (module scope: tests use their own realms)."""
    data_dir = tmp_path_factory.mktemp(f"junction-{request.param}")
    db_name = None
    url = None
    if request.param == "postgres":
        why = pg_available()
        if why is not None:
            pytest.skip(f"Postgres unavailable: {why}")
        db_name, url = create_pg_database()
    if not JUNCTION_BIN.exists():
        pytest.fail(f"junction binary not found at {JUNCTION_BIN} (cargo build -p junction)", pytrace=False)
    try:
        j = Junction(JUNCTION_BIN, data_dir, url)
    except RuntimeError as e:
        if db_name:
            drop_pg_database(db_name)
        pytest.fail(str(e), pytrace=False)
    j.backend = request.param
    j.owner = Admin.signup(j.admin_url, f"owner-{uuid.uuid4().hex[:8]}@cp.test", "Control Plane")
    yield j
    j.stop()
    if db_name:
        drop_pg_database(db_name)


@dataclass
class Realm:
    api: Admin
    url: str  # router WebSocket URL
    uri: str
    id: str
    role_id: str  # role "user"


@pytest.fixture
def realm(junction, request):
    uri = f"com.cp.{uuid.uuid4().hex[:10]}"
    api = junction.owner
    realm_id = api.realm(uri)
    role_id = api.role(realm_id, "user")
    yield Realm(api, junction.router_url, uri, realm_id, role_id)
    if junction.proc.poll() is not None:
        pytest.fail(f"junction exited during the test ({junction.proc.returncode}):\n{junction.stderr_tail()}")


async def eventually_error(action, error: str, timeout: float = PROPAGATION_TIMEOUT) -> ApplicationError:
    """Repeat ``action()`` (a fresh request each time, no sleeps) until it fails with ``error``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = await bounded(action(), what="action")
        except ApplicationError as e:
            if e.error == error:
                return e
            raise
    raise AssertionError(f"still no {error} after {timeout}s (last result {last!r})")


# --------------------------------------------------------------------------- authentication


async def test_ticket_good_and_bad(realm):
    _, secret = realm.api.credential(realm.id, kind="ticket", authid="alice", role="user")
    assert secret

    s = await join(realm.url, Client(realm.uri, authid="alice", ticket=secret))
    assert (s.welcome.authid, s.welcome.authrole, s.welcome.authmethod) == ("alice", "user", "ticket")
    await s.close()

    e = await join_refused(realm.url, Client(realm.uri, authid="alice", ticket=secret + "x"))
    assert e.reason == AUTH_FAILED
    # An unknown authid gets the same answer.
    e = await join_refused(realm.url, Client(realm.uri, authid="nobody", ticket=secret))
    assert e.reason == AUTH_FAILED


@pytest.mark.parametrize("salted", [False, True], ids=["plain", "salted"])
async def test_wampcra_good_and_bad(realm, salted):
    _, secret = realm.api.credential(realm.id, kind="wampcra", authid="bob", role="user", salted=salted)
    assert secret

    s = await join(realm.url, CraClient(realm.uri, "bob", secret))
    assert (s.welcome.authid, s.welcome.authrole, s.welcome.authmethod) == ("bob", "user", "wampcra")
    (challenge,) = s.challenges
    assert ("salt" in challenge.extra) == salted
    await s.close()

    e = await join_refused(realm.url, CraClient(realm.uri, "bob", secret + "x"))
    assert e.reason == AUTH_FAILED


async def test_jwt_from_the_tokens_endpoint_as_a_ticket(realm):
    token = realm.api.client_token(realm.id, authid="svc-7", role="user", ttl_seconds=120)
    assert token.count(".") == 2

    s = await join(realm.url, Client(realm.uri, authid="svc-7", ticket=token))
    assert (s.welcome.authid, s.welcome.authrole) == ("svc-7", "user")
    await s.close()

    # A token with a forged signature, or for another authid, is refused.
    head, claims, sig = token.split(".")
    forged = f"{head}.{claims}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
    e = await join_refused(realm.url, Client(realm.uri, authid="svc-7", ticket=forged))
    assert e.reason == AUTH_FAILED
    e = await join_refused(realm.url, Client(realm.uri, authid="someone-else", ticket=token))
    assert e.reason == AUTH_FAILED


# --------------------------------------------------------------------------- authorization


async def test_every_action_allowed_and_denied(realm):
    api = realm.api
    p = realm.uri
    # Each action is allowed on one URI and denied on another that the role otherwise uses,
    # so a denial can only come from the missing action flag.
    api.rule(realm.id, realm.role_id, f"{p}.topic.open", subscribe=True, publish=True)
    api.rule(realm.id, realm.role_id, f"{p}.topic.readonly", subscribe=True)
    api.rule(realm.id, realm.role_id, f"{p}.topic.writeonly", publish=True)
    api.rule(realm.id, realm.role_id, f"{p}.proc.open", register=True, call=True)
    api.rule(realm.id, realm.role_id, f"{p}.proc.internal", register=True)
    api.rule(realm.id, realm.role_id, f"{p}.proc.calleronly", call=True)
    _, secret = api.credential(realm.id, kind="ticket", authid="carol", role="user")
    s = await join(realm.url, Client(realm.uri, authid="carol", ticket=secret))

    # subscribe
    inbox = Inbox()
    await bounded(s.subscribe(inbox, f"{p}.topic.open"))
    await bounded(s.subscribe(inbox, f"{p}.topic.readonly"))
    e = await call_error(s.subscribe(inbox, f"{p}.topic.writeonly"))
    assert e.error == NOT_AUTHORIZED

    # publish (acknowledged)
    ack = PublishOptions(acknowledge=True, exclude_me=False)
    pub = await bounded(s.publish(f"{p}.topic.open", 1, options=ack))
    assert isinstance(pub.id, int)
    await inbox.wait_args((1,))
    e = await call_error(s.publish(f"{p}.topic.readonly", 2, options=ack))
    assert e.error == NOT_AUTHORIZED

    # register
    await bounded(s.register(lambda x: x * 2, f"{p}.proc.open"))
    await bounded(s.register(lambda: "secret", f"{p}.proc.internal"))
    e = await call_error(s.register(lambda: None, f"{p}.proc.calleronly"))
    assert e.error == NOT_AUTHORIZED

    # call
    assert await bounded(s.call(f"{p}.proc.open", 21)) == 42
    e = await call_error(s.call(f"{p}.proc.internal"))
    assert e.error == NOT_AUTHORIZED

    # Nothing matches at all: denied too.
    e = await call_error(s.subscribe(inbox, "com.elsewhere.topic"))
    assert e.error == NOT_AUTHORIZED
    assert inbox.args == [(1,)]
    await s.close()


async def test_rule_change_applies_to_the_connected_session(realm):
    api = realm.api
    topic = f"{realm.uri}.live"
    rule_id = api.rule(realm.id, realm.role_id, topic, publish=True)
    _, secret = api.credential(realm.id, kind="ticket", authid="dave", role="user")
    s = await join(realm.url, Client(realm.uri, authid="dave", ticket=secret))
    ack = PublishOptions(acknowledge=True)
    await bounded(s.publish(topic, options=ack))
    e = await call_error(s.subscribe(lambda: None, topic))
    assert e.error == NOT_AUTHORIZED

    # Revoke publish, grant subscribe: the same (still connected) session sees both.
    out = api.patch_rule(realm.id, realm.role_id, rule_id, publish=False, subscribe=True)
    assert out["allow"]["publish"] is False and out["allow"]["subscribe"] is True
    await eventually_error(lambda: s.publish(topic, options=ack), NOT_AUTHORIZED)
    await bounded(s.subscribe(lambda: None, topic))

    # And back.
    api.patch_rule(realm.id, realm.role_id, rule_id, publish=True, subscribe=False)
    await eventually_error(lambda: s.subscribe(lambda: None, topic), NOT_AUTHORIZED)
    await bounded(s.publish(topic, options=ack))
    assert s.is_attached()
    await s.close()


async def test_revoking_the_credential_closes_the_session(realm):
    api = realm.api
    cred_id, secret = api.credential(realm.id, kind="ticket", authid="erin", role="user")
    _, other_secret = api.credential(realm.id, kind="ticket", authid="frank", role="user")
    s = await join(realm.url, Client(realm.uri, authid="erin", ticket=secret))
    bystander = await join(realm.url, Client(realm.uri, authid="frank", ticket=other_secret))

    api.revoke(realm.id, cred_id)
    details = await bounded(asyncio.shield(s.left), PROPAGATION_TIMEOUT, "the revoked session to be closed")
    assert details is not None and details.reason == CREDENTIAL_REVOKED
    await s.wait_disconnected()

    # The credential no longer works; another authid's session is untouched.
    e = await join_refused(realm.url, Client(realm.uri, authid="erin", ticket=secret))
    assert e.reason == AUTH_FAILED
    assert bystander.is_attached()
    await bystander.close()
