import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { realms as realmsApi } from '../api/endpoints';
import { ago } from '../lib/format';
import { useStore } from '../lib/store';
import { navigate } from '../lib/router';
import { realmUriHint } from '../lib/uri';
import { sentence } from '../lib/validate';
import { realmsStore, reloadRealms } from '../state/session';
import { Alert, Badge, Button, Card, Empty, Field, Link, PageHeader, Spinner, Table, errorText, toast } from '../ui';

export function CreateRealmForm(props: { onCreated?: (id: string) => void }) {
  const [uri, setUri] = useState('');
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const hint = uri ? realmUriHint(uri) : null;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!uri || hint) {
      setServerError(null);
      return;
    }
    setBusy(true);
    setServerError(null);
    try {
      const realm = await realmsApi.create({ uri });
      await reloadRealms();
      toast(`Realm ${realm.uri} created`);
      setUri('');
      props.onCreated?.(realm.id);
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'conflict') setServerError('This realm URI is taken. Realm URIs are global: add your company prefix, e.g. com.acme.shop.');
      else if (err instanceof ApiError && err.fields().uri) setServerError(sentence(`Realm URI ${err.fields().uri}`));
      else setServerError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const error = hint ? sentence(`Realm URI ${hint}`) : serverError;
  return (
    <form class="inline-form" onSubmit={submit} noValidate>
      <Field
        label="Realm URI"
        hint="Dot-separated, globally unique, like a reversed domain: com.acme.shop"
        error={error}
        ok={uri && !hint ? 'Looks good.' : null}
        class="grow"
      >
        {(a) => (
          <input
            {...a}
            class="input mono"
            name="uri"
            placeholder="com.acme.shop"
            value={uri}
            spellcheck={false}
            autoComplete="off"
            onInput={(e) => {
              setUri(e.currentTarget.value);
              setServerError(null);
            }}
          />
        )}
      </Field>
      <Button type="submit" variant="primary" busy={busy} disabled={!uri || Boolean(hint)}>
        Create realm
      </Button>
    </form>
  );
}

export function RealmsPage() {
  const { items, loaded } = useStore(realmsStore);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    reloadRealms().catch(setError);
  }, []);
  return (
    <>
      <PageHeader title="Realms" subtitle="A realm is a routing domain: clients that join the same realm can publish, subscribe, register and call with each other." />
      <Card title="Create a realm">
        <CreateRealmForm onCreated={(id) => navigate(`/realms/${id}/roles`)} />
      </Card>
      {error ? (
        <Alert tone="bad" title="Could not load realms">
          {errorText(error)}
        </Alert>
      ) : !loaded ? (
        <Spinner />
      ) : items.length === 0 ? (
        <Card>
          <Empty title="No realms yet">
            <ol class="steps">
              <li>Create a realm above, e.g. <code>com.acme.shop</code>.</li>
              <li>Give it a role with permission rules.</li>
              <li>Issue a credential for your app, and try it in the console.</li>
            </ol>
          </Empty>
        </Card>
      ) : (
        <Card title={`Your realms (${items.length})`}>
          <Table label="Realms">
            <thead>
              <tr>
                <th scope="col">URI</th>
                <th scope="col">Anonymous</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link href={`/realms/${r.id}`} class="mono strong">
                      {r.uri}
                    </Link>
                  </td>
                  <td>{r.allow_anonymous ? <Badge tone="warn">on, as {r.anonymous_role}</Badge> : <Badge>off</Badge>}</td>
                  <td title={r.created_at}>{ago(r.created_at)}</td>
                  <td class="row-actions">
                    <Link href={`/realms/${r.id}/roles`}>Roles</Link>
                    <Link href={`/realms/${r.id}/credentials`}>Credentials</Link>
                    <Link href={`/realms/${r.id}/console`}>Console</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        </Card>
      )}
    </>
  );
}
