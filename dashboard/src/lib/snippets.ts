// Ready-to-paste connection code for a credential, for autobahn-python and autobahn-js.

import type { Credential } from '../api/types';

export interface SnippetInput {
  routerUrl: string;
  realm: string;
  credential: Pick<Credential, 'kind' | 'authid' | 'role' | 'algorithm'>;
  /** The secret, when this is the one response that shows it. */
  secret: string | null;
}

export interface Snippet {
  id: 'python' | 'js';
  label: string;
  install: string;
  code: string;
}

const SECRET_PLACEHOLDER = '<secret shown when the credential was issued>';

function q(s: string): string {
  return JSON.stringify(s);
}

function jwtPython(c: SnippetInput): string {
  const alg = c.credential.algorithm ?? 'HS256';
  const key = alg === 'HS256' ? q(c.secret ?? SECRET_PLACEHOLDER) : 'open("private-key.pem").read()';
  return `import time, jwt  # pip install "autobahn[twisted,asyncio]" pyjwt
from autobahn.asyncio.component import Component, run

# Your backend signs a short-lived token for each client with the realm's JWT key.
token = jwt.encode(
    {"sub": ${q(c.credential.authid)}, "aud": ${q(c.realm)}, "role": ${q(c.credential.role)},
     "exp": int(time.time()) + 3600},
    ${key},
    algorithm=${q(alg)},
    headers={"kid": ${q(c.credential.authid)}},
)

component = Component(
    transports=${q(c.routerUrl)},
    realm=${q(c.realm)},
    authentication={"ticket": {"authid": ${q(c.credential.authid)}, "ticket": token}},
)
`;
}

export function pythonSnippet(c: SnippetInput): string {
  const secret = c.secret ?? SECRET_PLACEHOLDER;
  const authid = q(c.credential.authid);
  let head: string;
  switch (c.credential.kind) {
    case 'ticket':
      head = `from autobahn.asyncio.component import Component, run

component = Component(
    transports=${q(c.routerUrl)},
    realm=${q(c.realm)},
    authentication={"ticket": {"authid": ${authid}, "ticket": ${q(secret)}}},
)
`;
      break;
    case 'wampcra':
      head = `from autobahn.asyncio.component import Component, run

component = Component(
    transports=${q(c.routerUrl)},
    realm=${q(c.realm)},
    authentication={"wampcra": {"authid": ${authid}, "secret": ${q(secret)}}},
)
`;
      break;
    case 'cryptosign':
      head = `from autobahn.asyncio.component import Component, run

component = Component(
    transports=${q(c.routerUrl)},
    realm=${q(c.realm)},
    # The private key (32-byte seed, hex) that goes with the public key you registered.
    authentication={"cryptosign": {"authid": ${authid}, "privkey": open("client.key").read().strip()}},
)
`;
      break;
    case 'jwt':
      head = jwtPython(c);
      break;
  }
  return `${head}
@component.on_join
async def joined(session, details):
    print("joined", details.realm, "as", details.authid, "with role", details.authrole)

run([component])
`;
}

export function jsSnippet(c: SnippetInput): string {
  const secret = c.secret ?? SECRET_PLACEHOLDER;
  const authid = q(c.credential.authid);
  let auth: string;
  let pre = '';
  switch (c.credential.kind) {
    case 'ticket':
      auth = `  authmethods: ['ticket'],
  authid: ${authid},
  onchallenge: () => ${q(secret)},`;
      break;
    case 'wampcra':
      pre = `const secret = ${q(secret)};\n\n`;
      auth = `  authmethods: ['wampcra'],
  authid: ${authid},
  onchallenge: (session, method, extra) => {
    const key = extra.salt
      ? autobahn.auth_cra.derive_key(secret, extra.salt, extra.iterations, extra.keylen)
      : secret;
    return autobahn.auth_cra.sign(key, extra.challenge);
  },`;
      break;
    case 'cryptosign':
      pre = `// The private key (32-byte seed, hex) that goes with the public key you registered.
const key = autobahn.auth_cryptosign.load_private(process.env.WAMP_PRIVATE_KEY);

`;
      auth = `  authmethods: ['cryptosign'],
  authid: ${authid},
  authextra: { pubkey: autobahn.util.htob(key.publicKey).toString('hex') },
  onchallenge: (session, method, extra) => autobahn.auth_cryptosign.sign_challenge(key, extra),`;
      break;
    case 'jwt':
      pre = `// A token your backend signed with the realm's JWT key (claims: sub, aud = realm, role, exp).
const token = await fetch('/my-backend/wamp-token').then((r) => r.text());

`;
      auth = `  authmethods: ['ticket'],
  authid: ${authid},
  onchallenge: () => token,`;
      break;
  }
  return `import autobahn from 'autobahn';

${pre}const connection = new autobahn.Connection({
  url: ${q(c.routerUrl)},
  realm: ${q(c.realm)},
${auth}
});

connection.onopen = (session, details) => {
  console.log('joined', details.realm, 'as', details.authid, 'with role', details.authrole);
};

connection.open();
`;
}

export function snippets(c: SnippetInput): Snippet[] {
  return [
    {
      id: 'python',
      label: 'autobahn-python',
      install: c.credential.kind === 'jwt' ? 'pip install "autobahn[asyncio]" pyjwt' : 'pip install autobahn',
      code: pythonSnippet(c),
    },
    { id: 'js', label: 'autobahn-js', install: 'npm install autobahn', code: jsSnippet(c) },
  ];
}
