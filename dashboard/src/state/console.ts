// The console's WAMP sessions: real clients (wampy) joined from the browser, kept across page
// changes (the sessions page can kill them, and use them for the meta API), with one shared
// message log.

import { Wampy } from 'wampy';
type EventData = Parameters<Parameters<Wampy['subscribe']>[1]>[0];
type InvocationData = Parameters<Parameters<Wampy['register']>[1]>[0];
import { Store } from '../lib/store';

export type AuthChoice =
  | { method: 'ticket'; authid: string; ticket: string }
  | { method: 'wampcra'; authid: string; secret: string }
  | { method: 'cryptosign'; authid: string; privateKey: string }
  | { method: 'jwt'; authid: string; token: string }
  | { method: 'anonymous' };

export type SessionState = 'connecting' | 'open' | 'closed';

export interface ConsoleSession {
  /** A, B, C ...: how the log names the session. */
  label: string;
  realm: string;
  realmId: string;
  url: string;
  state: SessionState;
  sessionId: number | null;
  authid: string | null;
  authrole: string | null;
  authmethod: string | null;
  closeReason: string | null;
  subscriptions: { id: number; topic: string; match: Match }[];
  registrations: { id: number; procedure: string; match: Match }[];
}

export type Match = 'exact' | 'prefix' | 'wildcard';

export type LogKind =
  | 'join'
  | 'leave'
  | 'subscribe'
  | 'unsubscribe'
  | 'publish'
  | 'event'
  | 'register'
  | 'invocation'
  | 'call'
  | 'result'
  | 'error';

export interface LogEntry {
  id: number;
  t: number;
  session: string;
  dir: 'out' | 'in' | 'info';
  kind: LogKind;
  uri: string | null;
  text: string;
  error: boolean;
}

export interface ConsoleState {
  sessions: ConsoleSession[];
  log: LogEntry[];
}

const MAX_LOG = 500;
const clients = new Map<string, Wampy>();
let logSeq = 0;

export const consoleStore = new Store<ConsoleState>({ sessions: [], log: [] });

function patch(label: string, p: Partial<ConsoleSession>): void {
  consoleStore.set((s) => ({ ...s, sessions: s.sessions.map((x) => (x.label === label ? { ...x, ...p } : x)) }));
}

function session(label: string): ConsoleSession | undefined {
  return consoleStore.get().sessions.find((s) => s.label === label);
}

export function log(entry: Omit<LogEntry, 'id' | 't' | 'error'> & { error?: boolean }): void {
  const e: LogEntry = { id: ++logSeq, t: Date.now(), error: false, ...entry };
  consoleStore.set((s) => ({ ...s, log: [...s.log.slice(-(MAX_LOG - 1)), e] }));
}

export function clearLog(): void {
  consoleStore.set((s) => ({ ...s, log: [] }));
}

/** Arguments as the console shows them. */
export function show(args?: unknown[], kwargs?: Record<string, unknown>): string {
  const parts: string[] = [];
  if (args && args.length) parts.push(JSON.stringify(args));
  if (kwargs && Object.keys(kwargs).length) parts.push(JSON.stringify(kwargs));
  return parts.join(' ') || '(no arguments)';
}

/** Parses the console's JSON fields: args must be an array, kwargs an object; both optional. */
export function parsePayload(argsText: string, kwargsText: string): { argsList?: unknown[]; argsDict?: Record<string, unknown> } {
  const out: { argsList?: unknown[]; argsDict?: Record<string, unknown> } = {};
  if (argsText.trim()) {
    let v: unknown;
    try {
      v = JSON.parse(argsText);
    } catch {
      throw new Error('Arguments: not valid JSON (example: ["hello", 42]).');
    }
    out.argsList = Array.isArray(v) ? v : [v];
  }
  if (kwargsText.trim()) {
    let v: unknown;
    try {
      v = JSON.parse(kwargsText);
    } catch {
      throw new Error('Keyword arguments: not valid JSON (example: {"id": 1}).');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('Keyword arguments must be a JSON object.');
    out.argsDict = v as Record<string, unknown>;
  }
  return out;
}

/** The WAMP error URI (and message) of a wampy error. */
export function wampError(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { errorUri?: string; error?: string; details?: Record<string, unknown>; argsList?: unknown[]; message?: string };
    const uri = o.errorUri ?? o.error;
    const msg = o.argsList?.[0] ?? o.details?.message;
    if (uri) return msg && typeof msg === 'string' ? `${uri}: ${msg}` : uri;
    if (o.message) return o.message;
  }
  return String(e);
}

function nextLabel(): string {
  const used = new Set(consoleStore.get().sessions.map((s) => s.label));
  for (let i = 0; ; i++) {
    const l = i < 26 ? String.fromCharCode(65 + i) : `S${i}`;
    if (!used.has(l)) return l;
  }
}

async function authOptions(auth: AuthChoice): Promise<Record<string, unknown>> {
  switch (auth.method) {
    case 'anonymous':
      // No auth options at all: wampy insists on authid + authmethods + onChallenge together,
      // and a HELLO without authmethods is anonymous.
      return {};
    case 'ticket':
      return { authid: auth.authid, authmethods: ['ticket'], onChallenge: () => auth.ticket };
    case 'jwt':
      return { authid: auth.authid, authmethods: ['ticket'], onChallenge: () => auth.token };
    case 'wampcra': {
      const cra = await import('wampy/wampcra.js');
      return { authid: auth.authid, authmethods: ['wampcra'], onChallenge: cra.sign(auth.secret) };
    }
    case 'cryptosign': {
      const cs = await import('wampy/cryptosign.js');
      const nacl = (await import('tweetnacl')).default;
      const seed = auth.privateKey.trim().toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(seed)) throw new Error('The private key must be 64 hexadecimal characters (a 32-byte seed).');
      const pair = nacl.sign.keyPair.fromSeed(cs.hex2bytes(seed));
      return {
        authid: auth.authid,
        authmethods: ['cryptosign'],
        authextra: { pubkey: cs.bytes2hex(pair.publicKey) },
        onChallenge: cs.sign(seed),
      };
    }
  }
}

export interface ConnectParams {
  url: string;
  realm: string;
  realmId: string;
  auth: AuthChoice;
}

/** Joins a realm; resolves with the session's label once WELCOME came (rejects on ABORT). */
export async function connect(p: ConnectParams): Promise<string> {
  const label = nextLabel();
  const s: ConsoleSession = {
    label,
    realm: p.realm,
    realmId: p.realmId,
    url: p.url,
    state: 'connecting',
    sessionId: null,
    authid: null,
    authrole: null,
    authmethod: null,
    closeReason: null,
    subscriptions: [],
    registrations: [],
  };
  consoleStore.set((st) => ({ ...st, sessions: [...st.sessions, s] }));
  let closeReason: string | null = null;
  let client: Wampy;
  try {
    const opts = await authOptions(p.auth);
    client = new Wampy(p.url, {
      realm: p.realm,
      autoReconnect: false,
      uriValidation: 'loose',
      // The wire log tells why the router closed the session (wampy does not pass it on).
      debug: true,
      // wampy hands its logger one array: [text, value].
      logger: (entry: unknown) => {
        const args = Array.isArray(entry) ? entry : [entry];
        const msg = args[1];
        if (args[0] === 'websocket message received: ' && Array.isArray(msg) && (msg[0] === 6 || msg[0] === 3)) {
          closeReason = typeof msg[2] === 'string' ? msg[2] : null;
        }
      },
      onClose: () => {
        const cur = session(label);
        if (!cur || cur.state === 'closed') return;
        patch(label, { state: 'closed', closeReason: closeReason ?? 'connection closed', subscriptions: [], registrations: [] });
        log({ session: label, dir: 'info', kind: 'leave', uri: null, text: `session closed: ${closeReason ?? 'connection closed'}`, error: closeReason !== 'wamp.close.normal' && closeReason !== 'wamp.close.goodbye_and_out' });
        clients.delete(label);
      },
      ...opts,
    });
  } catch (e) {
    patch(label, { state: 'closed', closeReason: wampError(e) });
    log({ session: label, dir: 'info', kind: 'error', uri: null, text: `cannot join: ${wampError(e)}`, error: true });
    throw e;
  }
  clients.set(label, client);
  log({ session: label, dir: 'out', kind: 'join', uri: p.realm, text: `joining ${p.realm} at ${p.url} (${p.auth.method})` });
  try {
    const details = (await client.connect()) as Record<string, unknown>;
    const str = (k: string) => (typeof details[k] === 'string' ? (details[k] as string) : null);
    patch(label, {
      state: 'open',
      sessionId: client.getSessionId(),
      authid: str('authid'),
      authrole: str('authrole'),
      authmethod: str('authmethod'),
    });
    log({
      session: label,
      dir: 'in',
      kind: 'join',
      uri: p.realm,
      text: `joined as ${str('authid') ?? '?'} (role ${str('authrole') ?? '?'}), session ${client.getSessionId()}`,
    });
    return label;
  } catch (e) {
    clients.delete(label);
    patch(label, { state: 'closed', closeReason: wampError(e) });
    log({ session: label, dir: 'in', kind: 'error', uri: p.realm, text: `cannot join: ${wampError(e)}`, error: true });
    try {
      client.abort();
    } catch {
      /* already closed */
    }
    throw e;
  }
}

function clientOf(label: string): Wampy {
  const c = clients.get(label);
  if (!c || session(label)?.state !== 'open') throw new Error(`Session ${label} is not connected.`);
  return c;
}

export async function disconnect(label: string): Promise<void> {
  const c = clients.get(label);
  if (c) {
    try {
      await c.disconnect();
    } catch {
      /* closed already */
    }
  }
  clients.delete(label);
  const cur = session(label);
  if (cur && cur.state !== 'closed') {
    patch(label, { state: 'closed', closeReason: 'wamp.close.normal' });
    log({ session: label, dir: 'info', kind: 'leave', uri: null, text: 'left the realm' });
  }
}

/** Forgets a closed session. */
export function remove(label: string): void {
  if (clients.has(label)) return;
  consoleStore.set((s) => ({ ...s, sessions: s.sessions.filter((x) => x.label !== label) }));
}

export async function subscribe(label: string, topic: string, match: Match): Promise<void> {
  const c = clientOf(label);
  log({ session: label, dir: 'out', kind: 'subscribe', uri: topic, text: match === 'exact' ? 'subscribe' : `subscribe (${match})` });
  try {
    const r = await c.subscribe(
      topic,
      (ev: EventData) => {
        const topicOf = typeof ev.details.topic === 'string' ? ev.details.topic : topic;
        const pub = ev.details.publisher_authid ? ` from ${String(ev.details.publisher_authid)}` : '';
        log({ session: label, dir: 'in', kind: 'event', uri: topicOf, text: show(ev.argsList, ev.argsDict) + pub });
      },
      match === 'exact' ? {} : { match },
    );
    const cur = session(label);
    patch(label, { subscriptions: [...(cur?.subscriptions ?? []), { id: r.subscriptionId, topic, match }] });
    log({ session: label, dir: 'in', kind: 'subscribe', uri: topic, text: `subscribed (subscription ${r.subscriptionId})` });
  } catch (e) {
    log({ session: label, dir: 'in', kind: 'error', uri: topic, text: `subscribe failed: ${wampError(e)}`, error: true });
    throw e;
  }
}

export async function unsubscribe(label: string, id: number): Promise<void> {
  const c = clientOf(label);
  const sub = session(label)?.subscriptions.find((s) => s.id === id);
  await c.unsubscribe(id);
  patch(label, { subscriptions: (session(label)?.subscriptions ?? []).filter((s) => s.id !== id) });
  log({ session: label, dir: 'in', kind: 'unsubscribe', uri: sub?.topic ?? null, text: 'unsubscribed' });
}

export async function publish(
  label: string,
  topic: string,
  payload: { argsList?: unknown[]; argsDict?: Record<string, unknown> },
  excludeMe: boolean,
): Promise<void> {
  const c = clientOf(label);
  log({ session: label, dir: 'out', kind: 'publish', uri: topic, text: show(payload.argsList, payload.argsDict) });
  try {
    const r = await c.publish(topic, payload, { exclude_me: excludeMe });
    log({ session: label, dir: 'in', kind: 'publish', uri: topic, text: `published (publication ${r.publicationId})` });
  } catch (e) {
    log({ session: label, dir: 'in', kind: 'error', uri: topic, text: `publish denied: ${wampError(e)}`, error: true });
    throw e;
  }
}

export type Responder = 'echo' | 'sum' | 'time';

export async function register(label: string, procedure: string, match: Match, responder: Responder): Promise<void> {
  const c = clientOf(label);
  log({ session: label, dir: 'out', kind: 'register', uri: procedure, text: `register (answers: ${responder})` });
  try {
    const r = await c.register(
      procedure,
      (inv: InvocationData) => {
        log({ session: label, dir: 'in', kind: 'invocation', uri: procedure, text: show(inv.argsList, inv.argsDict) });
        if (responder === 'sum') {
          const sum = (inv.argsList ?? []).reduce<number>((a, b) => a + (typeof b === 'number' ? b : Number(b) || 0), 0);
          return { argsList: [sum] };
        }
        if (responder === 'time') return { argsList: [new Date().toISOString()] };
        return { argsList: inv.argsList ?? [], argsDict: inv.argsDict ?? {} };
      },
      match === 'exact' ? {} : { match },
    );
    const cur = session(label);
    patch(label, { registrations: [...(cur?.registrations ?? []), { id: r.registrationId, procedure, match }] });
    log({ session: label, dir: 'in', kind: 'register', uri: procedure, text: `registered (registration ${r.registrationId})` });
  } catch (e) {
    log({ session: label, dir: 'in', kind: 'error', uri: procedure, text: `register failed: ${wampError(e)}`, error: true });
    throw e;
  }
}

export async function unregister(label: string, procedure: string): Promise<void> {
  const c = clientOf(label);
  await c.unregister(procedure);
  patch(label, { registrations: (session(label)?.registrations ?? []).filter((r) => r.procedure !== procedure) });
  log({ session: label, dir: 'in', kind: 'register', uri: procedure, text: 'unregistered' });
}

export async function call(
  label: string,
  procedure: string,
  payload: { argsList?: unknown[]; argsDict?: Record<string, unknown> },
  quiet = false,
): Promise<{ argsList?: unknown[]; argsDict?: Record<string, unknown> }> {
  const c = clientOf(label);
  if (!quiet) log({ session: label, dir: 'out', kind: 'call', uri: procedure, text: show(payload.argsList, payload.argsDict) });
  try {
    const r = await c.call(procedure, payload);
    if (!quiet) log({ session: label, dir: 'in', kind: 'result', uri: procedure, text: show(r.argsList, r.argsDict) });
    return r;
  } catch (e) {
    if (!quiet) log({ session: label, dir: 'in', kind: 'error', uri: procedure, text: `call failed: ${wampError(e)}`, error: true });
    throw e;
  }
}

/** For tests: the client behind a label. */
export function __clientForTests(label: string): (Wampy & { kill(reason: string): void }) | undefined {
  return clients.get(label) as (Wampy & { kill(reason: string): void }) | undefined;
}

/** An open console session on this realm, for the meta API. */
export function openSessionOn(realmId: string): ConsoleSession | undefined {
  return consoleStore.get().sessions.find((s) => s.realmId === realmId && s.state === 'open');
}
