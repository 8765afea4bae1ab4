import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeApi, page, problem, realm } from '../test-utils';
import { resetConfigCache } from '../api/endpoints';
import { SignUp } from './Auth';
import { CreateRealmForm } from './Realms';
import { TestUri } from './Roles';
import { CredentialsPage } from './Credentials';
import { SessionsPage } from './Sessions';
import { ApiKeysPage } from './ApiKeys';
import { AuditPage } from './Audit';
import { ConfirmDialog, toasts } from '../ui';
import { LineChart } from '../ui/chart';
import { sessionStore } from '../state/session';

const type = (el: HTMLElement, value: string) => fireEvent.input(el, { target: { value } });

beforeEach(() => {
  resetConfigCache();
  history.replaceState(null, '', '/');
});

describe('sign-up', () => {
  it('explains every missing field before sending anything', async () => {
    const api = fakeApi({});
    render(<SignUp />);
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText(/Name your organisation/)).toBeTruthy();
    expect(screen.getByText('Enter your e-mail address.')).toBeTruthy();
    expect(screen.getByText('Choose a password.')).toBeTruthy();
    expect(screen.getByLabelText('E-mail').getAttribute('aria-invalid')).toBe('true');
    expect(api.seen).toHaveLength(0);
  });

  it('checks fields as the user leaves them', async () => {
    fakeApi({});
    render(<SignUp />);
    const email = screen.getByLabelText('E-mail');
    type(email, 'dev@');
    fireEvent.blur(email);
    expect(await screen.findByText(/does not look like an e-mail address/)).toBeTruthy();
    const pw = screen.getByLabelText('Password');
    type(pw, 'abc');
    fireEvent.blur(pw);
    expect(await screen.findByText('Use at least 10 characters (7 more).')).toBeTruthy();
  });

  it('signs up, then loads the session', async () => {
    const api = fakeApi({
      'POST /v1/signup': () => ({ user: {}, tenant: {}, role: 'owner' }),
      'GET /v1/me': () => ({ tenant: { name: 'Acme' }, actor_kind: 'user', actor_id: 'u', actor_label: 'dev@acme.com', role: 'owner', scopes: null }),
    });
    render(<SignUp />);
    type(screen.getByLabelText('Organisation'), 'Acme');
    type(screen.getByLabelText('E-mail'), 'dev@acme.com');
    type(screen.getByLabelText('Password'), 'long enough password');
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(sessionStore.get().status).toBe('authenticated'));
    expect(api.calls('POST /v1/signup')[0]!.body).toEqual({ tenant_name: 'Acme', email: 'dev@acme.com', password: 'long enough password' });
  });

  it('shows the server’s field messages and conflicts', async () => {
    fakeApi({ 'POST /v1/signup': () => problem(409, 'conflict', { errors: [{ field: 'tenant_slug', message: 'is taken' }] }) });
    render(<SignUp />);
    type(screen.getByLabelText('Organisation'), 'Acme');
    type(screen.getByLabelText('E-mail'), 'dev@acme.com');
    type(screen.getByLabelText('Password'), 'long enough password');
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText(/already exists/)).toBeTruthy();
  });
});

describe('creating a realm', () => {
  it('validates the URI while typing', async () => {
    fakeApi({});
    render(<CreateRealmForm />);
    const input = screen.getByLabelText('Realm URI');
    const button = screen.getByRole('button', { name: 'Create realm' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    type(input, 'com..acme');
    expect(await screen.findByText('Realm URI must not contain two dots in a row.')).toBeTruthy();
    expect(button.disabled).toBe(true);
    type(input, 'com acme');
    expect(await screen.findByText(/must not contain whitespace or '#' \(found ' ' at byte 3\)/)).toBeTruthy();
    type(input, 'com.acme.shop');
    expect(await screen.findByText('Looks good.')).toBeTruthy();
    expect(button.disabled).toBe(false);
  });

  it('creates it, and explains a taken URI', async () => {
    let n = 0;
    const api = fakeApi({
      'POST /v1/realms': () => (n++ === 0 ? problem(409, 'conflict') : realm),
      'GET /v1/realms': () => page([realm]),
    });
    const created = vi.fn();
    render(<CreateRealmForm onCreated={created} />);
    type(screen.getByLabelText('Realm URI'), 'com.acme.shop');
    fireEvent.click(screen.getByRole('button', { name: 'Create realm' }));
    expect(await screen.findByText(/This realm URI is taken/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Create realm' }));
    await waitFor(() => expect(created).toHaveBeenCalledWith('rlm_1'));
    expect(api.calls('POST /v1/realms')[1]!.body).toEqual({ uri: 'com.acme.shop' });
  });
});

describe('testing a URI against rules', () => {
  const allow = (a: Partial<Record<'call' | 'register' | 'publish' | 'subscribe', boolean>>) => ({ call: false, register: false, publish: false, subscribe: false, ...a });
  const rules = [
    { uri: 'com.acme.', match: 'prefix' as const, allow: allow({ call: true, publish: true, subscribe: true }), disclose: { caller: true, publisher: false } },
    { uri: 'com.acme.secret', match: 'exact' as const, allow: allow({ subscribe: true }), disclose: { caller: false, publisher: false } },
  ];

  it('names the deciding rule and what it allows', async () => {
    render(<TestUri rules={rules} roleName="app" />);
    type(screen.getByLabelText('URI a client would use'), 'com.acme.secret');
    const d = await screen.findByTestId('decision');
    expect(d.textContent).toContain('com.acme.secret');
    expect(within(d).getByText(/publish denied/)).toBeTruthy();
    expect(within(d).getByText(/subscribe allowed/)).toBeTruthy();
    type(screen.getByLabelText('URI a client would use'), 'com.acme.orders');
    await waitFor(() => expect(screen.getByTestId('decision').textContent).toContain('publish allowed'));
    expect(screen.getByTestId('decision').textContent).toContain('(identity disclosed)');
    type(screen.getByLabelText('URI a client would use'), 'org.other');
    await waitFor(() => expect(screen.getByTestId('decision').textContent).toContain('No rule matches'));
  });
});

describe('credentials', () => {
  const cred = {
    id: 'crd_1', realm_id: 'rlm_1', kind: 'ticket', authid: 'shop-frontend', role: 'app', label: '', salt: null, iterations: null,
    keylen: null, public_key: null, algorithm: null, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', revoked_at: null,
  };

  it('shows the secret once, with a copy button and snippets', async () => {
    let list: unknown[] = [];
    const api = fakeApi({
      'GET /v1/realms/rlm_1/credentials': () => page(list),
      'GET /v1/realms/rlm_1/roles': () => page([{ id: 'rol_1', realm_id: 'rlm_1', name: 'app', created_at: '', updated_at: '' }]),
      'GET /v1/config': () => ({ router_url: 'ws://127.0.0.1:9999/ws', version: '0.1.0' }),
      'POST /v1/realms/rlm_1/credentials': () => {
        list = [cred];
        return { credential: cred, secret: 'the-one-time-ticket-secret' };
      },
    });
    render(<CredentialsPage realm={realm} />);
    await screen.findByRole('option', { name: 'app' });
    type(screen.getByLabelText('authid'), 'shop-frontend');
    fireEvent.click(screen.getByRole('button', { name: 'Issue Ticket credential' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByTestId('secret-value').textContent).toBe('the-one-time-ticket-secret');
    expect(within(dialog).getByRole('button', { name: 'Copy secret' })).toBeTruthy();
    await waitFor(() => expect(within(dialog).getByLabelText('autobahn-python snippet').textContent).toContain('ws://127.0.0.1:9999/ws'));
    expect(within(dialog).getByLabelText('autobahn-python snippet').textContent).toContain('"ticket": "the-one-time-ticket-secret"');
    fireEvent.click(within(dialog).getByRole('tab', { name: 'autobahn-js' }));
    expect(within(dialog).getByLabelText('autobahn-js snippet').textContent).toContain("authmethods: ['ticket']");
    expect(api.calls('POST /v1/realms/rlm_1/credentials')[0]!.body).toEqual({ kind: 'ticket', authid: 'shop-frontend', role: 'app' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'I have stored it' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    await screen.findByRole('cell', { name: 'shop-frontend' });
    expect(document.body.textContent).not.toContain('the-one-time-ticket-secret');
  });

  it('asks for a public key for cryptosign, and can generate a pair', async () => {
    const api = fakeApi({
      'GET /v1/realms/rlm_1/credentials': () => page([]),
      'GET /v1/realms/rlm_1/roles': () => page([{ id: 'rol_1', realm_id: 'rlm_1', name: 'app', created_at: '', updated_at: '' }]),
      'POST /v1/realms/rlm_1/credentials': (r) => ({ credential: { ...cred, kind: 'cryptosign', public_key: (r.body as { public_key: string }).public_key }, secret: null }),
      'GET /v1/config': () => ({ router_url: null }),
    });
    render(<CredentialsPage realm={realm} />);
    await screen.findByRole('option', { name: 'app' });
    fireEvent.click(screen.getByRole('tab', { name: 'Cryptosign' }));
    type(screen.getByLabelText('authid'), 'device-1');
    fireEvent.click(screen.getByRole('button', { name: 'Issue Cryptosign credential' }));
    expect(await screen.findByText(/64 hexadecimal characters/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Generate key pair' }));
    await waitFor(() => expect((screen.getByLabelText('Public key (hex)') as HTMLInputElement).value).toMatch(/^[0-9a-f]{64}$/));
    fireEvent.click(screen.getByRole('button', { name: 'Issue Cryptosign credential' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByTestId('secret-value').textContent).toMatch(/^[0-9a-f]{64}$/);
    expect(api.calls('POST /v1/realms/rlm_1/credentials')[0]!.body).toMatchObject({ kind: 'cryptosign', authid: 'device-1' });
  });
});

describe('live sessions', () => {
  const s = (id: number, authid: string) => ({ session_id: id, authid, authrole: 'app', authmethod: 'ticket', pod: 'pod-a', joined_at: new Date().toISOString() });

  it('lists sessions from the admin API and kills one after confirming', async () => {
    let items = [s(101, 'shop-frontend'), s(202, 'backend')];
    const api = fakeApi({
      'GET /v1/realms/rlm_1/sessions': () => ({ items, total: items.length, truncated: false }),
      'GET /v1/realms/rlm_1/stats': () => ({ sessions: items.length, messages_in: 10, messages_out: 20, at: new Date().toISOString() }),
      'DELETE /v1/realms/rlm_1/sessions/202': () => {
        items = items.filter((x) => x.session_id !== 202);
        return undefined;
      },
    });
    render(<SessionsPage realm={realm} />);
    const row = (await screen.findByText('backend')).closest('tr')!;
    expect(within(row).getByText('pod-a')).toBeTruthy();
    fireEvent.click(within(row).getByRole('button', { name: 'Kill session 202' }));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Kill session' }));
    await waitFor(() => expect(screen.queryByText('backend')).toBeNull());
    expect(api.calls('DELETE /v1/realms/rlm_1/sessions/202')).toHaveLength(1);
    expect(screen.getByTestId('chart-Sessions').textContent).toMatch(/^2|^1/);
  });

  it('says a kill is pending while the router has not confirmed it, and keeps the session listed', async () => {
    const items = [s(303, 'stubborn')];
    fakeApi({
      'GET /v1/realms/rlm_1/sessions': () => ({ items, total: items.length, truncated: false }),
      'GET /v1/realms/rlm_1/stats': () => ({ sessions: items.length, messages_in: 0, messages_out: 0, at: new Date().toISOString() }),
      'DELETE /v1/realms/rlm_1/sessions/303': () => ({ session_id: 303, state: 'closing' }),
    });
    render(<SessionsPage realm={realm} />);
    const row = (await screen.findByText('stubborn')).closest('tr')!;
    fireEvent.click(within(row).getByRole('button', { name: 'Kill session 303' }));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Kill session' }));
    await waitFor(() => expect(toasts.get().map((t) => t.text)).toContain('Session 303 is closing: its router has not confirmed yet'));
    expect(screen.getByText('stubborn')).toBeTruthy();
  });

  it('explains what is needed when the server has no session directory', async () => {
    fakeApi({
      'GET /v1/realms/rlm_1/sessions': () => problem(503, 'unavailable', { detail: 'session directory unavailable' }),
      'GET /v1/realms/rlm_1/stats': () => problem(503, 'unavailable'),
    });
    render(<SessionsPage realm={realm} />);
    expect(await screen.findByText(/Listing sessions needs the admin API/)).toBeTruthy();
  });
});

describe('API keys', () => {
  it('creates a key with the chosen scopes and shows it once', async () => {
    const key = { id: 'key_1', name: 'CI deploy', prefix: 'abc123', scopes: ['audit:read', 'realms:read'], created_at: '', last_used_at: null, revoked_at: null };
    const api = fakeApi({
      'GET /v1/api-keys': () => page([]),
      'POST /v1/api-keys': () => ({ api_key: key, key: 'jk_abc123_secretsecret' }),
    });
    render(<ApiKeysPage />);
    fireEvent.click(await screen.findByRole('button', { name: 'Create API key' }));
    expect(await screen.findByText(/Name the key/)).toBeTruthy();
    type(screen.getByLabelText('Name'), 'CI deploy');
    fireEvent.click(screen.getByRole('checkbox', { name: /audit:read/ }));
    fireEvent.click(screen.getByRole('button', { name: 'Create API key' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByTestId('secret-value').textContent).toBe('jk_abc123_secretsecret');
    expect(api.calls('POST /v1/api-keys')[0]!.body).toEqual({ name: 'CI deploy', scopes: ['realms:read', 'audit:read'] });
  });
});

describe('audit log', () => {
  it('reads every page and shows the newest first, with the changes', async () => {
    const entry = (id: string, action: string) => ({
      id, at: new Date().toISOString(), actor_kind: 'user', actor_id: 'u', actor_label: 'dev@acme.com', action, target_kind: 'realm', target_id: 'rlm_1',
      before: null, after: { uri: 'com.acme.shop' },
    });
    let n = 0;
    fakeApi({ 'GET /v1/audit-log': () => (n++ === 0 ? { items: [entry('a1', 'realm.create')], next_cursor: 'c1' } : { items: [entry('a2', 'role.delete')], next_cursor: null }) });
    render(<AuditPage />);
    await screen.findByText('role.delete');
    const actions = screen.getAllByRole('row').slice(1).map((r) => r.querySelector('.badge')?.textContent);
    expect(actions).toEqual(['role.delete', 'realm.create']);
    fireEvent.click(screen.getAllByRole('button', { name: 'Changes' })[0]!);
    expect(await screen.findByText(/"uri": "com.acme.shop"/)).toBeTruthy();
  });
});

describe('design system', () => {
  it('a destructive confirmation waits for the typed name', async () => {
    const ok = vi.fn();
    render(
      <ConfirmDialog title="Delete?" confirmLabel="Delete realm" typeToConfirm="com.acme.shop" onConfirm={ok} onClose={() => {}}>
        <p>gone</p>
      </ConfirmDialog>,
    );
    const button = screen.getByRole('button', { name: 'Delete realm' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    type(screen.getByLabelText(/to confirm/), 'com.acme.shop');
    await waitFor(() => expect(button.disabled).toBe(false));
    fireEvent.click(button);
    await waitFor(() => expect(ok).toHaveBeenCalled());
  });

  it('charts describe themselves to screen readers', () => {
    const now = Date.now();
    render(<LineChart title="Sessions" unit="joined" now={now} points={[{ t: now - 2000, v: 1 }, { t: now, v: 3 }]} />);
    expect(screen.getByRole('img').getAttribute('aria-label')).toBe('Sessions: now 3 joined, peak 3 over the last 2 minutes');
  });
});
