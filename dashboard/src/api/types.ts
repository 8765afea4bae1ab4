// Shapes of the admin API (services/admin/src/http), as served in /v1/openapi.json.

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

export interface Limits {
  max_realms: number;
  max_connections: number;
  max_messages_per_sec: number;
  max_message_size: number;
}

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  plan: string;
  limits: Limits;
  created_at: string;
}

export interface User {
  id: string;
  email: string;
  created_at: string;
}

/** Answer of sign-up, log-in and refresh. The dashboard keeps none of its tokens: the
 * HttpOnly cookies set with it carry the session. */
export interface SessionOut {
  user: User;
  tenant: Tenant;
  role: MemberRole;
}

export type MemberRole = 'owner' | 'admin' | 'viewer';

export interface Me {
  tenant: Tenant;
  actor_kind: 'user' | 'api_key';
  actor_id: string;
  actor_label: string;
  role: MemberRole | null;
  scopes: string[] | null;
}

export interface Realm {
  id: string;
  uri: string;
  allow_anonymous: boolean;
  anonymous_role: string;
  created_at: string;
  updated_at: string;
}

export interface Role {
  id: string;
  realm_id: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export type MatchPolicy = 'exact' | 'prefix' | 'wildcard';

export interface Allow {
  call: boolean;
  register: boolean;
  publish: boolean;
  subscribe: boolean;
}

export interface Disclose {
  caller: boolean;
  publisher: boolean;
}

export interface RuleSpec {
  uri: string;
  match: MatchPolicy;
  allow: Allow;
  disclose: Disclose;
}

export interface Rule extends RuleSpec {
  id: string;
  role_id: string;
  created_at: string;
  updated_at: string;
}

export type CredentialKind = 'ticket' | 'wampcra' | 'cryptosign' | 'jwt';
export type JwtAlgorithm = 'HS256' | 'RS256' | 'EdDSA';

export interface Credential {
  id: string;
  realm_id: string;
  kind: CredentialKind;
  authid: string;
  role: string;
  label: string;
  salt: string | null;
  iterations: number | null;
  keylen: number | null;
  public_key: string | null;
  algorithm: JwtAlgorithm | null;
  created_at: string;
  updated_at: string;
  revoked_at: string | null;
}

export interface CreateCredential {
  kind: CredentialKind;
  authid: string;
  role: string;
  label?: string;
  secret?: string;
  salted?: boolean;
  public_key?: string;
  algorithm?: JwtAlgorithm;
}

export interface IssuedCredential {
  credential: Credential;
  /** Present for ticket, WAMP-CRA and HS256 credentials: shown this once. */
  secret: string | null;
}

export const SCOPES = [
  'realms:read',
  'realms:write',
  'credentials:read',
  'credentials:write',
  'tokens:create',
  'audit:read',
  'sessions:read',
  'sessions:write',
] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface IssuedApiKey {
  api_key: ApiKey;
  key: string;
}

export interface ClientToken {
  token: string;
  expires_at: string;
  realm: string;
  authid: string;
  role: string;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor_kind: string;
  actor_id: string;
  actor_label: string;
  action: string;
  target_kind: string;
  target_id: string;
  before: unknown;
  after: unknown;
}

export interface ImportOut {
  roles: { role: Role; rules: Rule[] }[];
}

/** `GET /v1/config` (public): where clients reach the router (`null`: not configured). */
export interface PublicConfig {
  router_url: string | null;
  version?: string;
}

/** An item of `GET /v1/realms/{id}/sessions` (pod and join time are absent when the
 * sessions come from the WAMP meta API instead). */
export interface LiveSession {
  session_id: number;
  authid: string;
  authrole: string;
  authmethod: string;
  pod: string | null;
  joined_at: string | null;
}

export interface SessionList {
  items: LiveSession[];
  total: number;
  truncated: boolean;
}

/** `DELETE /v1/realms/{id}/sessions/{sid}` answered 202: the session's router pod was asked
 * to close it and had not yet (a 204 has no body: it is gone). */
export interface KillPending {
  session_id: number;
  state: 'closing';
}

/** `GET /v1/realms/{id}/stats`: counters since the router started. */
export interface RealmStats {
  sessions: number;
  messages_in: number;
  messages_out: number;
  at: string;
}
