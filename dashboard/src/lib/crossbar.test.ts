import { describe, expect, it } from 'vitest';
import { previewImport } from './crossbar';

const roles = [
  { name: 'backend', permissions: [{ uri: 'com.example.', match: 'prefix', allow: { call: true } }] },
  { name: 'frontend', permissions: [] },
];

describe('Crossbar.io import preview', () => {
  it('takes {"roles": [...]} and the bare array', () => {
    expect(previewImport(JSON.stringify({ roles })).roles).toEqual([
      { name: 'backend', rules: 1 },
      { name: 'frontend', rules: 0 },
    ]);
    expect(previewImport(JSON.stringify(roles)).body).toEqual({ roles });
  });

  it('finds the realm in a whole config.json, preferring the one named', () => {
    const config = {
      version: 2,
      workers: [
        { type: 'router', realms: [{ name: 'realm1', roles: [roles[1]] }, { name: 'com.acme.shop', roles }] },
      ],
    };
    const p = previewImport(JSON.stringify(config), 'com.acme.shop');
    expect(p.fromRealm).toBe('com.acme.shop');
    expect(p.roles).toHaveLength(2);
    expect(previewImport(JSON.stringify(config), 'nope').fromRealm).toBe('realm1');
  });

  it('says what is wrong', () => {
    expect(() => previewImport('{nope')).toThrow(/Not valid JSON/);
    expect(() => previewImport('{"a": 1}')).toThrow(/No "roles" array/);
    expect(() => previewImport('[]')).toThrow(/empty/);
    expect(() => previewImport('[{"permissions": []}]')).toThrow(/roles\[0\] has no "name"/);
  });
});
