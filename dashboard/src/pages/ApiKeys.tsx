import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { apiKeys } from '../api/endpoints';
import { SCOPES, type ApiKey, type IssuedApiKey } from '../api/types';
import { ago } from '../lib/format';
import { useAsync } from '../lib/hooks';
import { sentence } from '../lib/validate';
import { Alert, Badge, Button, Card, CodeBlock, ConfirmDialog, Empty, Field, Modal, PageHeader, SecretBox, Spinner, Table, errorText, toast } from '../ui';

const SCOPE_HELP: Record<string, string> = {
  'realms:read': 'list realms, roles and rules',
  'realms:write': 'create, change and delete realms, roles and rules',
  'credentials:read': 'list credentials (never their secrets)',
  'credentials:write': 'issue, rotate and revoke credentials',
  'tokens:create': 'mint short-lived client tokens',
  'audit:read': 'read the audit log',
  'sessions:read': 'list live sessions and realm figures',
  'sessions:write': 'kill live sessions',
};

export function ApiKeysPage() {
  const list = useAsync(() => apiKeys.list(), []);
  const [issued, setIssued] = useState<IssuedApiKey | null>(null);
  const [revoke, setRevoke] = useState<ApiKey | null>(null);
  return (
    <>
      <PageHeader title="API keys" subtitle="Keys for scripts and backends that call the admin API. A key can do exactly what its scopes allow." />
      <Card title="Create an API key">
        <CreateKey
          onCreated={async (k) => {
            setIssued(k);
            await list.reload();
          }}
        />
      </Card>
      <Card title="Keys">
        {list.error ? <Alert tone="bad">{errorText(list.error)}</Alert> : null}
        {!list.data && !list.error ? <Spinner /> : null}
        {list.data && list.data.length === 0 && <Empty title="No API keys yet" />}
        {list.data && list.data.length > 0 && (
          <Table label="API keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Scopes</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((k) => (
                <tr key={k.id} class={k.revoked_at ? 'row-dim' : ''}>
                  <td class="strong">{k.name}</td>
                  <td class="mono">jk_{k.prefix}_…</td>
                  <td>
                    <div class="badges">
                      {k.scopes.map((s) => (
                        <Badge>{s}</Badge>
                      ))}
                    </div>
                  </td>
                  <td>{k.last_used_at ? ago(k.last_used_at) : <span class="muted">never</span>}</td>
                  <td>{k.revoked_at ? <Badge tone="bad">revoked</Badge> : <Badge tone="good">active</Badge>}</td>
                  <td class="row-actions">
                    {!k.revoked_at && (
                      <Button size="sm" variant="ghost" onClick={() => setRevoke(k)}>
                        Revoke
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
      {issued && (
        <Modal title={`API key ${issued.api_key.name} created`} wide onClose={() => setIssued(null)} footer={<Button variant="primary" onClick={() => setIssued(null)}>I have stored it</Button>}>
          <SecretBox secret={issued.key} label="The API key" lost="Lost it? Revoke it and create another." />
          <h3 class="subhead">Use it</h3>
          <CodeBlock lang="shell" label="curl example" code={`curl -H "Authorization: Bearer ${issued.key}" \\\n  ${location.origin}/v1/realms`} />
        </Modal>
      )}
      {revoke && (
        <ConfirmDialog
          title={`Revoke ${revoke.name}?`}
          confirmLabel="Revoke key"
          onClose={() => setRevoke(null)}
          onConfirm={async () => {
            await apiKeys.revoke(revoke.id);
            toast(`API key ${revoke.name} revoked`);
            await list.reload();
          }}
        >
          <p>Requests with this key fail from now on. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function CreateKey(props: { onCreated: (k: IssuedApiKey) => Promise<void> }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['realms:read']);
  const [errors, setErrors] = useState<{ name?: string; scopes?: string; banner?: string }>({});
  const [busy, setBusy] = useState(false);
  const toggle = (s: string, on: boolean) => setScopes((cur) => (on ? [...cur, s] : cur.filter((x) => x !== s)));
  const submit = async (e: Event) => {
    e.preventDefault();
    const errs: typeof errors = {};
    if (!name.trim()) errs.name = 'Name the key after what uses it, e.g. "CI deploy".';
    if (scopes.length === 0) errs.scopes = 'Choose at least one scope.';
    setErrors(errs);
    if (errs.name || errs.scopes) return;
    setBusy(true);
    try {
      const k = await apiKeys.create({ name: name.trim(), scopes: SCOPES.filter((s) => scopes.includes(s)) });
      setName('');
      await props.onCreated(k);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        const f = err.fields();
        setErrors({ ...(f.name ? { name: sentence(f.name) } : {}), ...(f.scopes ? { scopes: sentence(f.scopes) } : {}), banner: err.friendly });
      } else setErrors({ banner: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate class="stack">
      {errors.banner && <Alert tone="bad">{errors.banner}</Alert>}
      <Field label="Name" error={errors.name}>
        {(a) => <input {...a} class="input" name="key-name" value={name} placeholder="CI deploy" onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      <fieldset class="scopes" aria-describedby={errors.scopes ? 'scopes-err' : undefined}>
        <legend>Scopes</legend>
        {SCOPES.map((s) => (
          <label class="check">
            <input type="checkbox" name="scope" value={s} checked={scopes.includes(s)} onChange={(e) => toggle(s, e.currentTarget.checked)} />
            <span>
              <code>{s}</code> <span class="muted">{SCOPE_HELP[s]}</span>
            </span>
          </label>
        ))}
        {errors.scopes && (
          <p class="field-msg field-error" id="scopes-err" role="alert">
            {errors.scopes}
          </p>
        )}
      </fieldset>
      <div>
        <Button type="submit" variant="primary" busy={busy}>
          Create API key
        </Button>
      </div>
    </form>
  );
}
