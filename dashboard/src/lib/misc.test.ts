import { describe, expect, it } from 'vitest';
import { ago, compact } from './format';
import { match } from './router';
import { emailError, passwordError, sentence, tenantNameError } from './validate';
import { chartPath, niceMax } from '../ui/chart';
import { fallbackRouterUrl } from '../api/endpoints';

describe('form checks', () => {
  it('e-mail addresses as the server checks them', () => {
    expect(emailError('dev@example.com')).toBeNull();
    for (const bad of ['', 'dev', 'dev@', '@example.com', 'dev@example', 'dev@.com', 'a b@example.com', 'a@b@c.com']) expect(emailError(bad), bad).not.toBeNull();
  });

  it('passwords of 10 to 1024 characters, counting what is missing', () => {
    expect(passwordError('')).toBe('Choose a password.');
    expect(passwordError('short')).toBe('Use at least 10 characters (5 more).');
    expect(passwordError('long enough')).toBeNull();
    expect(passwordError('x'.repeat(1025))).toMatch(/at most/);
  });

  it('organisation names', () => {
    expect(tenantNameError('  ')).toMatch(/Name your organisation/);
    expect(tenantNameError('Acme')).toBeNull();
  });

  it('server messages become sentences', () => {
    expect(sentence('must not be empty')).toBe('Must not be empty.');
    expect(sentence('Done!')).toBe('Done!');
  });
});

describe('routing', () => {
  it('matches patterns with parameters', () => {
    expect(match('/realms/:realm/roles', '/realms/rlm_1/roles')).toEqual({ realm: 'rlm_1' });
    expect(match('/realms/:realm/roles', '/realms/rlm_1/credentials')).toBeNull();
    expect(match('/realms/:realm', '/realms/a%20b/')).toEqual({ realm: 'a b' });
  });

  it('guesses the router URL from the page when the server does not say', () => {
    expect(fallbackRouterUrl({ protocol: 'http:', hostname: 'localhost' })).toBe('ws://localhost:8080/ws');
    expect(fallbackRouterUrl({ protocol: 'https:', hostname: 'junction.example.com' })).toBe('wss://junction.example.com:8080/ws');
  });
});

describe('formatting', () => {
  it('relative times', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(ago('2026-01-01T11:59:58Z', now)).toBe('just now');
    expect(ago('2026-01-01T11:59:30Z', now)).toBe('30 s ago');
    expect(ago('2026-01-01T11:59:00Z', now)).toBe('1 min ago');
    expect(ago('2026-01-01T11:00:00Z', now)).toBe('1 h ago');
    expect(ago(null, now)).toBe('—');
  });

  it('compact numbers', () => {
    expect(compact(3)).toBe('3');
    expect(compact(2.345)).toBe('2.3');
    expect(compact(12_500)).toBe('12.5k');
    expect(compact(3_000_000)).toBe('3M');
  });
});

describe('chart geometry', () => {
  it('rounds the axis up', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(13)).toBe(20);
    expect(niceMax(180)).toBe(200);
  });

  it('maps the window onto the width, newest on the right', () => {
    const now = 100_000;
    const { line, area } = chartPath(
      [
        { t: now - 60_000, v: 0 },
        { t: now, v: 10 },
      ],
      600,
      100,
      120_000,
      now,
      10,
    );
    expect(line).toBe('M300.0,98.0 L600.0,2.0');
    expect(area.endsWith('L600.0,100 L300.0,100 Z')).toBe(true);
  });
});
