// A fake admin API for component tests: routes by method and path, records requests.

import { vi } from 'vitest';

export interface Seen {
  method: string;
  path: string;
  body: unknown;
}

type Handler = (req: Seen) => Response | unknown;

export function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });
}

export function problem(status: number, slug: string, extra: object = {}): Response {
  return json(status, { type: `https://junction.dev/problems/${slug}`, title: slug, status, ...extra });
}

export function fakeApi(routes: Record<string, Handler>) {
  const seen: Seen[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    const method = (init?.method ?? 'GET').toUpperCase();
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const req = { method, path: url.pathname, body };
    seen.push(req);
    const handler = routes[`${method} ${url.pathname}`];
    if (!handler) return problem(404, 'no-such-route');
    const out = handler(req);
    if (out instanceof Response) return out;
    if (out === undefined) return new Response(null, { status: 204 });
    return json(200, out);
  });
  vi.stubGlobal('fetch', fetchMock);
  return { seen, fetchMock, calls: (key: string) => seen.filter((s) => `${s.method} ${s.path}` === key) };
}

export const realm = {
  id: 'rlm_1',
  uri: 'com.acme.shop',
  allow_anonymous: false,
  anonymous_role: 'anonymous',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};

export const page = <T>(items: T[]) => ({ items, next_cursor: null });
