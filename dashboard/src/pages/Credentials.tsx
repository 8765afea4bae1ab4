import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { credentials as credApi, publicConfig, roles as rolesApi } from '../api/endpoints';
import type { CreateCredential, Credential, CredentialKind, IssuedCredential, JwtAlgorithm, Realm } from '../api/types';
import { ago } from '../lib/format';
import { useAsync } from '../lib/hooks';
import { navigate } from '../lib/router';
import { snippets } from '../lib/snippets';
import { authidError } from '../lib/uri';
import { sentence } from '../lib/validate';
import { consolePrefill } from '../state/prefill';
import type { AuthChoice } from '../state/console';
import { Alert, Badge, Button, Card, CodeBlock, ConfirmDialog, Empty, Field, Modal, SecretBox, Spinner, Switch, Table, Tabs, errorText, toast } from '../ui';

export const KIND_LABEL: Record<CredentialKind, string> = {
  ticket: 'Ticket',
  wampcra: 'WAMP-CRA',
  cryptosign: 'Cryptosign',
  jwt: 'JWT key',
};

const KIND_HELP: Record<CredentialKind, string> = {
  ticket: 'A shared secret the client sends as it joins. Simplest; use it over TLS.',
  wampcra: 'Challenge-response: the secret never crosses the wire.',
  cryptosign: 'Ed25519 key pair: the router keeps only the public key.',
  jwt: 'A key that signs tokens your backend mints for clients (sent as a WAMP ticket).',
};

export function CredentialsPage(props: { realm: Realm }) {
  const realm = props.realm;
  const list = useAsync(() => credApi.list(realm.id), [realm.id]);
  const roles = useAsync(() => rolesApi.list(realm.id), [realm.id]);
  const [issued, setIssued] = useState<{ issued: IssuedCredential; privateKey?: string; rotated?: boolean } | null>(null);
  const [revoke, setRevoke] = useState<Credential | null>(null);
  const [rotate, setRotate] = useState<Credential | null>(null);
  return (
    <>
      <Card title="Issue a credential">
        {roles.data && roles.data.length === 0 ? (
          <Alert tone="warn" title="Create a role first">
            A credential joins the realm with a role. <a href={`/realms/${realm.id}/roles`} onClick={(e) => { e.preventDefault(); navigate(`/realms/${realm.id}/roles`); }}>Create a role</a>.
          </Alert>
        ) : (
          <CreateCredentialForm
            realm={realm}
            roles={(roles.data ?? []).map((r) => r.name)}
            onIssued={async (i, privateKey) => {
              setIssued(privateKey ? { issued: i, privateKey } : { issued: i });
              await list.reload();
            }}
          />
        )}
      </Card>
      <Card title="Credentials">
        {list.error ? <Alert tone="bad">{errorText(list.error)}</Alert> : null}
        {!list.data && !list.error ? <Spinner /> : null}
        {list.data && list.data.length === 0 && <Empty title="No credentials yet">Issue one above for each app or device that joins this realm.</Empty>}
        {list.data && list.data.length > 0 && (
          <Table label="Credentials">
            <thead>
              <tr>
                <th scope="col">authid</th>
                <th scope="col">Kind</th>
                <th scope="col">Role</th>
                <th scope="col">Label</th>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((c) => (
                <tr key={c.id} class={c.revoked_at ? 'row-dim' : ''}>
                  <td class="mono strong">{c.authid}</td>
                  <td>
                    {KIND_LABEL[c.kind]}
                    {c.algorithm ? ` (${c.algorithm})` : ''}
                    {c.salt ? ' salted' : ''}
                  </td>
                  <td class="mono">{c.role}</td>
                  <td>{c.label || <span class="muted">—</span>}</td>
                  <td title={c.created_at}>{ago(c.created_at)}</td>
                  <td>{c.revoked_at ? <Badge tone="bad">revoked</Badge> : <Badge tone="good">active</Badge>}</td>
                  <td class="row-actions">
                    {!c.revoked_at && (
                      <>
                        <Button size="sm" onClick={() => setRotate(c)}>
                          Rotate
                        </Button>
                        <Button size="sm" variant="ghost" onClick={() => setRevoke(c)}>
                          Revoke
                        </Button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
      {issued && <IssuedDialog realm={realm} issued={issued.issued} privateKey={issued.privateKey} rotated={issued.rotated} onClose={() => setIssued(null)} />}
      {revoke && (
        <ConfirmDialog
          title={`Revoke ${revoke.authid}?`}
          confirmLabel="Revoke"
          onClose={() => setRevoke(null)}
          onConfirm={async () => {
            await credApi.revoke(realm.id, revoke.id);
            toast(`Credential ${revoke.authid} revoked`);
            await list.reload();
          }}
        >
          <p>It stops authenticating at once and its sessions are closed. It stays listed as revoked.</p>
        </ConfirmDialog>
      )}
      {rotate && (
        <RotateDialog
          realm={realm}
          credential={rotate}
          onClose={() => setRotate(null)}
          onRotated={async (i, privateKey) => {
            setRotate(null);
            setIssued({ issued: i, rotated: true, ...(privateKey ? { privateKey } : {}) });
            await list.reload();
          }}
        />
      )}
    </>
  );
}

/** A fresh Ed25519 key pair, made in the browser (the private key never leaves it). */
export async function generateKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const nacl = (await import('tweetnacl')).default;
  const seed = nacl.randomBytes(32);
  const pair = nacl.sign.keyPair.fromSeed(seed);
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return { privateKey: hex(seed), publicKey: hex(pair.publicKey) };
}

function CreateCredentialForm(props: { realm: Realm; roles: string[]; onIssued: (i: IssuedCredential, privateKey?: string) => Promise<void> }) {
  const [kind, setKind] = useState<CredentialKind>('ticket');
  const [authid, setAuthid] = useState('');
  const [role, setRole] = useState(props.roles[0] ?? '');
  const [label, setLabel] = useState('');
  const [salted, setSalted] = useState(false);
  const [publicKey, setPublicKey] = useState('');
  const [privateKey, setPrivateKey] = useState<string | null>(null);
  const [algorithm, setAlgorithm] = useState<JwtAlgorithm>('HS256');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [banner, setBanner] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!props.roles.includes(role) && props.roles[0]) setRole(props.roles[0]);
  }, [props.roles.join(',')]);
  const authidMsg = authid ? authidError(authid) : null;
  const needsPublic = kind === 'cryptosign' || (kind === 'jwt' && algorithm !== 'HS256');
  const submit = async (e: Event) => {
    e.preventDefault();
    const errs: Record<string, string> = {};
    const a = authidError(authid);
    if (a) errs.authid = sentence(`authid ${a}`);
    if (!role) errs.role = 'Choose a role.';
    if (kind === 'cryptosign' && !/^[0-9a-fA-F]{64}$/.test(publicKey.trim())) errs.public_key = 'Paste the Ed25519 public key as 64 hexadecimal characters, or generate a key pair.';
    if (kind === 'jwt' && algorithm !== 'HS256' && !publicKey.includes('PUBLIC KEY')) errs.public_key = `Paste the ${algorithm} public key in PEM form (-----BEGIN PUBLIC KEY-----).`;
    setErrors(errs);
    if (Object.keys(errs).length) return;
    const body: CreateCredential = { kind, authid, role };
    if (label.trim()) body.label = label.trim();
    if (kind === 'wampcra' && salted) body.salted = true;
    if (needsPublic) body.public_key = publicKey.trim();
    if (kind === 'jwt') body.algorithm = algorithm;
    setBusy(true);
    setBanner(null);
    try {
      const issued = await credApi.create(props.realm.id, body);
      const pk = kind === 'cryptosign' && privateKey ? privateKey : undefined;
      setAuthid('');
      setLabel('');
      setPublicKey('');
      setPrivateKey(null);
      await props.onIssued(issued, pk);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        const f = err.fields();
        setErrors(Object.fromEntries(Object.entries(f).map(([k, v]) => [k, sentence(v)])));
        const known = ['authid', 'role', 'public_key', 'label', 'algorithm'];
        const rest = err.fieldErrors.filter((x) => !known.includes(x.field));
        if (rest.length) setBanner(rest.map((x) => `${x.field} ${x.message}`).join('; '));
      } else setBanner(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const gen = async () => {
    const kp = await generateKeyPair();
    setPublicKey(kp.publicKey);
    setPrivateKey(kp.privateKey);
  };
  return (
    <form onSubmit={submit} noValidate class="stack">
      <Tabs
        label="Credential kind"
        value={kind}
        onChange={(k) => {
          setKind(k);
          setErrors({});
          setPublicKey('');
          setPrivateKey(null);
        }}
        tabs={(['ticket', 'wampcra', 'cryptosign', 'jwt'] as const).map((k) => ({ id: k, label: KIND_LABEL[k] }))}
      />
      <p class="muted">{KIND_HELP[kind]}</p>
      {banner && <Alert tone="bad">{banner}</Alert>}
      <div class="form-grid">
        <Field label="authid" hint="How the client identifies itself, e.g. shop-frontend." error={authidMsg ? sentence(`authid ${authidMsg}`) : errors.authid}>
          {(a) => <input {...a} class="input mono" name="authid" value={authid} spellcheck={false} autoComplete="off" onInput={(e) => setAuthid(e.currentTarget.value)} />}
        </Field>
        <Field label="Role" error={errors.role}>
          {(a) => (
            <select {...a} class="input" name="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              {props.roles.map((r) => (
                <option value={r}>{r}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Label (optional)" hint="A note for your team." error={errors.label}>
          {(a) => <input {...a} class="input" name="label" value={label} onInput={(e) => setLabel(e.currentTarget.value)} />}
        </Field>
      </div>
      {kind === 'wampcra' && <Switch label="Salted secret (PBKDF2)" checked={salted} onChange={setSalted} />}
      {kind === 'jwt' && (
        <Field label="Algorithm" hint={algorithm === 'HS256' ? 'Junction makes the shared secret and shows it once.' : 'You keep the private key; paste the public key.'}>
          {(a) => (
            <select {...a} class="input" value={algorithm} onChange={(e) => setAlgorithm(e.currentTarget.value as JwtAlgorithm)}>
              <option value="HS256">HS256 (shared secret)</option>
              <option value="RS256">RS256 (RSA public key)</option>
              <option value="EdDSA">EdDSA (Ed25519 public key)</option>
            </select>
          )}
        </Field>
      )}
      {needsPublic && (
        <Field
          label={kind === 'cryptosign' ? 'Public key (hex)' : 'Public key (PEM)'}
          error={errors.public_key}
          hint={kind === 'cryptosign' ? 'Paste the client’s Ed25519 public key, or generate a pair here.' : undefined}
        >
          {(a) =>
            kind === 'cryptosign' ? (
              <div class="inline-form">
                <input {...a} class="input mono grow" name="public_key" value={publicKey} spellcheck={false} onInput={(e) => { setPublicKey(e.currentTarget.value); setPrivateKey(null); }} />
                <Button onClick={gen}>Generate key pair</Button>
              </div>
            ) : (
              <textarea {...a} class="input mono" rows={5} name="public_key" value={publicKey} spellcheck={false} onInput={(e) => setPublicKey(e.currentTarget.value)} placeholder="-----BEGIN PUBLIC KEY-----" />
            )
          }
        </Field>
      )}
      {privateKey && kind === 'cryptosign' && <Alert tone="info">A key pair was generated in your browser. The private key will be shown once, after the credential is issued.</Alert>}
      <div>
        <Button type="submit" variant="primary" busy={busy}>
          Issue {KIND_LABEL[kind]} credential
        </Button>
      </div>
    </form>
  );
}

function authFor(c: Credential, secret: string | null, privateKey?: string): AuthChoice | null {
  if (c.kind === 'ticket' && secret) return { method: 'ticket', authid: c.authid, ticket: secret };
  if (c.kind === 'wampcra' && secret) return { method: 'wampcra', authid: c.authid, secret };
  if (c.kind === 'cryptosign' && privateKey) return { method: 'cryptosign', authid: c.authid, privateKey };
  return null;
}

function IssuedDialog(props: { realm: Realm; issued: IssuedCredential; privateKey?: string | undefined; rotated?: boolean | undefined; onClose: () => void }) {
  const { credential, secret } = props.issued;
  const [routerUrl, setRouterUrl] = useState<string | null>(null);
  const [lang, setLang] = useState<'python' | 'js'>('python');
  useEffect(() => {
    publicConfig().then((c) => setRouterUrl(c.router_url));
  }, []);
  const list = snippets({ routerUrl: routerUrl ?? 'ws://127.0.0.1:8080/ws', realm: props.realm.uri, credential, secret });
  const snippet = list.find((s) => s.id === lang)!;
  const auth = authFor(credential, secret, props.privateKey);
  const shown = secret ?? props.privateKey ?? null;
  return (
    <Modal
      wide
      title={props.rotated ? `New secret for ${credential.authid}` : `Credential for ${credential.authid} issued`}
      onClose={props.onClose}
      footer={
        <>
          {auth && (
            <Button
              onClick={() => {
                consolePrefill.set({ realmId: props.realm.id, auth });
                navigate(`/realms/${props.realm.id}/console`);
              }}
            >
              Try it in the console
            </Button>
          )}
          <Button variant="primary" onClick={props.onClose}>
            I have stored it
          </Button>
        </>
      }
    >
      {shown ? (
        <>
          <h3 class="subhead">{secret ? (credential.kind === 'jwt' ? 'Signing secret (HS256)' : credential.kind === 'ticket' ? 'Ticket' : 'Secret') : 'Private key (hex seed)'}</h3>
          <SecretBox secret={shown} label="The secret" />
        </>
      ) : (
        <Alert tone="good" title="No secret to show">
          Junction keeps only the public key you gave; the client signs with its private key.
        </Alert>
      )}
      <h3 class="subhead">Connect with it</h3>
      <Tabs label="Client library" value={lang} onChange={setLang} tabs={list.map((s) => ({ id: s.id, label: s.label }))} />
      <p class="muted small">
        Install: <code>{snippet.install}</code>
      </p>
      <CodeBlock code={snippet.code} label={`${snippet.label} snippet`} lang={snippet.id === 'python' ? 'Python' : 'JavaScript'} />
    </Modal>
  );
}

function RotateDialog(props: { realm: Realm; credential: Credential; onClose: () => void; onRotated: (i: IssuedCredential, privateKey?: string) => Promise<void> }) {
  const c = props.credential;
  const needsKey = c.kind === 'cryptosign' || (c.kind === 'jwt' && c.algorithm !== 'HS256');
  const [publicKey, setPublicKey] = useState('');
  const [privateKey, setPrivateKey] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const out = await credApi.rotate(props.realm.id, c.id, needsKey ? { public_key: publicKey.trim() } : undefined);
      await props.onRotated(out, privateKey ?? undefined);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <Modal
      title={`Rotate ${c.authid}?`}
      onClose={props.onClose}
      footer={
        <>
          <Button onClick={props.onClose}>Cancel</Button>
          <Button variant="primary" busy={busy} disabled={needsKey && !publicKey.trim()} onClick={run}>
            Rotate
          </Button>
        </>
      }
    >
      <p>The current {needsKey ? 'key' : 'secret'} stops working at once; sessions using it must reconnect with the new one.</p>
      {needsKey && (
        <Field label={c.kind === 'cryptosign' ? 'New public key (hex)' : 'New public key (PEM)'}>
          {(a) =>
            c.kind === 'cryptosign' ? (
              <div class="inline-form">
                <input {...a} class="input mono grow" value={publicKey} onInput={(e) => setPublicKey(e.currentTarget.value)} />
                <Button
                  onClick={async () => {
                    const kp = await generateKeyPair();
                    setPublicKey(kp.publicKey);
                    setPrivateKey(kp.privateKey);
                  }}
                >
                  Generate
                </Button>
              </div>
            ) : (
              <textarea {...a} class="input mono" rows={5} value={publicKey} onInput={(e) => setPublicKey(e.currentTarget.value)} />
            )
          }
        </Field>
      )}
      {error && <Alert tone="bad">{error}</Alert>}
    </Modal>
  );
}
