import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { auth } from '../api/endpoints';
import { emailError, passwordError, sentence, tenantNameError } from '../lib/validate';
import { navigate } from '../lib/router';
import { loadSession } from '../state/session';
import { Alert, Button, Field, Link, errorText } from '../ui';

function Shell(props: { title: string; subtitle: string; children: preact.ComponentChildren }) {
  return (
    <main class="auth-page">
      <div class="auth-brand">
        <span class="logo" aria-hidden="true" />
        <span>Junction</span>
      </div>
      <div class="auth-card">
        <h1>{props.title}</h1>
        <p class="page-sub">{props.subtitle}</p>
        {props.children}
      </div>
      <p class="auth-foot">Managed WAMP routing: pub/sub and routed RPC over WebSocket.</p>
    </main>
  );
}

type Errors = Partial<Record<'tenant_name' | 'email' | 'password', string>>;

function serverErrors(e: unknown): { fields: Errors; banner: string | null } {
  if (e instanceof ApiError && e.fieldErrors.length > 0) {
    const f = e.fields();
    const fields: Errors = {};
    for (const k of ['tenant_name', 'email', 'password'] as const) if (f[k]) fields[k] = sentence(f[k]);
    const other = e.fieldErrors.filter((x) => !(x.field in fields));
    if (e.kind === 'conflict' && !fields.email) return { fields, banner: 'An account with this e-mail or organisation already exists. Log in instead?' };
    return { fields, banner: other.length ? other.map((x) => `${x.field}: ${x.message}`).join('; ') : null };
  }
  if (e instanceof ApiError && e.kind === 'conflict') return { fields: {}, banner: 'An account with this e-mail or organisation already exists. Log in instead?' };
  return { fields: {}, banner: errorText(e) };
}

export function SignUp() {
  const [tenant, setTenant] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [server, setServer] = useState<{ fields: Errors; banner: string | null }>({ fields: {}, banner: null });
  const [busy, setBusy] = useState(false);
  const local: Errors = {
    ...(tenantNameError(tenant) ? { tenant_name: tenantNameError(tenant)! } : {}),
    ...(emailError(email) ? { email: emailError(email)! } : {}),
    ...(passwordError(password) ? { password: passwordError(password)! } : {}),
  };
  const shown = (k: keyof Errors) => (touched[k] ? local[k] : undefined) ?? server.fields[k];
  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched({ tenant_name: true, email: true, password: true });
    if (Object.keys(local).length) return;
    setBusy(true);
    setServer({ fields: {}, banner: null });
    try {
      await auth.signup({ tenant_name: tenant.trim(), email: email.trim(), password });
      await loadSession();
      navigate('/', true);
    } catch (err) {
      setServer(serverErrors(err));
      setBusy(false);
    }
  };
  const blur = (k: string) => () => setTouched((t) => ({ ...t, [k]: true }));
  return (
    <Shell title="Create your account" subtitle="Sign up, create a realm, and connect your first app in a few minutes.">
      <form onSubmit={submit} noValidate class="stack">
        {server.banner && <Alert tone="bad">{server.banner}</Alert>}
        <Field label="Organisation" hint="Shown to your team; you can use your own name." error={shown('tenant_name')}>
          {(a) => <input {...a} class="input" name="tenant_name" autoComplete="organization" value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} onBlur={blur('tenant_name')} />}
        </Field>
        <Field label="E-mail" error={shown('email')}>
          {(a) => <input {...a} class="input" type="email" name="email" autoComplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} onBlur={blur('email')} />}
        </Field>
        <Field label="Password" hint="At least 10 characters." error={shown('password')}>
          {(a) => <input {...a} class="input" type="password" name="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} onBlur={blur('password')} />}
        </Field>
        <Button type="submit" variant="primary" busy={busy} class="btn-block">
          Create account
        </Button>
      </form>
      <p class="auth-switch">
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </Shell>
  );
}

export function LogIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [fieldErr, setFieldErr] = useState<{ email?: string; password?: string }>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const fe: { email?: string; password?: string } = {};
    const em = emailError(email);
    if (em) fe.email = em;
    if (!password) fe.password = 'Enter your password.';
    setFieldErr(fe);
    if (fe.email || fe.password) return;
    setBusy(true);
    setError(null);
    try {
      await auth.login({ email: email.trim(), password });
      await loadSession();
      navigate(location.pathname === '/login' ? '/' : location.pathname, true);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong e-mail or password.' : errorText(err));
      setBusy(false);
    }
  };
  return (
    <Shell title="Log in" subtitle="Welcome back to Junction.">
      <form onSubmit={submit} noValidate class="stack">
        {error && <Alert tone="bad">{error}</Alert>}
        <Field label="E-mail" error={fieldErr.email}>
          {(a) => <input {...a} class="input" type="email" name="email" autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Password" error={fieldErr.password}>
          {(a) => <input {...a} class="input" type="password" name="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
        </Field>
        <Button type="submit" variant="primary" busy={busy} class="btn-block">
          Log in
        </Button>
      </form>
      <p class="auth-switch">
        New to Junction? <Link href="/signup">Create an account</Link>
      </p>
    </Shell>
  );
}
