// The one way the dashboard talks to the admin API: same-origin fetch with the session
// cookies (HttpOnly, SameSite=Strict: no token ever reaches JavaScript storage), JSON bodies
// (the API refuses other media types, which also stops cross-site form posts), problem+json
// errors turned into ApiError, and one transparent refresh when the 15-minute access token
// has expired.

import type { FieldError, Problem } from './types';

const PROBLEM_BASE = 'https://junction.dev/problems/';

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiError';
    this.status = problem.status;
    this.problem = problem;
  }

  /** The stable slug of the problem type (`validation`, `not-found`, ...). */
  get kind(): string {
    const t = this.problem.type;
    return t.startsWith(PROBLEM_BASE) ? t.slice(PROBLEM_BASE.length) : t;
  }

  get fieldErrors(): FieldError[] {
    return this.problem.errors ?? [];
  }

  /** Messages per field, first one wins. */
  fields(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.fieldErrors) out[e.field] ??= e.message;
    return out;
  }

  /** A sentence for a toast or a form banner. */
  get friendly(): string {
    if (this.kind === 'rate-limited') return this.problem.detail ?? 'Too many attempts: wait a minute and try again.';
    if (this.kind === 'internal') return 'Something went wrong on our side. Try again in a moment.';
    if (this.fieldErrors.length > 0) return this.fieldErrors.map((e) => `${e.field} ${e.message}`).join('; ');
    return this.problem.detail ?? this.problem.title;
  }
}

/** The route does not exist on this server (an endpoint the API does not have yet). */
export function isMissingRoute(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404 && e.kind === 'no-such-route';
}

/** The server has the route but cannot serve it here (503 `unavailable`, e.g. no session
 * directory), or does not have it at all. */
export function isUnavailable(e: unknown): boolean {
  return isMissingRoute(e) || (e instanceof ApiError && e.status === 503);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Do not try a refresh on 401 (log-in, refresh itself). */
  noRefresh?: boolean;
  signal?: AbortSignal;
}

type Listener = () => void;

export class Api {
  private refreshing: Promise<boolean> | null = null;
  private unauthorizedListeners = new Set<Listener>();

  constructor(
    private readonly base = '',
    private readonly fetchImpl: typeof fetch = (...a) => globalThis.fetch(...a),
  ) {}

  /** Called when the session is gone for good (refresh failed). */
  onUnauthorized(l: Listener): () => void {
    this.unauthorizedListeners.add(l);
    return () => this.unauthorizedListeners.delete(l);
  }

  async request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    let res = await this.send(path, opts);
    if (res.status === 401 && !opts.noRefresh) {
      if (await this.refresh()) {
        res = await this.send(path, opts);
      }
      if (res.status === 401) {
        this.unauthorizedListeners.forEach((l) => l());
      }
    }
    return this.parse<T>(res);
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>(path, signal ? { signal } : {});
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>(path, { method: 'POST', body });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>(path, { method: 'PATCH', body });
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>(path, { method: 'DELETE' });
  }

  /** Exchanges the refresh cookie for a new session, once at a time for all callers. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.send('/v1/auth/refresh', { method: 'POST' })
      .then((r) => r.ok)
      .catch(() => false)
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private send(path: string, opts: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
    const init: RequestInit = {
      method: opts.method ?? 'GET',
      credentials: 'same-origin',
      headers,
      cache: 'no-store',
    };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    if (opts.signal) init.signal = opts.signal;
    return this.fetchImpl(this.base + path, init);
  }

  private async parse<T>(res: Response): Promise<T> {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (res.ok) return body as T;
    throw new ApiError(asProblem(res.status, body));
  }
}

function asProblem(status: number, body: unknown): Problem {
  if (body && typeof body === 'object' && 'type' in body && 'title' in body) {
    return body as Problem;
  }
  const slug = status === 404 ? 'no-such-route' : status >= 500 ? 'internal' : 'bad-request';
  return { type: PROBLEM_BASE + slug, title: `HTTP ${status}`, status };
}

export const api = new Api();
