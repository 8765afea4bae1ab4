import { describe, expect, it, vi } from 'vitest';
import { Api, ApiError, isMissingRoute, isUnavailable } from './client';

type Call = { url: string; init: RequestInit };

function fakeFetch(responses: ((c: Call) => Response)[]) {
  const calls: Call[] = [];
  const f = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const c = { url: String(url), init: init ?? {} };
    calls.push(c);
    const next = responses.shift();
    if (!next) throw new Error(`unexpected request ${c.url}`);
    return next(c);
  });
  return { f: f as unknown as typeof fetch, calls };
}

const json = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });
const problem = (status: number, slug: string, extra: object = {}) =>
  json(status, { type: `https://junction.dev/problems/${slug}`, title: slug, status, ...extra }, 'application/problem+json');

describe('the API client', () => {
  it('sends JSON with the cookies of the same origin and nothing else', async () => {
    const { f, calls } = fakeFetch([() => json(201, { id: 'rlm_1' })]);
    const api = new Api('', f);
    expect(await api.post('/v1/realms', { uri: 'com.acme' })).toEqual({ id: 'rlm_1' });
    const init = calls[0]!.init;
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('same-origin');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined();
    expect(init.body).toBe('{"uri":"com.acme"}');
  });

  it('turns problem+json into ApiError with field messages', async () => {
    const { f } = fakeFetch([() => problem(422, 'validation', { errors: [{ field: 'uri', message: 'must not be empty' }] })]);
    const err = (await new Api('', f).post('/v1/realms', { uri: '' }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.kind).toBe('validation');
    expect(err.fields()).toEqual({ uri: 'must not be empty' });
    expect(err.friendly).toBe('uri must not be empty');
  });

  it('refreshes once on 401 and retries, for every caller at once', async () => {
    const { f, calls } = fakeFetch([
      () => problem(401, 'unauthorized'),
      () => problem(401, 'unauthorized'),
      () => json(200, { user: {} }),
      () => json(200, { items: [1], next_cursor: null }),
      () => json(200, { items: [2], next_cursor: null }),
    ]);
    const api = new Api('', f);
    const [a, b] = await Promise.all([api.get('/v1/realms'), api.get('/v1/api-keys')]);
    expect([a, b]).toEqual([
      { items: [1], next_cursor: null },
      { items: [2], next_cursor: null },
    ]);
    expect(calls.filter((c) => c.url === '/v1/auth/refresh')).toHaveLength(1);
  });

  it('reports a lost session when the refresh fails', async () => {
    const { f } = fakeFetch([() => problem(401, 'unauthorized'), () => problem(401, 'unauthorized'), () => problem(401, 'unauthorized')]);
    const api = new Api('', f);
    const lost = vi.fn();
    api.onUnauthorized(lost);
    await expect(api.get('/v1/me')).rejects.toMatchObject({ status: 401 });
    expect(lost).toHaveBeenCalledOnce();
  });

  it('never refreshes for log-in itself', async () => {
    const { f, calls } = fakeFetch([() => problem(401, 'unauthorized', { detail: 'invalid e-mail or password' })]);
    await expect(new Api('', f).request('/v1/auth/login', { method: 'POST', body: {}, noRefresh: true })).rejects.toMatchObject({ status: 401 });
    expect(calls).toHaveLength(1);
  });

  it('knows missing and unavailable routes, also from bodies that are not problems', async () => {
    const { f } = fakeFetch([() => problem(404, 'no-such-route'), () => new Response('gateway', { status: 503 }), () => new Response(null, { status: 204 })]);
    const api = new Api('', f);
    const missing = await api.get('/v1/x').catch((e) => e);
    expect(isMissingRoute(missing)).toBe(true);
    const down = await api.get('/v1/y').catch((e) => e);
    expect(isUnavailable(down)).toBe(true);
    expect(isMissingRoute(down)).toBe(false);
    expect(await api.delete('/v1/z')).toBeUndefined();
  });
});
