// "Which rule decides for this URI": the authorizer's order (services/auth/src/rules.rs):
// an exact rule, else the longest matching prefix (a plain string prefix, as Crossbar.io),
// else the most specific wildcard of the same component count (concrete beats wildcard at the
// first component where two patterns differ; ties go to the earlier rule). The winning rule
// decides alone; no matching rule denies.

import type { Allow, Disclose, MatchPolicy } from '../api/types';

export interface RuleLike {
  uri: string;
  match: MatchPolicy;
  allow: Allow;
  disclose: Disclose;
}

export const ACTIONS = ['call', 'register', 'publish', 'subscribe'] as const;
export type Action = (typeof ACTIONS)[number];

function wildcardMatches(pattern: string, uri: string): boolean {
  const p = pattern.split('.');
  const u = uri.split('.');
  return p.length === u.length && p.every((c, i) => c === '' || c === u[i]);
}

function moreSpecificFirst(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const xe = x[i] === '';
    const ye = y[i] === '';
    if (!xe && ye) return -1;
    if (xe && !ye) return 1;
  }
  return 0;
}

/** The deciding rule for `uri`, or null when nothing matches (everything denied). */
export function decidingRule<T extends RuleLike>(rules: readonly T[], uri: string): T | null {
  const exact = rules.find((r) => r.match === 'exact' && r.uri === uri);
  if (exact) return exact;
  let best: T | null = null;
  for (const r of rules) {
    if (r.match === 'prefix' && uri.startsWith(r.uri) && (!best || r.uri.length > best.uri.length)) best = r;
  }
  if (best) return best;
  const wild = rules
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.match === 'wildcard' && wildcardMatches(r.uri, uri))
    .sort((a, b) => moreSpecificFirst(a.r.uri, b.r.uri) || a.i - b.i);
  return wild[0]?.r ?? null;
}

export interface Decision<T> {
  rule: T | null;
  allowed: Record<Action, boolean>;
  /** Whose identity is disclosed, per action (only where allowed). */
  disclosed: Record<Action, boolean>;
}

export function decide<T extends RuleLike>(rules: readonly T[], uri: string): Decision<T> {
  const rule = decidingRule(rules, uri);
  const allowed = { call: false, register: false, publish: false, subscribe: false };
  const disclosed = { ...allowed };
  if (rule) {
    for (const a of ACTIONS) {
      allowed[a] = rule.allow[a];
      const d = a === 'call' || a === 'register' ? rule.disclose.caller : rule.disclose.publisher;
      disclosed[a] = allowed[a] && d;
    }
  }
  return { rule, allowed, disclosed };
}
