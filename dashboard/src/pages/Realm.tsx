// A realm's pages share a header with its URI and tabs.

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { realms as realmsApi } from '../api/endpoints';
import type { Realm } from '../api/types';
import { useAsync } from '../lib/hooks';
import { navigate } from '../lib/router';
import { reloadRealms } from '../state/session';
import { Alert, Badge, Button, Card, ConfirmDialog, Field, Link, PageHeader, Spinner, Switch, errorText, toast } from '../ui';
import { identError } from '../lib/uri';
import { sentence } from '../lib/validate';

export type RealmTab = 'settings' | 'roles' | 'credentials' | 'sessions' | 'console';

const TABS: { id: RealmTab; label: string; path: string }[] = [
  { id: 'roles', label: 'Roles & rules', path: 'roles' },
  { id: 'credentials', label: 'Credentials', path: 'credentials' },
  { id: 'sessions', label: 'Live sessions', path: 'sessions' },
  { id: 'console', label: 'Console', path: 'console' },
  { id: 'settings', label: 'Settings', path: '' },
];

export function RealmFrame(props: { realmId: string; tab: RealmTab; children: (realm: Realm, reload: () => Promise<void>) => ComponentChildren }) {
  const r = useAsync(() => realmsApi.get(props.realmId), [props.realmId]);
  if (r.error) {
    return (
      <Alert tone="bad" title="Realm not found">
        {errorText(r.error)} <Link href="/">Back to realms</Link>
      </Alert>
    );
  }
  if (!r.data) return <Spinner />;
  const realm = r.data;
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <Link href="/">Realms</Link> <span aria-hidden="true">/</span>
          </>
        }
        title={<span class="mono">{realm.uri}</span>}
        actions={realm.allow_anonymous ? <Badge tone="warn">anonymous on</Badge> : <Badge>anonymous off</Badge>}
      />
      <nav class="subnav" aria-label="Realm sections">
        {TABS.map((t) => (
          <Link href={`/realms/${realm.id}${t.path ? '/' + t.path : ''}`} class={`subnav-item ${t.id === props.tab ? 'active' : ''}`} aria-current={t.id === props.tab ? 'page' : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      {props.children(realm, r.reload)}
    </>
  );
}

export function RealmSettings(props: { realm: Realm; reload: () => Promise<void> }) {
  const { realm } = props;
  const [busy, setBusy] = useState(false);
  const [role, setRole] = useState(realm.anonymous_role);
  const [roleError, setRoleError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [anonymous, setAnonymous] = useState(realm.allow_anonymous);
  useEffect(() => setRole(realm.anonymous_role), [realm.anonymous_role]);
  useEffect(() => setAnonymous(realm.allow_anonymous), [realm.allow_anonymous]);
  const toggle = async (on: boolean) => {
    setAnonymous(on);
    setBusy(true);
    try {
      await realmsApi.update(realm.id, { allow_anonymous: on });
      await props.reload();
      await reloadRealms();
      toast(on ? 'Anonymous sessions allowed' : 'Anonymous sessions refused');
    } catch (e) {
      setAnonymous(!on);
      toast(errorText(e), 'bad');
    } finally {
      setBusy(false);
    }
  };
  const saveRole = async (e: Event) => {
    e.preventDefault();
    const err = identError(role);
    if (err) return setRoleError(sentence(`Role ${err}`));
    setBusy(true);
    try {
      await realmsApi.update(realm.id, { anonymous_role: role });
      await props.reload();
      toast('Anonymous role saved');
      setRoleError(null);
    } catch (e2) {
      setRoleError(errorText(e2));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="grid-2">
      <Card title="Anonymous access">
        <p class="muted">
          When on, clients may join without credentials (authmethod <code>anonymous</code>) and get the role below. Keep it
          off for anything but public data.
        </p>
        <Switch checked={anonymous} disabled={busy} label="Allow anonymous sessions" onChange={toggle} />
        <form class="inline-form top-gap" onSubmit={saveRole} noValidate>
          <Field label="Role of anonymous sessions" error={roleError} class="grow">
            {(a) => <input {...a} class="input mono" value={role} onInput={(e) => setRole(e.currentTarget.value)} />}
          </Field>
          <Button type="submit" disabled={busy || role === realm.anonymous_role}>
            Save
          </Button>
        </form>
      </Card>
      <Card title="Connection">
        <dl class="facts">
          <dt>Realm URI</dt>
          <dd class="mono">{realm.uri}</dd>
          <dt>Realm id</dt>
          <dd class="mono">{realm.id}</dd>
          <dt>Created</dt>
          <dd>{new Date(realm.created_at).toLocaleString()}</dd>
        </dl>
      </Card>
      <Card title="Danger zone" class="card-danger">
        <p class="muted">Deleting the realm removes its roles, rules and credentials, and closes every session joined to it. This cannot be undone.</p>
        <Button variant="danger" onClick={() => setConfirm(true)}>
          Delete realm…
        </Button>
      </Card>
      {confirm && (
        <ConfirmDialog
          title="Delete this realm?"
          confirmLabel="Delete realm"
          typeToConfirm={realm.uri}
          onClose={() => setConfirm(false)}
          onConfirm={async () => {
            await realmsApi.remove(realm.id);
            await reloadRealms();
            toast(`Realm ${realm.uri} deleted`);
            navigate('/');
          }}
        >
          <p>
            <strong class="mono">{realm.uri}</strong> and everything in it will be deleted, and its sessions closed.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
