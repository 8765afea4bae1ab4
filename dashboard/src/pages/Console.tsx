// The live console: join the realm from the browser with a real WAMP client (wampy) and a
// credential, then subscribe, publish, register and call, and watch every message.

import { useEffect, useRef, useState } from 'preact/hooks';
import { publicConfig, roles as rolesApi, tokens } from '../api/endpoints';
import type { Realm } from '../api/types';
import { clock } from '../lib/format';
import { useStore } from '../lib/store';
import * as wamp from '../state/console';
import { consolePrefill } from '../state/prefill';
import { Alert, Badge, Button, Card, Empty, Field, Switch, Tabs, errorText } from '../ui';

type Method = wamp.AuthChoice['method'];

const METHODS: { id: Method; label: string }[] = [
  { id: 'ticket', label: 'Ticket' },
  { id: 'wampcra', label: 'WAMP-CRA' },
  { id: 'cryptosign', label: 'Cryptosign' },
  { id: 'jwt', label: 'JWT' },
  { id: 'anonymous', label: 'Anonymous' },
];

export function ConsolePage(props: { realm: Realm }) {
  const state = useStore(wamp.consoleStore);
  const mine = state.sessions.filter((s) => s.realmId === props.realm.id);
  const open = mine.filter((s) => s.state === 'open');
  return (
    <div class="console">
      <div class="console-side">
        <JoinCard realm={props.realm} />
        <Card title="Sessions">
          {mine.length === 0 ? (
            <p class="muted">Join the realm to start a session. Join twice to see one session receive what the other publishes.</p>
          ) : (
            <ul class="console-sessions">
              {mine.map((s) => (
                <li class={`console-session state-${s.state}`} data-label={s.label}>
                  <span class="session-label" aria-hidden="true">{s.label}</span>
                  <div class="grow">
                    <div>
                      <strong>Session {s.label}</strong>{' '}
                      {s.state === 'open' ? <Badge tone="good">joined</Badge> : s.state === 'connecting' ? <Badge tone="info">joining…</Badge> : <Badge tone="bad">closed</Badge>}
                    </div>
                    <div class="small muted mono">
                      {s.sessionId ? `#${s.sessionId} · ${s.authid ?? '?'} · ${s.authrole ?? '?'}` : s.closeReason ?? s.url}
                    </div>
                    {s.state === 'closed' && s.closeReason && s.sessionId ? <div class="small bad-text">{s.closeReason}</div> : null}
                  </div>
                  {s.state === 'open' ? (
                    <Button size="sm" variant="ghost" onClick={() => wamp.disconnect(s.label)}>
                      Leave
                    </Button>
                  ) : s.state === 'closed' ? (
                    <Button size="sm" variant="ghost" onClick={() => wamp.remove(s.label)} aria-label={`Remove session ${s.label}`}>
                      Remove
                    </Button>
                  ) : null}
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <div class="console-main">
        {open.length > 0 ? <Operations sessions={open} /> : <Card title="Messages"><Empty title="No joined session">Join the realm on the left, then subscribe, publish, register and call here.</Empty></Card>}
        <LogView />
      </div>
    </div>
  );
}

/** The join form per realm, kept in memory across page changes (never in storage). */
const joinForms = new Map<string, { url: string; method: Method; authid: string; secret: string }>();

function JoinCard(props: { realm: Realm }) {
  const realm = props.realm;
  const kept = joinForms.get(realm.id);
  const [url, setUrl] = useState(kept?.url ?? '');
  const [method, setMethod] = useState<Method>(kept?.method ?? 'ticket');
  const [authid, setAuthid] = useState(kept?.authid ?? '');
  const [secret, setSecret] = useState(kept?.secret ?? '');
  useEffect(() => {
    joinForms.set(realm.id, { url, method, authid, secret });
  }, [realm.id, url, method, authid, secret]);
  const [role, setRole] = useState('');
  const [roles, setRoles] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [minting, setMinting] = useState(false);
  useEffect(() => {
    publicConfig().then((c) => setUrl((u) => u || c.router_url));
    rolesApi.list(realm.id).then((r) => {
      setRoles(r.map((x) => x.name));
      setRole((cur) => cur || r[0]?.name || '');
    }, () => {});
    const p = consolePrefill.get();
    if (p && p.realmId === realm.id) {
      setMethod(p.auth.method);
      if (p.auth.method !== 'anonymous') setAuthid(p.auth.authid);
      if (p.auth.method === 'ticket') setSecret(p.auth.ticket);
      if (p.auth.method === 'wampcra') setSecret(p.auth.secret);
      if (p.auth.method === 'cryptosign') setSecret(p.auth.privateKey);
      if (p.auth.method === 'jwt') setSecret(p.auth.token);
      consolePrefill.set(null);
    }
  }, [realm.id]);
  const auth = (): wamp.AuthChoice => {
    switch (method) {
      case 'anonymous':
        return { method };
      case 'ticket':
        return { method, authid, ticket: secret };
      case 'wampcra':
        return { method, authid, secret };
      case 'cryptosign':
        return { method, authid, privateKey: secret };
      case 'jwt':
        return { method, authid, token: secret };
    }
  };
  const join = async (e: Event) => {
    e.preventDefault();
    if (method !== 'anonymous' && (!authid || !secret)) {
      setError(method === 'jwt' ? 'Enter the authid and a token (or mint one).' : 'Enter the authid and its secret.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await wamp.connect({ url, realm: realm.uri, realmId: realm.id, auth: auth() });
    } catch (err) {
      setError(`Could not join: ${wamp.wampError(err)}`);
    } finally {
      setBusy(false);
    }
  };
  const mint = async () => {
    if (!authid) return setError('Enter the authid the token is for.');
    setMinting(true);
    setError(null);
    try {
      const t = await tokens.create(realm.id, { authid, role, ttl_seconds: 3600 });
      setSecret(t.token);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setMinting(false);
    }
  };
  const secretLabel = method === 'ticket' ? 'Ticket' : method === 'wampcra' ? 'Secret' : method === 'cryptosign' ? 'Private key (hex seed)' : 'Token';
  return (
    <Card title="Join the realm">
      <form class="stack" onSubmit={join} noValidate aria-label="Join the realm">
        <Field label="Router URL">{(a) => <input {...a} class="input mono" name="router-url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />}</Field>
        <Field label="Authentication">
          {(a) => (
            <select {...a} class="input" name="authmethod" value={method} onChange={(e) => { setMethod(e.currentTarget.value as Method); setSecret(''); }}>
              {METHODS.map((m) => (
                <option value={m.id}>{m.label}</option>
              ))}
            </select>
          )}
        </Field>
        {method !== 'anonymous' && (
          <>
            <Field label="authid">{(a) => <input {...a} class="input mono" name="console-authid" value={authid} autoComplete="off" onInput={(e) => setAuthid(e.currentTarget.value)} />}</Field>
            {method === 'jwt' && (
              <div class="inline-form">
                <Field label="Role for a minted token" class="grow">
                  {(a) => (
                    <select {...a} class="input" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
                      {roles.map((r) => (
                        <option value={r}>{r}</option>
                      ))}
                    </select>
                  )}
                </Field>
                <Button busy={minting} onClick={mint}>
                  Mint a token
                </Button>
              </div>
            )}
            <Field label={secretLabel} hint="Kept in this page's memory only.">
              {(a) => <input {...a} class="input mono" type="password" name="console-secret" value={secret} autoComplete="off" onInput={(e) => setSecret(e.currentTarget.value)} />}
            </Field>
          </>
        )}
        {error && <Alert tone="bad">{error}</Alert>}
        <Button type="submit" variant="primary" busy={busy}>
          Join {realm.uri}
        </Button>
      </form>
    </Card>
  );
}

type Op = 'subscribe' | 'publish' | 'register' | 'call';

function Operations(props: { sessions: wamp.ConsoleSession[] }) {
  const [label, setLabel] = useState(props.sessions[0]!.label);
  const [op, setOp] = useState<Op>('subscribe');
  const [uri, setUri] = useState('');
  const [match, setMatch] = useState<wamp.Match>('exact');
  const [args, setArgs] = useState('');
  const [kwargs, setKwargs] = useState('');
  const [excludeMe, setExcludeMe] = useState(true);
  const [responder, setResponder] = useState<wamp.Responder>('echo');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const current = props.sessions.find((s) => s.label === label) ?? props.sessions[0]!;
  useEffect(() => {
    if (!props.sessions.some((s) => s.label === label)) setLabel(props.sessions[0]!.label);
  }, [props.sessions.map((s) => s.label).join()]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!uri.trim()) return setError('Enter a URI.');
    setBusy(true);
    try {
      const l = current.label;
      if (op === 'subscribe') await wamp.subscribe(l, uri.trim(), match);
      if (op === 'register') await wamp.register(l, uri.trim(), match, responder);
      if (op === 'publish') await wamp.publish(l, uri.trim(), wamp.parsePayload(args, kwargs), excludeMe);
      if (op === 'call') await wamp.call(l, uri.trim(), wamp.parsePayload(args, kwargs));
    } catch (err) {
      setError(wamp.wampError(err));
    } finally {
      setBusy(false);
    }
  };
  const verb = { subscribe: 'Subscribe', publish: 'Publish', register: 'Register', call: 'Call' }[op];
  return (
    <Card title="Messages">
      <form class="stack" onSubmit={submit} noValidate aria-label="WAMP operation">
        <div class="ops-head">
          <fieldset class="session-pick">
            <legend>As session</legend>
            {props.sessions.map((s) => (
              <label class={`chip ${s.label === current.label ? 'chip-on' : ''}`}>
                <input type="radio" name="op-session" value={s.label} checked={s.label === current.label} onChange={() => setLabel(s.label)} />
                {s.label}
              </label>
            ))}
          </fieldset>
          <Tabs label="Operation" value={op} onChange={(o) => { setOp(o); setError(null); }} tabs={[{ id: 'subscribe', label: 'Subscribe' }, { id: 'publish', label: 'Publish' }, { id: 'register', label: 'Register' }, { id: 'call', label: 'Call' }]} />
        </div>
        <div class="form-grid">
          <Field label={op === 'subscribe' || op === 'publish' ? 'Topic' : 'Procedure'} class={op === 'publish' || op === 'call' ? 'span-all' : 'span-2'}>
            {(a) => <input {...a} class="input mono" name="op-uri" placeholder={op === 'subscribe' || op === 'publish' ? 'com.acme.orders' : 'com.acme.add'} value={uri} spellcheck={false} onInput={(e) => setUri(e.currentTarget.value)} />}
          </Field>
          {(op === 'subscribe' || op === 'register') && (
            <Field label="Match">
              {(a) => (
                <select {...a} class="input" value={match} onChange={(e) => setMatch(e.currentTarget.value as wamp.Match)}>
                  <option value="exact">exact</option>
                  <option value="prefix">prefix</option>
                  <option value="wildcard">wildcard</option>
                </select>
              )}
            </Field>
          )}
          {op === 'register' && (
            <Field label="Answer with">
              {(a) => (
                <select {...a} class="input" value={responder} onChange={(e) => setResponder(e.currentTarget.value as wamp.Responder)}>
                  <option value="echo">its arguments (echo)</option>
                  <option value="sum">the sum of its arguments</option>
                  <option value="time">the current time</option>
                </select>
              )}
            </Field>
          )}
          {(op === 'publish' || op === 'call') && (
            <>
              <Field label="Arguments (JSON array)">{(a) => <input {...a} class="input mono" name="op-args" placeholder='["hello", 42]' value={args} spellcheck={false} onInput={(e) => setArgs(e.currentTarget.value)} />}</Field>
              <Field label="Keyword arguments (JSON object)">{(a) => <input {...a} class="input mono" name="op-kwargs" placeholder='{"id": 1}' value={kwargs} spellcheck={false} onInput={(e) => setKwargs(e.currentTarget.value)} />}</Field>
            </>
          )}
        </div>
        {op === 'publish' && <Switch label="Exclude me (the publishing session gets no copy)" checked={excludeMe} onChange={setExcludeMe} />}
        {error && <Alert tone="bad">{error}</Alert>}
        <div class="ops-foot">
          <Button type="submit" variant="primary" busy={busy}>
            {verb} as {current.label}
          </Button>
          <Active session={current} />
        </div>
      </form>
    </Card>
  );
}

function Active(props: { session: wamp.ConsoleSession }) {
  const s = props.session;
  if (!s.subscriptions.length && !s.registrations.length) return null;
  return (
    <div class="active">
      {s.subscriptions.map((x) => (
        <span class="chip">
          sub <code>{x.topic}</code>
          {x.match !== 'exact' ? ` (${x.match})` : ''}
          <button type="button" class="chip-x" aria-label={`Unsubscribe ${x.topic}`} onClick={() => wamp.unsubscribe(s.label, x.id).catch(() => {})}>
            ×
          </button>
        </span>
      ))}
      {s.registrations.map((x) => (
        <span class="chip">
          reg <code>{x.procedure}</code>
          <button type="button" class="chip-x" aria-label={`Unregister ${x.procedure}`} onClick={() => wamp.unregister(s.label, x.procedure).catch(() => {})}>
            ×
          </button>
        </span>
      ))}
    </div>
  );
}

const ARROW = { out: '→', in: '←', info: '•' } as const;

export function LogView() {
  const { log } = useStore(wamp.consoleStore);
  const ref = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [log.length]);
  return (
    <Card title="Log" actions={<Button size="sm" variant="ghost" onClick={wamp.clearLog}>Clear</Button>}>
      {log.length === 0 ? (
        <p class="muted">Messages sent and received appear here.</p>
      ) : (
        <ol class="log" ref={ref} aria-live="polite" aria-label="Message log" data-testid="console-log">
          {log.map((e) => (
            <li key={e.id} class={`log-row log-${e.kind} ${e.error ? 'log-error' : ''}`} data-kind={e.kind} data-session={e.session}>
              <time>{clock(e.t)}</time>
              <span class="log-session">{e.session}</span>
              <span class="log-dir" aria-hidden="true">{ARROW[e.dir]}</span>
              <span class="log-kind">{e.kind.toUpperCase()}</span>
              {e.uri && <code class="log-uri">{e.uri}</code>}
              <span class="log-text">{e.text}</span>
            </li>
          ))}
        </ol>
      )}
    </Card>
  );
}
