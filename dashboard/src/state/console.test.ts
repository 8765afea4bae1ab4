import { beforeEach, describe, expect, it, vi } from 'vitest';

// A stand-in for wampy: one in-memory broker and dealer shared by every client, so that the
// console's bookkeeping (sessions, log, errors) is tested without a router.
const broker = vi.hoisted(() => ({
  subs: [] as { topic: string; cb: (e: unknown) => void; client: unknown }[],
  procs: new Map<string, (i: unknown) => unknown>(),
  denied: new Set<string>(['com.acme.secret']),
  nextSession: 1000,
}));

vi.mock('wampy', () => {
  class Wampy {
    opts: Record<string, unknown>;
    sid: number | null = null;
    constructor(_url: string, opts: Record<string, unknown>) {
      this.opts = opts;
    }
    async connect() {
      if (this.opts.realm === 'no.such.realm') throw Object.assign(new Error('abort'), { errorUri: 'wamp.error.no_such_realm' });
      const onChallenge = this.opts.onChallenge as ((m: string, e: object) => string) | undefined;
      if (onChallenge && onChallenge('ticket', {}) !== 'good-ticket') throw Object.assign(new Error('abort'), { errorUri: 'wamp.error.authentication_failed' });
      this.sid = ++broker.nextSession;
      return { authid: this.opts.authid ?? 'anon', authrole: 'app', authmethod: 'ticket' };
    }
    getSessionId() {
      return this.sid;
    }
    async disconnect() {
      this.sid = null;
    }
    abort() {}
    kill(reason: string) {
      (this.opts.logger as (a: unknown[]) => void)(['websocket message received: ', [6, {}, reason]]);
      (this.opts.onClose as () => void)();
    }
    async subscribe(topic: string, cb: (e: unknown) => void) {
      broker.subs.push({ topic, cb, client: this });
      return { subscriptionId: broker.subs.length, topic, requestId: 1, subscriptionKey: topic };
    }
    async unsubscribe() {
      return true;
    }
    async publish(topic: string, payload: { argsList?: unknown[] }, opts: { exclude_me?: boolean }) {
      if (broker.denied.has(topic)) throw Object.assign(new Error('denied'), { errorUri: 'wamp.error.not_authorized', argsList: ['not allowed'] });
      for (const s of broker.subs) if (s.topic === topic && !(opts.exclude_me !== false && s.client === this)) s.cb({ details: { topic }, argsList: payload.argsList });
      return { publicationId: 7, topic, requestId: 2 };
    }
    async register(topic: string, rpc: (i: unknown) => unknown) {
      broker.procs.set(topic, rpc);
      return { registrationId: 9, topic, requestId: 3 };
    }
    async unregister() {
      return true;
    }
    async call(topic: string, payload: { argsList?: unknown[] }) {
      const p = broker.procs.get(topic);
      if (!p) throw Object.assign(new Error('no'), { errorUri: 'wamp.error.no_such_procedure' });
      const r = (await p({ details: {}, argsList: payload.argsList, argsDict: {} })) as { argsList?: unknown[] };
      return { details: {}, argsList: r.argsList };
    }
  }
  return { Wampy, default: Wampy };
});

import * as c from './console';

const params = (auth: c.AuthChoice = { method: 'ticket', authid: 'shop-frontend', ticket: 'good-ticket' }) => ({
  url: 'ws://127.0.0.1:1/ws',
  realm: 'com.acme.shop',
  realmId: 'rlm_1',
  auth,
});
const kinds = () => c.consoleStore.get().log.map((e) => `${e.session}:${e.kind}${e.error ? '!' : ''}`);

beforeEach(() => {
  c.consoleStore.set({ sessions: [], log: [] });
  broker.subs.length = 0;
  broker.procs.clear();
});

describe('the console', () => {
  it('joins, and a second session receives what the first publishes', async () => {
    const a = await c.connect(params());
    const b = await c.connect(params());
    expect([a, b]).toEqual(['A', 'B']);
    const s = c.consoleStore.get().sessions;
    expect(s.map((x) => [x.state, x.authid, x.authrole])).toEqual([
      ['open', 'shop-frontend', 'app'],
      ['open', 'shop-frontend', 'app'],
    ]);
    await c.subscribe('A', 'com.acme.orders', 'exact');
    await c.publish('B', 'com.acme.orders', c.parsePayload('["order-42"]', '{"total": 3}'), true);
    const event = c.consoleStore.get().log.find((e) => e.kind === 'event');
    expect(event).toMatchObject({ session: 'A', uri: 'com.acme.orders', text: '["order-42"]' });
    expect(c.openSessionOn('rlm_1')?.label).toBe('A');
  });

  it('shows a denied publish as an error, and throws it to the form', async () => {
    await c.connect(params());
    await expect(c.publish('A', 'com.acme.secret', {}, true)).rejects.toMatchObject({ errorUri: 'wamp.error.not_authorized' });
    const last = c.consoleStore.get().log.at(-1)!;
    expect(last).toMatchObject({ kind: 'error', error: true, text: 'publish denied: wamp.error.not_authorized: not allowed' });
  });

  it('registers a procedure and calls it', async () => {
    await c.connect(params());
    await c.connect(params());
    await c.register('A', 'com.acme.add', 'exact', 'sum');
    const r = await c.call('B', 'com.acme.add', { argsList: [2, 3] });
    expect(r.argsList).toEqual([5]);
    expect(kinds()).toContain('A:invocation');
    expect(kinds()).toContain('B:result');
  });

  it('shows why the router closed a session', async () => {
    await c.connect(params());
    const entry = c.consoleStore.get().sessions[0]!;
    expect(entry.state).toBe('open');
    c.__clientForTests('A')!.kill('wamp.close.killed');
    const after = c.consoleStore.get().sessions[0]!;
    expect(after.state).toBe('closed');
    expect(after.closeReason).toBe('wamp.close.killed');
    expect(c.consoleStore.get().log.at(-1)).toMatchObject({ kind: 'leave', error: true, text: 'session closed: wamp.close.killed' });
  });

  it('records a refused join with the router’s reason', async () => {
    await expect(c.connect(params({ method: 'ticket', authid: 'x', ticket: 'bad' }))).rejects.toBeTruthy();
    const s = c.consoleStore.get().sessions[0]!;
    expect(s.state).toBe('closed');
    expect(s.closeReason).toBe('wamp.error.authentication_failed');
    expect(kinds()).toEqual(['A:join', 'A:error!']);
  });

  it('checks a cryptosign key before connecting', async () => {
    await expect(c.connect(params({ method: 'cryptosign', authid: 'd', privateKey: 'xyz' }))).rejects.toThrow(/64 hexadecimal/);
  });

  it('parses the payload fields', () => {
    expect(c.parsePayload('', '')).toEqual({});
    expect(c.parsePayload('"one"', '')).toEqual({ argsList: ['one'] });
    expect(() => c.parsePayload('[1,', '')).toThrow(/Arguments: not valid JSON/);
    expect(() => c.parsePayload('', '[1]')).toThrow(/must be a JSON object/);
  });

  it('words wampy errors', () => {
    expect(c.wampError({ errorUri: 'wamp.error.no_such_realm' })).toBe('wamp.error.no_such_realm');
    expect(c.wampError({ error: 'wamp.error.not_authorized', details: { message: 'nope' } })).toBe('wamp.error.not_authorized: nope');
    expect(c.wampError(new Error('Connection closed'))).toBe('Connection closed');
  });
});
