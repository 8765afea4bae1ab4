import { useEffect, useState } from 'preact/hooks';
import { match, navigate, usePath } from './lib/router';
import { useStore } from './lib/store';
import { ApiKeysPage } from './pages/ApiKeys';
import { AuditPage } from './pages/Audit';
import { LogIn, SignUp } from './pages/Auth';
import { ConsolePage } from './pages/Console';
import { CredentialsPage } from './pages/Credentials';
import { RealmFrame, RealmSettings, type RealmTab } from './pages/Realm';
import { RealmsPage } from './pages/Realms';
import { RolesPage } from './pages/Roles';
import { SessionsPage } from './pages/Sessions';
import { consoleStore } from './state/console';
import { loadSession, logout, realmsStore, reloadRealms, sessionStore } from './state/session';
import { Alert, Button, Link, Spinner, Toasts, errorText } from './ui';

const REALM_ROUTES: { pattern: string; tab: RealmTab }[] = [
  { pattern: '/realms/:realm', tab: 'settings' },
  { pattern: '/realms/:realm/roles', tab: 'roles' },
  { pattern: '/realms/:realm/credentials', tab: 'credentials' },
  { pattern: '/realms/:realm/sessions', tab: 'sessions' },
  { pattern: '/realms/:realm/console', tab: 'console' },
];

function realmRoute(path: string): { realm: string; tab: RealmTab } | null {
  for (const r of REALM_ROUTES) {
    const m = match(r.pattern, path);
    if (m) return { realm: m.realm!, tab: r.tab };
  }
  return null;
}

const TITLES: Record<RealmTab, string> = {
  settings: 'Settings',
  roles: 'Roles & rules',
  credentials: 'Credentials',
  sessions: 'Live sessions',
  console: 'Console',
};

function Page(props: { path: string }) {
  const p = props.path;
  const rr = realmRoute(p);
  if (rr) {
    return (
      <RealmFrame realmId={rr.realm} tab={rr.tab}>
        {(realm, reload) =>
          rr.tab === 'settings' ? (
            <RealmSettings realm={realm} reload={reload} />
          ) : rr.tab === 'roles' ? (
            <RolesPage realm={realm} />
          ) : rr.tab === 'credentials' ? (
            <CredentialsPage realm={realm} />
          ) : rr.tab === 'sessions' ? (
            <SessionsPage realm={realm} />
          ) : (
            <ConsolePage realm={realm} />
          )
        }
      </RealmFrame>
    );
  }
  if (p === '/' || p === '/realms') return <RealmsPage />;
  if (p === '/api-keys') return <ApiKeysPage />;
  if (p === '/audit') return <AuditPage />;
  return (
    <Alert tone="warn" title="Page not found">
      There is nothing at <code>{p}</code>. <Link href="/">Go to your realms</Link>.
    </Alert>
  );
}

function pageTitle(path: string): string {
  const rr = realmRoute(path);
  if (rr) {
    const realm = realmsStore.get().items.find((r) => r.id === rr.realm);
    return `${TITLES[rr.tab]}${realm ? ' · ' + realm.uri : ''}`;
  }
  if (path === '/api-keys') return 'API keys';
  if (path === '/audit') return 'Audit log';
  if (path === '/signup') return 'Sign up';
  if (path === '/login') return 'Log in';
  return 'Realms';
}

function Sidebar(props: { path: string; open: boolean; onNavigate: () => void }) {
  const session = useStore(sessionStore);
  const { items } = useStore(realmsStore);
  const consoleState = useStore(consoleStore);
  const rr = realmRoute(props.path);
  const joined = consoleState.sessions.filter((s) => s.state === 'open').length;
  useEffect(() => {
    reloadRealms().catch(() => {});
  }, []);
  const me = session.status === 'authenticated' ? session.me : null;
  const item = (href: string, label: string, active: boolean, extra?: preact.ComponentChildren) => (
    <Link href={href} class={`nav-item ${active ? 'active' : ''}`} aria-current={active ? 'page' : undefined} onClickCapture={props.onNavigate}>
      {label}
      {extra}
    </Link>
  );
  return (
    <nav class={`sidebar ${props.open ? 'open' : ''}`} aria-label="Main">
      <div class="brand">
        <span class="logo" aria-hidden="true" />
        <span>Junction</span>
      </div>
      {me && (
        <div class="tenant">
          <div class="tenant-name">{me.tenant.name}</div>
          <div class="tenant-plan">{me.tenant.plan} plan</div>
        </div>
      )}
      <div class="nav-group">
        {item('/', 'Realms', props.path === '/' || props.path === '/realms')}
        <ul class="nav-realms" aria-label="Your realms">
          {items.map((r) => {
            const here = rr?.realm === r.id;
            return (
              <li>
                {item(`/realms/${r.id}/roles`, r.uri, false)}
                {here && (
                  <ul class="nav-sub">
                    {REALM_ROUTES.slice(1).concat(REALM_ROUTES.slice(0, 1)).map((x) => (
                      <li>
                        {item(
                          `/realms/${r.id}${x.tab === 'settings' ? '' : '/' + x.tab}`,
                          TITLES[x.tab],
                          rr.tab === x.tab,
                          x.tab === 'console' && joined ? <span class="nav-count" aria-label={`${joined} joined`}>{joined}</span> : undefined,
                        )}
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            );
          })}
        </ul>
      </div>
      <div class="nav-group">
        {item('/api-keys', 'API keys', props.path === '/api-keys')}
        {item('/audit', 'Audit log', props.path === '/audit')}
      </div>
      <div class="sidebar-foot">
        {me && <div class="user" title={me.actor_label}>{me.actor_label}</div>}
        {me?.role && <div class="muted small">{me.role}</div>}
        <Button size="sm" variant="ghost" onClick={async () => { await logout(); navigate('/login', true); }}>
          Log out
        </Button>
      </div>
    </nav>
  );
}

export function App() {
  const path = usePath();
  const session = useStore(sessionStore);
  const [bootError, setBootError] = useState<unknown>(null);
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    loadSession().catch(setBootError);
  }, []);
  useEffect(() => {
    document.title = `${pageTitle(path)} · Junction`;
  }, [path, session.status]);
  useEffect(() => {
    if (session.status === 'anonymous' && path !== '/signup' && path !== '/login') navigate('/login', true);
    if (session.status === 'authenticated' && (path === '/signup' || path === '/login')) navigate('/', true);
  }, [session.status, path]);

  if (bootError) {
    return (
      <main class="auth-page">
        <Alert tone="bad" title="Cannot reach Junction">
          {errorText(bootError)}{' '}
          <Button size="sm" onClick={() => location.reload()}>
            Retry
          </Button>
        </Alert>
      </main>
    );
  }
  if (session.status === 'loading') return <main class="auth-page"><Spinner /></main>;
  if (session.status === 'anonymous') {
    return (
      <>
        {path === '/signup' ? <SignUp /> : <LogIn />}
        <Toasts />
      </>
    );
  }
  return (
    <div class="layout">
      <a href="#main" class="skip">
        Skip to content
      </a>
      <header class="topbar">
        <button type="button" class="menu-btn" aria-expanded={menu} aria-controls="sidebar" onClick={() => setMenu(!menu)}>
          <span aria-hidden="true">☰</span> Menu
        </button>
        <span class="brand">
          <span class="logo" aria-hidden="true" /> Junction
        </span>
      </header>
      <div id="sidebar">
        <Sidebar path={path} open={menu} onNavigate={() => setMenu(false)} />
      </div>
      <main id="main" class="main" tabIndex={-1}>
        <Page path={path} />
      </main>
      <Toasts />
    </div>
  );
}
