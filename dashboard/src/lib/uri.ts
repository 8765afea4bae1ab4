// WAMP URI rules as the admin API checks them (services/admin/src/http/uris.rs, which uses the
// router's own validation), so forms say what is wrong while the user types, in the server's words.

import type { MatchPolicy } from '../api/types';

export const MAX_URI_LEN = 255;

function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Rust's `{:?}` of a char, as the server words it. */
function debugChar(c: string): string {
  if (c === '\t') return "'\\t'";
  if (c === '\n') return "'\\n'";
  if (c === '\r') return "'\\r'";
  if (c === ' ' || c === '#') return `'${c}'`;
  return `'\\u{${c.codePointAt(0)!.toString(16)}}'`;
}

function checkChars(uri: string): string | null {
  if (byteLength(uri) > MAX_URI_LEN) return `must be at most ${MAX_URI_LEN} bytes long`;
  const m = /[\s#]/u.exec(uri);
  if (m) return `must not contain whitespace or '#' (found ${debugChar(m[0])} at byte ${byteLength(uri.slice(0, m.index))})`;
  return null;
}

function emptyAt(uri: string, skipLast: boolean): string | null {
  const parts = uri.split('.');
  const upto = skipLast ? parts.length - 1 : parts.length;
  for (let i = 0; i < upto; i++) if (parts[i] === '') return `component ${i + 1} of ${parts.length} is empty`;
  return null;
}

/** Why a rule pattern is refused under a match policy, or null when it is fine (the server's
 * rules and words: services/admin/src/http/uris.rs). */
export function patternError(uri: string, policy: MatchPolicy): string | null {
  const len = byteLength(uri) > MAX_URI_LEN ? `must be at most ${MAX_URI_LEN} bytes long` : null;
  if (len) return len;
  if (uri === '') {
    if (policy === 'prefix') return null;
    if (policy === 'exact') return 'must not be empty for match \'exact\' ("" with match \'prefix\' matches every URI)';
    return "must not be empty for match 'wildcard'";
  }
  const bad = checkChars(uri);
  if (bad) return bad;
  if (policy === 'exact') {
    const at = emptyAt(uri, false);
    if (at) return `must be dot-separated non-empty components for match 'exact' (${at}; empty components are wildcards with match 'wildcard')`;
  }
  if (policy === 'prefix') {
    const at = emptyAt(uri, true);
    if (at) return `must not have empty components (except a trailing dot) for match 'prefix' (${at})`;
  }
  return null;
}

/** Why a realm URI is refused, or null. */
export function realmUriError(uri: string): string | null {
  if (uri === '') return 'must not be empty';
  const bad = checkChars(uri);
  if (bad) return bad;
  const at = emptyAt(uri, false);
  if (at) return `must be dot-separated non-empty components (${at})`;
  return null;
}

/** A friendlier hint for the realm form, while the user types. */
export function realmUriHint(uri: string): string | null {
  const e = realmUriError(uri);
  if (!e) return null;
  if (/[\s#]/u.test(uri) || e.startsWith('must be at most')) return e;
  if (uri.includes('..')) return 'must not contain two dots in a row';
  if (uri.startsWith('.')) return 'must not start with a dot';
  if (uri.endsWith('.')) return 'must not end with a dot';
  return e;
}

/** Why an identifier (role name, salt) is refused: 1-64 of `A-Z a-z 0-9 _ . @ : -`. */
export function identError(value: string, max = 64): string | null {
  if (value === '') return 'must not be empty';
  if (value.length > max) return `must be at most ${max} characters`;
  if (!/^[A-Za-z0-9_.@:-]+$/.test(value)) return 'may contain only letters, digits and _ . @ : -';
  return null;
}

/** Why an authid is refused: 1-255 bytes without whitespace or control characters. */
export function authidError(value: string): string | null {
  const n = byteLength(value);
  if (n === 0 || n > 255) return 'must be 1 to 255 bytes';
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/u.test(value)) return 'must not contain whitespace or control characters';
  return null;
}
