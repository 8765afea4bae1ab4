import { describe, expect, it } from 'vitest';
import { jsSnippet, pythonSnippet, snippets } from './snippets';

const base = { routerUrl: 'ws://127.0.0.1:8080/ws', realm: 'com.acme.shop' };

describe('connection snippets', () => {
  it('ticket: both libraries carry the authid, the ticket and the realm', () => {
    const c = { ...base, credential: { kind: 'ticket' as const, authid: 'shop-frontend', role: 'app', algorithm: null }, secret: 'S3CRET-TICKET-1234' };
    const py = pythonSnippet(c);
    expect(py).toContain('"ticket": {"authid": "shop-frontend", "ticket": "S3CRET-TICKET-1234"}');
    expect(py).toContain('transports="ws://127.0.0.1:8080/ws"');
    expect(py).toContain('realm="com.acme.shop"');
    const js = jsSnippet(c);
    expect(js).toContain("authmethods: ['ticket']");
    expect(js).toContain('onchallenge: () => "S3CRET-TICKET-1234"');
    expect(js).toContain("url: \"ws://127.0.0.1:8080/ws\"");
  });

  it('wampcra derives the key when the router sends a salt', () => {
    const c = { ...base, credential: { kind: 'wampcra' as const, authid: 'a', role: 'app', algorithm: null }, secret: 'cra-secret' };
    expect(pythonSnippet(c)).toContain('"wampcra": {"authid": "a", "secret": "cra-secret"}');
    expect(jsSnippet(c)).toContain('auth_cra.derive_key(secret, extra.salt');
  });

  it('cryptosign never embeds a secret', () => {
    const c = { ...base, credential: { kind: 'cryptosign' as const, authid: 'dev-1', role: 'app', algorithm: null }, secret: null };
    expect(pythonSnippet(c)).toContain('"cryptosign"');
    expect(jsSnippet(c)).toContain('auth_cryptosign.sign_challenge');
  });

  it('JWT keys show how to mint a token with the realm as audience', () => {
    const c = { ...base, credential: { kind: 'jwt' as const, authid: 'backend', role: 'app', algorithm: 'HS256' as const }, secret: 'hs-key' };
    const py = pythonSnippet(c);
    expect(py).toContain('"aud": "com.acme.shop"');
    expect(py).toContain('headers={"kid": "backend"}');
    expect(snippets(c)[0]!.install).toContain('pyjwt');
  });

  it('strings are escaped', () => {
    const c = { ...base, realm: 'a"b', credential: { kind: 'ticket' as const, authid: 'x', role: 'r', algorithm: null }, secret: 'q"\\' };
    expect(pythonSnippet(c)).toContain('realm="a\\"b"');
    expect(jsSnippet(c)).toContain('"q\\"\\\\"');
  });
});
