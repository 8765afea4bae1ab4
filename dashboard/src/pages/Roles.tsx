import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { roles as rolesApi } from '../api/endpoints';
import type { Allow, Disclose, MatchPolicy, Realm, Role, Rule, RuleSpec } from '../api/types';
import { previewImport, type ImportPreview } from '../lib/crossbar';
import { useAsync } from '../lib/hooks';
import { ACTIONS, decide } from '../lib/rules';
import { identError, patternError } from '../lib/uri';
import { sentence } from '../lib/validate';
import { Alert, Badge, Button, Card, ConfirmDialog, Empty, Field, Modal, Spinner, Switch, Table, errorText, toast } from '../ui';

const MATCHES: MatchPolicy[] = ['exact', 'prefix', 'wildcard'];
const NO_ALLOW: Allow = { call: false, register: false, publish: false, subscribe: false };
const NO_DISCLOSE: Disclose = { caller: false, publisher: false };

export function RolesPage(props: { realm: Realm }) {
  const realmId = props.realm.id;
  const list = useAsync(() => rolesApi.list(realmId), [realmId]);
  const [selected, setSelected] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);
  const roles = list.data ?? [];
  const current = roles.find((r) => r.id === selected) ?? roles[0] ?? null;
  return (
    <>
      <Card title="Roles" actions={<Button size="sm" onClick={() => setImporting(true)}>Import Crossbar.io JSON</Button>}>
        {list.error ? <Alert tone="bad">{errorText(list.error)}</Alert> : null}
        {!list.data && !list.error ? <Spinner /> : null}
        <div class="roles-bar">
          {list.data && roles.length === 0 && <p class="muted grow">No roles yet. A credential joins with a role; a role's rules say what it may do.</p>}
          {roles.length > 0 && (
            <ul class="role-list grow" aria-label="Roles">
              {roles.map((r) => (
                <li key={r.id}>
                  <button type="button" class={`role-item ${current?.id === r.id ? 'active' : ''}`} aria-pressed={current?.id === r.id} onClick={() => setSelected(r.id)}>
                    {r.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
          <CreateRole
            realmId={realmId}
            onCreated={async (role) => {
              await list.reload();
              setSelected(role.id);
            }}
          />
        </div>
      </Card>
      {current ? (
        <RoleRules key={current.id} realm={props.realm} role={current} onDeleted={() => { setSelected(null); void list.reload(); }} />
      ) : list.data ? (
        <Card>
          <Empty title="Create a role to edit its rules">
            <p>For example <code>app</code> for your application, or <code>backend</code> and <code>browser</code>.</p>
          </Empty>
        </Card>
      ) : null}
      {importing && (
        <ImportDialog
          realm={props.realm}
          onClose={() => setImporting(false)}
          onDone={async () => {
            setImporting(false);
            await list.reload();
          }}
        />
      )}
    </>
  );
}

function CreateRole(props: { realmId: string; onCreated: (r: Role) => Promise<void> }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const local = name ? identError(name) : null;
  const submit = async (e: Event) => {
    e.preventDefault();
    const err = identError(name);
    if (err) return setError(sentence(`Role name ${err}`));
    setBusy(true);
    try {
      const role = await rolesApi.create(props.realmId, name);
      setName('');
      setError(null);
      toast(`Role ${role.name} created`);
      await props.onCreated(role);
    } catch (err2) {
      setError(err2 instanceof ApiError && err2.kind === 'conflict' ? 'A role with this name exists.' : errorText(err2));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline-form add-role" onSubmit={submit} noValidate>
      <Field label="New role" error={local ? sentence(`Role name ${local}`) : error} class="grow">
        {(a) => <input {...a} class="input mono" name="role" placeholder="app" value={name} onInput={(e) => { setName(e.currentTarget.value); setError(null); }} />}
      </Field>
      <Button type="submit" variant="primary" busy={busy}>
        Add role
      </Button>
    </form>
  );
}

function RoleRules(props: { realm: Realm; role: Role; onDeleted: () => void }) {
  const { realm, role } = props;
  const rules = useAsync(() => rolesApi.rules(realm.id, role.id), [realm.id, role.id]);
  const [confirm, setConfirm] = useState(false);
  const update = async (rule: Rule, patch: Partial<RuleSpec>) => {
    const before = rules.data ?? [];
    rules.set(before.map((r) => (r.id === rule.id ? { ...r, ...patch } : r)));
    try {
      const saved = await rolesApi.updateRule(realm.id, role.id, rule.id, patch);
      rules.set((rules.data ?? before).map((r) => (r.id === saved.id ? saved : r)));
    } catch (e) {
      rules.set(before);
      toast(errorText(e), 'bad');
      throw e;
    }
  };
  const remove = async (rule: Rule) => {
    try {
      await rolesApi.removeRule(realm.id, role.id, rule.id);
      await rules.reload();
      toast('Rule deleted');
    } catch (e) {
      toast(errorText(e), 'bad');
    }
  };
  return (
    <>
      <Card
        title={
          <>
            Rules of <span class="mono">{role.name}</span>
          </>
        }
        actions={
          <Button size="sm" variant="ghost" onClick={() => setConfirm(true)}>
            Delete role…
          </Button>
        }
      >
        <p class="muted">
          The most specific matching rule decides alone: an exact rule, else the longest prefix, else the most specific
          wildcard. No matching rule means denied.
        </p>
        {rules.error ? <Alert tone="bad">{errorText(rules.error)}</Alert> : null}
        {!rules.data && !rules.error ? <Spinner /> : null}
        {rules.data && (
          <Table label={`Rules of ${role.name}`} class="rules-table">
            <thead>
              <tr class="group-row">
                <th scope="col" rowSpan={2}>URI</th>
                <th scope="col" rowSpan={2}>Match</th>
                <th scope="colgroup" colSpan={4} class="center group">Allow</th>
                <th scope="colgroup" colSpan={2} class="center group">Disclose</th>
                <th scope="col" rowSpan={2}>
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
              <tr>
                {ACTIONS.map((a) => (
                  <th scope="col" class="center">{a}</th>
                ))}
                <th scope="col" class="center">caller</th>
                <th scope="col" class="center">publisher</th>
              </tr>
            </thead>
            <tbody>
              {rules.data.map((rule) => (
                <RuleRow key={rule.id} rule={rule} onChange={(p) => update(rule, p)} onDelete={() => remove(rule)} />
              ))}
              {rules.data.length === 0 && (
                <tr>
                  <td colSpan={9} class="muted center">
                    No rules: this role may do nothing yet. Add one below.
                  </td>
                </tr>
              )}
            </tbody>
          </Table>
        )}
      </Card>
      <div class="grid-2">
        <Card title="Add a rule">
          <NewRule realmId={realm.id} roleId={role.id} onAdded={rules.reload} />
        </Card>
        <TestUri rules={rules.data ?? []} roleName={role.name} />
      </div>
      {confirm && (
        <ConfirmDialog
          title={`Delete role ${role.name}?`}
          confirmLabel="Delete role"
          onClose={() => setConfirm(false)}
          onConfirm={async () => {
            await rolesApi.remove(realm.id, role.id);
            toast(`Role ${role.name} deleted`);
            props.onDeleted();
          }}
        >
          <p>Its rules are deleted and sessions joined with this role are closed. Credentials that name it will fail to join until the role exists again.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function RuleRow(props: { rule: Rule; onChange: (p: Partial<RuleSpec>) => Promise<void>; onDelete: () => void }) {
  const { rule } = props;
  const [uri, setUri] = useState(rule.uri);
  const [match, setMatch] = useState<MatchPolicy>(rule.match);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setUri(rule.uri);
    setMatch(rule.match);
  }, [rule.uri, rule.match]);
  const dirty = uri !== rule.uri || match !== rule.match;
  const err = patternError(uri, match);
  const save = async () => {
    if (err) return;
    setBusy(true);
    try {
      await props.onChange({ uri, match });
    } catch {
      /* toast shown */
    } finally {
      setBusy(false);
    }
  };
  const label = rule.uri === '' ? '(everything)' : rule.uri;
  return (
    <tr>
      <td>
        <input
          class={`input input-sm mono ${err ? 'input-invalid' : ''}`}
          aria-label={`URI of rule ${label}`}
          aria-invalid={err ? true : undefined}
          title={err ? sentence(err) : undefined}
          value={uri}
          onInput={(e) => setUri(e.currentTarget.value)}
          onKeyDown={(e) => e.key === 'Enter' && dirty && save()}
        />
      </td>
      <td>
        <select class="input input-sm" aria-label={`Match of rule ${label}`} value={match} onChange={(e) => setMatch(e.currentTarget.value as MatchPolicy)}>
          {MATCHES.map((m) => (
            <option value={m}>{m}</option>
          ))}
        </select>
      </td>
      {ACTIONS.map((a) => (
        <td class="center">
          <Switch hideLabel label={`${a} on ${label}`} checked={rule.allow[a]} onChange={(v) => props.onChange({ allow: { ...rule.allow, [a]: v } }).catch(() => {})} />
        </td>
      ))}
      <td class="center">
        <Switch hideLabel label={`disclose caller on ${label}`} checked={rule.disclose.caller} onChange={(v) => props.onChange({ disclose: { ...rule.disclose, caller: v } }).catch(() => {})} />
      </td>
      <td class="center">
        <Switch hideLabel label={`disclose publisher on ${label}`} checked={rule.disclose.publisher} onChange={(v) => props.onChange({ disclose: { ...rule.disclose, publisher: v } }).catch(() => {})} />
      </td>
      <td class="row-actions">
        {dirty && (
          <Button size="sm" variant="primary" busy={busy} disabled={Boolean(err)} onClick={save}>
            Save
          </Button>
        )}
        <Button size="sm" variant="ghost" aria-label={`Delete rule ${label}`} onClick={props.onDelete}>
          Delete
        </Button>
      </td>
    </tr>
  );
}

function NewRule(props: { realmId: string; roleId: string; onAdded: () => Promise<void> }) {
  const [uri, setUri] = useState('');
  const [match, setMatch] = useState<MatchPolicy>('prefix');
  const [allow, setAllow] = useState<Allow>({ call: true, register: false, publish: false, subscribe: true });
  const [disclose, setDisclose] = useState<Disclose>(NO_DISCLOSE);
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [touched, setTouched] = useState(false);
  const err = patternError(uri, match);
  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (err) return;
    setBusy(true);
    try {
      await rolesApi.addRule(props.realmId, props.roleId, { uri, match, allow, disclose });
      setUri('');
      setTouched(false);
      setServerError(null);
      setAllow({ ...NO_ALLOW, call: true, subscribe: true });
      setDisclose(NO_DISCLOSE);
      await props.onAdded();
    } catch (e2) {
      setServerError(e2 instanceof ApiError && e2.kind === 'conflict' ? 'This role already has a rule with this URI and match.' : errorText(e2));
    } finally {
      setBusy(false);
    }
  };
  const hint =
    match === 'prefix'
      ? 'Prefix: "com.acme." matches every URI that starts with it; "" matches everything.'
      : match === 'wildcard'
        ? 'Wildcard: an empty component matches any one component, e.g. "com..create".'
        : 'Exact: this one URI.';
  return (
    <form class="new-rule" onSubmit={submit} noValidate aria-label="Add a rule">
      <div class="new-rule-grid">
        <Field label="URI or pattern" hint={hint} error={(touched || uri) && err ? sentence(err) : serverError} class="grow">
          {(a) => <input {...a} class="input mono" name="rule-uri" placeholder="com.acme." value={uri} spellcheck={false} onInput={(e) => { setUri(e.currentTarget.value); setServerError(null); }} />}
        </Field>
        <Field label="Match">
          {(a) => (
            <select {...a} class="input" name="rule-match" value={match} onChange={(e) => setMatch(e.currentTarget.value as MatchPolicy)}>
              {MATCHES.map((m) => (
                <option value={m}>{m}</option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <fieldset class="switches">
        <legend>Allow</legend>
        {ACTIONS.map((a) => (
          <Switch label={a} checked={allow[a]} onChange={(v) => setAllow({ ...allow, [a]: v })} />
        ))}
      </fieldset>
      <fieldset class="switches">
        <legend>Disclose</legend>
        <Switch label="caller" checked={disclose.caller} onChange={(v) => setDisclose({ ...disclose, caller: v })} />
        <Switch label="publisher" checked={disclose.publisher} onChange={(v) => setDisclose({ ...disclose, publisher: v })} />
      </fieldset>
      <Button type="submit" variant="primary" busy={busy}>
        Add rule
      </Button>
    </form>
  );
}

export function TestUri(props: { rules: readonly Rule[] | readonly (RuleSpec & { id?: string })[]; roleName?: string }) {
  const [uri, setUri] = useState('');
  const d = uri ? decide(props.rules, uri) : null;
  return (
    <Card title="Test a URI">
      <Field label="URI a client would use" hint="Says which rule decides and what it allows.">
        {(a) => <input {...a} class="input mono" name="test-uri" placeholder="com.acme.orders.created" value={uri} spellcheck={false} onInput={(e) => setUri(e.currentTarget.value)} />}
      </Field>
      {d && (
        <div class="decision" role="status" data-testid="decision">
          {d.rule ? (
            <p>
              Decided by rule <code class="strong">{d.rule.uri === '' ? '""' : d.rule.uri}</code> <Badge tone="info">{d.rule.match}</Badge>
              {props.roleName && <> of role <code>{props.roleName}</code></>}
            </p>
          ) : (
            <p>
              <strong>No rule matches:</strong> every action on this URI is denied.
            </p>
          )}
          <ul class="verdicts">
            {ACTIONS.map((a) => (
              <li class={d.allowed[a] ? 'ok' : 'no'}>
                <span aria-hidden="true">{d.allowed[a] ? '✓' : '✕'}</span> {a} {d.allowed[a] ? 'allowed' : 'denied'}
                {d.disclosed[a] && <small> (identity disclosed)</small>}
              </li>
            ))}
          </ul>
        </div>
      )}
    </Card>
  );
}

function ImportDialog(props: { realm: Realm; onClose: () => void; onDone: () => Promise<void> }) {
  const [text, setText] = useState('');
  const [preview, setPreview] = useState<ImportPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!text.trim()) {
      setPreview(null);
      setError(null);
      return;
    }
    try {
      setPreview(previewImport(text, props.realm.uri));
      setError(null);
    } catch (e) {
      setPreview(null);
      setError((e as Error).message);
    }
  }, [text]);
  const run = async () => {
    if (!preview) return;
    setBusy(true);
    try {
      const out = await rolesApi.importCrossbar(props.realm.id, preview.body);
      toast(`Imported ${out.roles.length} role${out.roles.length === 1 ? '' : 's'}`);
      await props.onDone();
    } catch (e) {
      setError(e instanceof ApiError && e.fieldErrors.length ? e.fieldErrors.map((f) => `${f.field}: ${f.message}`).join('\n') : errorText(e));
      setBusy(false);
    }
  };
  const file = async (f: File | undefined) => f && setText(await f.text());
  return (
    <Modal
      title="Import Crossbar.io roles"
      wide
      onClose={props.onClose}
      footer={
        <>
          <Button onClick={props.onClose}>Cancel</Button>
          <Button variant="primary" disabled={!preview} busy={busy} onClick={run}>
            Import {preview ? `${preview.roles.length} role${preview.roles.length === 1 ? '' : 's'}` : ''}
          </Button>
        </>
      }
    >
      <p class="muted">
        Paste a Crossbar.io <code>config.json</code>, a realm from it, or its <code>roles</code> array. Named roles get
        exactly the imported rules; other roles are left alone.
      </p>
      <Field label="Crossbar.io JSON">
        {(a) => <textarea {...a} class="input mono" rows={10} value={text} spellcheck={false} onInput={(e) => setText(e.currentTarget.value)} placeholder='{"roles": [{"name": "frontend", "permissions": [{"uri": "com.example.", "match": "prefix", "allow": {"call": true, "subscribe": true}}]}]}' />}
      </Field>
      <label class="file-pick">
        or choose a file <input type="file" accept=".json,application/json" onChange={(e) => file(e.currentTarget.files?.[0])} />
      </label>
      {error && <Alert tone="bad"><pre class="pre-wrap">{error}</pre></Alert>}
      {preview && (
        <Alert tone="info" title={preview.fromRealm ? `Roles of realm ${preview.fromRealm}` : 'Roles found'}>
          <ul>
            {preview.roles.map((r) => (
              <li>
                <code>{r.name}</code>: {r.rules} rule{r.rules === 1 ? '' : 's'}
              </li>
            ))}
          </ul>
        </Alert>
      )}
    </Modal>
  );
}
