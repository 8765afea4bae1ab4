import { describe, expect, it } from 'vitest';
import type { Allow } from '../api/types';
import { decide, decidingRule, type RuleLike } from './rules';

const NONE: Allow = { call: false, register: false, publish: false, subscribe: false };
const ALL: Allow = { call: true, register: true, publish: true, subscribe: true };
const rule = (uri: string, match: RuleLike['match'], allow: Partial<Allow> = ALL, caller = false, publisher = false): RuleLike => ({
  uri,
  match,
  allow: { ...NONE, ...allow },
  disclose: { caller, publisher },
});

// Mirrors services/auth/src/rules.rs tests.
describe('the deciding rule', () => {
  it('no rule denies', () => {
    const d = decide([], 'com.acme.x');
    expect(d.rule).toBeNull();
    expect(Object.values(d.allowed).every((v) => !v)).toBe(true);
  });

  it('exact beats prefix beats wildcard', () => {
    const rules = [rule('com..add', 'wildcard'), rule('com.acme.', 'prefix'), rule('com.acme.add', 'exact')];
    expect(decidingRule(rules, 'com.acme.add')?.match).toBe('exact');
    expect(decidingRule(rules, 'com.acme.sub')?.match).toBe('prefix');
    expect(decidingRule(rules, 'com.other.add')?.match).toBe('wildcard');
  });

  it('the longest prefix wins, as a plain string prefix', () => {
    const rules = [rule('com.', 'prefix', { call: true }), rule('com.acme.', 'prefix', { publish: true })];
    expect(decidingRule(rules, 'com.acme.orders')?.uri).toBe('com.acme.');
    expect(decidingRule(rules, 'com.other')?.uri).toBe('com.');
    expect(decidingRule([rule('com.acme', 'prefix')], 'com.acmefoo')?.uri).toBe('com.acme');
  });

  it('the most specific wildcard wins, then the earlier rule', () => {
    const rules = [rule('..c', 'wildcard', { call: true }), rule('a..c', 'wildcard', { publish: true }), rule('a.b.', 'wildcard', { subscribe: true })];
    expect(decidingRule(rules, 'a.b.c')?.uri).toBe('a.b.');
    expect(decidingRule(rules, 'a.x.c')?.uri).toBe('a..c');
    expect(decidingRule(rules, 'z.x.c')?.uri).toBe('..c');
    expect(decidingRule(rules, 'a.b')).toBeNull();
    const tie = [rule('a..', 'wildcard', { call: true }), rule('a..', 'wildcard', { publish: true })];
    expect(decidingRule(tie, 'a.b.c')).toBe(tie[0]);
  });

  it('the empty prefix is a catch-all', () => {
    expect(decidingRule([rule('', 'prefix')], 'anything.at.all')?.uri).toBe('');
  });

  it('a specific rule that allows nothing hides a broad one', () => {
    const d = decide([rule('com.acme.', 'prefix'), rule('com.acme.secret', 'exact', { subscribe: true })], 'com.acme.secret');
    expect(d.allowed).toEqual({ call: false, register: false, publish: false, subscribe: true });
  });

  it('disclosure follows Crossbar.io: caller for RPC, publisher for pub/sub, only where allowed', () => {
    const d = decide([rule('x', 'exact', { call: true, publish: true, subscribe: false }, true, false)], 'x');
    expect(d.disclosed).toEqual({ call: true, register: false, publish: false, subscribe: false });
  });
});
