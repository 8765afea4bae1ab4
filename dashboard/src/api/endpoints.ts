// Typed calls, one per admin API endpoint the dashboard uses.

import { api, isMissingRoute } from './client';
import type {
  ApiKey,
  AuditEntry,
  ClientToken,
  CreateCredential,
  Credential,
  ImportOut,
  IssuedApiKey,
  IssuedCredential,
  KillPending,
  Me,
  Page,
  PublicConfig,
  Realm,
  RealmStats,
  Role,
  Rule,
  RuleSpec,
  SessionList,
  SessionOut,
} from './types';

const enc = encodeURIComponent;

function qs(params: Record<string, string | number | null | undefined>): string {
  const p = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return p.length ? '?' + p.map(([k, v]) => `${k}=${enc(String(v))}`).join('&') : '';
}

/** Every page of a list (lists are small: realms, roles, rules, credentials). */
export async function all<T>(path: string, max = 2000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await api.get<Page<T>>(path + qs({ limit: 200, cursor }));
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

export const auth = {
  signup: (b: { tenant_name: string; email: string; password: string }) =>
    api.request<SessionOut>('/v1/signup', { method: 'POST', body: b, noRefresh: true }),
  login: (b: { email: string; password: string }) =>
    api.request<SessionOut>('/v1/auth/login', { method: 'POST', body: b, noRefresh: true }),
  logout: () => api.request<void>('/v1/auth/logout', { method: 'POST', noRefresh: true }),
  me: () => api.get<Me>('/v1/me'),
};

export const realms = {
  list: () => all<Realm>('/v1/realms'),
  get: (id: string) => api.get<Realm>(`/v1/realms/${enc(id)}`),
  create: (b: { uri: string; allow_anonymous?: boolean }) => api.post<Realm>('/v1/realms', b),
  update: (id: string, b: { allow_anonymous?: boolean; anonymous_role?: string }) =>
    api.patch<Realm>(`/v1/realms/${enc(id)}`, b),
  remove: (id: string) => api.delete<void>(`/v1/realms/${enc(id)}`),
};

const R = (realm: string) => `/v1/realms/${enc(realm)}`;

export const roles = {
  list: (realm: string) => all<Role>(`${R(realm)}/roles`),
  create: (realm: string, name: string) => api.post<Role>(`${R(realm)}/roles`, { name }),
  remove: (realm: string, role: string) => api.delete<void>(`${R(realm)}/roles/${enc(role)}`),
  rules: (realm: string, role: string) => all<Rule>(`${R(realm)}/roles/${enc(role)}/rules`),
  addRule: (realm: string, role: string, spec: RuleSpec) =>
    api.post<Rule>(`${R(realm)}/roles/${enc(role)}/rules`, spec),
  updateRule: (realm: string, role: string, rule: string, patch: Partial<RuleSpec>) =>
    api.patch<Rule>(`${R(realm)}/roles/${enc(role)}/rules/${enc(rule)}`, patch),
  removeRule: (realm: string, role: string, rule: string) =>
    api.delete<void>(`${R(realm)}/roles/${enc(role)}/rules/${enc(rule)}`),
  importCrossbar: (realm: string, body: unknown) => api.post<ImportOut>(`${R(realm)}/roles/import`, body),
};

export const credentials = {
  list: (realm: string) => all<Credential>(`${R(realm)}/credentials`),
  create: (realm: string, b: CreateCredential) => api.post<IssuedCredential>(`${R(realm)}/credentials`, b),
  rotate: (realm: string, id: string, b?: { public_key?: string }) =>
    api.post<IssuedCredential>(`${R(realm)}/credentials/${enc(id)}/rotate`, b ?? {}),
  revoke: (realm: string, id: string) => api.post<Credential>(`${R(realm)}/credentials/${enc(id)}/revoke`),
  remove: (realm: string, id: string) => api.delete<void>(`${R(realm)}/credentials/${enc(id)}`),
};

export const tokens = {
  create: (realm: string, b: { authid: string; role: string; ttl_seconds?: number }) =>
    api.post<ClientToken>(`${R(realm)}/tokens`, b),
};

export const apiKeys = {
  list: () => all<ApiKey>('/v1/api-keys'),
  create: (b: { name: string; scopes: string[] }) => api.post<IssuedApiKey>('/v1/api-keys', b),
  revoke: (id: string) => api.delete<ApiKey>(`/v1/api-keys/${enc(id)}`),
  rotate: (id: string) => api.post<IssuedApiKey>(`/v1/api-keys/${enc(id)}/rotate`),
};

export const audit = {
  page: (cursor: string | null, limit = 50) => api.get<Page<AuditEntry>>('/v1/audit-log' + qs({ limit, cursor })),
};

/** Live sessions and counters. A server without a session directory answers 503
 * `unavailable` (an older one 404 `no-such-route`): the sessions page then falls back to the
 * WAMP meta API. */
export const live = {
  sessions: (realm: string) => api.get<SessionList>(`${R(realm)}/sessions`),
  kill: (realm: string, session: number) => api.delete<KillPending | undefined>(`${R(realm)}/sessions/${session}`),
  stats: (realm: string) => api.get<RealmStats>(`${R(realm)}/stats`),
};

let configCache: Promise<{ router_url: string }> | null = null;

/** Where the router is: `GET /v1/config`, else the admin host on port 8080. */
export function publicConfig(): Promise<{ router_url: string }> {
  configCache ??= (async () => {
    try {
      const c = await api.request<PublicConfig>('/v1/config', { noRefresh: true });
      if (c && typeof c.router_url === 'string' && c.router_url) return { router_url: c.router_url };
    } catch (e) {
      if (!isMissingRoute(e) && !(e instanceof TypeError)) console.warn('GET /v1/config', e);
    }
    return { router_url: fallbackRouterUrl(location) };
  })();
  return configCache;
}

/** For tests. */
export function resetConfigCache(): void {
  configCache = null;
}

export function fallbackRouterUrl(loc: Pick<Location, 'protocol' | 'hostname'>): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.hostname || '127.0.0.1'}:8080/ws`;
}
