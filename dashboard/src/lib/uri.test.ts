import { describe, expect, it } from 'vitest';
import { authidError, identError, patternError, realmUriError, realmUriHint } from './uri';

// The cases of services/admin/src/http/uris.rs, so that the form and the server agree.
describe('realm URIs', () => {
  it('accepts loose WAMP URIs', () => {
    for (const ok of ['realm1', 'com.acme.shop', 'a-b_c.d1', 'com.acme.*']) expect(realmUriError(ok)).toBeNull();
  });

  it("words errors as the server does", () => {
    const cases: [string, string][] = [
      ['', 'must not be empty'],
      ['com..shop', 'must be dot-separated non-empty components (component 2 of 3 is empty)'],
      ['.com', 'must be dot-separated non-empty components (component 1 of 2 is empty)'],
      ['com.', 'must be dot-separated non-empty components (component 2 of 2 is empty)'],
      ['com acme', "must not contain whitespace or '#' (found ' ' at byte 3)"],
      ['com.#', "must not contain whitespace or '#' (found '#' at byte 4)"],
      ['com.\u00a0x', "must not contain whitespace or '#' (found '\\u{a0}' at byte 4)"],
      ['x'.repeat(256), 'must be at most 255 bytes long'],
    ];
    for (const [uri, msg] of cases) expect(realmUriError(uri), uri).toBe(msg);
  });

  it('gives short hints while typing', () => {
    expect(realmUriHint('com..acme')).toBe('must not contain two dots in a row');
    expect(realmUriHint('com.acme.')).toBe('must not end with a dot');
    expect(realmUriHint('.com')).toBe('must not start with a dot');
    expect(realmUriHint('com.acme')).toBeNull();
  });
});

describe('rule patterns', () => {
  it('follow the match policy', () => {
    const cases: [string, 'exact' | 'prefix' | 'wildcard', boolean][] = [
      ['com.acme.add', 'exact', true],
      ['com.acme.', 'exact', false],
      ['com..add', 'exact', false],
      ['', 'exact', false],
      ['', 'prefix', true],
      ['com.acme.', 'prefix', true],
      ['com.acme', 'prefix', true],
      ['com..acme', 'prefix', false],
      ['.', 'prefix', false],
      ['com..add', 'wildcard', true],
      ['..', 'wildcard', true],
      ['', 'wildcard', false],
      ['com. x', 'wildcard', false],
    ];
    for (const [uri, policy, ok] of cases) expect(patternError(uri, policy) === null, `${JSON.stringify(uri)} ${policy}`).toBe(ok);
  });

  it('explains prefix and empty patterns', () => {
    expect(patternError('com..x', 'prefix')).toBe("must not have empty components (except a trailing dot) for match 'prefix' (component 2 of 3 is empty)");
    expect(patternError('', 'exact')).toContain('"" with match \'prefix\' matches every URI');
    expect(patternError('', 'wildcard')).toBe("must not be empty for match 'wildcard'");
    expect(patternError('x'.repeat(255) + '.', 'prefix')).not.toBeNull();
  });
});

describe('identifiers', () => {
  it('role names: letters, digits and _ . @ : -', () => {
    expect(identError('app')).toBeNull();
    expect(identError('ops:admin@acme.com')).toBeNull();
    expect(identError('')).toBe('must not be empty');
    expect(identError('has space')).toMatch(/only letters/);
    expect(identError('x'.repeat(65))).toMatch(/at most 64/);
  });

  it('authids: no whitespace, at most 255 bytes', () => {
    expect(authidError('shop-frontend')).toBeNull();
    expect(authidError('a b')).toMatch(/whitespace/);
    expect(authidError('')).toMatch(/1 to 255/);
    expect(authidError('é'.repeat(128))).toMatch(/1 to 255/);
  });
});
