// The dashboard's small design system: CSS variables in styles.css, these components on top.

import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { Store, useStore } from '../lib/store';
import { linkClick } from '../lib/router';

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost';

export function Button(
  props: JSX.HTMLAttributes<HTMLButtonElement> & {
    variant?: Variant;
    size?: 'sm' | 'md';
    busy?: boolean;
    type?: 'button' | 'submit';
    disabled?: boolean;
  },
) {
  const { variant = 'secondary', size = 'md', busy = false, type = 'button', class: cls, children, disabled, ...rest } = props;
  return (
    <button
      type={type}
      class={`btn btn-${variant} btn-${size} ${cls ?? ''}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...rest}
    >
      {busy && <span class="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function Link(props: JSX.HTMLAttributes<HTMLAnchorElement> & { href: string }) {
  return <a {...props} onClick={linkClick} />;
}

interface FieldProps {
  label: ComponentChildren;
  hint?: ComponentChildren;
  error?: string | null | undefined;
  /** Shown in green when there is no error. */
  ok?: string | null | undefined;
  children: (p: { id: string; 'aria-invalid'?: boolean; 'aria-describedby'?: string }) => ComponentChildren;
  class?: string;
}

/** A label, a control, and its hint or error, wired together for assistive technology. */
export function Field({ label, hint, error, ok, children, class: cls }: FieldProps) {
  const id = useId();
  const msgId = `${id}-msg`;
  const hasMsg = Boolean(error || ok || hint);
  return (
    <div class={`field ${error ? 'field-invalid' : ''} ${cls ?? ''}`}>
      <label for={id}>{label}</label>
      {children({ id, ...(error ? { 'aria-invalid': true } : {}), ...(hasMsg ? { 'aria-describedby': msgId } : {}) })}
      {error ? (
        <p class="field-msg field-error" id={msgId} role="alert">
          {error}
        </p>
      ) : ok ? (
        <p class="field-msg field-ok" id={msgId}>
          {ok}
        </p>
      ) : hint ? (
        <p class="field-msg" id={msgId}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function Switch(props: {
  checked: boolean;
  onChange: (v: boolean) => void;
  label: string;
  /** Visually hidden label (in tables). */
  hideLabel?: boolean;
  disabled?: boolean;
}) {
  return (
    <label class={`switch ${props.disabled ? 'switch-disabled' : ''}`}>
      <input
        type="checkbox"
        role="switch"
        checked={props.checked}
        disabled={props.disabled}
        aria-checked={props.checked}
        onChange={(e) => props.onChange(e.currentTarget.checked)}
      />
      <span class="switch-track" aria-hidden="true">
        <span class="switch-thumb" />
      </span>
      <span class={props.hideLabel ? 'sr-only' : 'switch-label'}>{props.label}</span>
    </label>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string; id?: string }) {
  return (
    <section class={`card ${props.class ?? ''}`} id={props.id}>
      {(props.title || props.actions) && (
        <header class="card-head">
          {props.title && <h2 class="card-title">{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </header>
      )}
      <div class="card-body">{props.children}</div>
    </section>
  );
}

export function PageHeader(props: { title: ComponentChildren; subtitle?: ComponentChildren; actions?: ComponentChildren; crumbs?: ComponentChildren }) {
  return (
    <header class="page-head">
      <div>
        {props.crumbs && <div class="crumbs">{props.crumbs}</div>}
        <h1>{props.title}</h1>
        {props.subtitle && <p class="page-sub">{props.subtitle}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </header>
  );
}

export function Badge(props: { tone?: 'neutral' | 'good' | 'bad' | 'warn' | 'info'; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${props.tone ?? 'neutral'}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function Alert(props: { tone?: 'info' | 'bad' | 'warn' | 'good'; title?: ComponentChildren; children?: ComponentChildren }) {
  const tone = props.tone ?? 'info';
  return (
    <div class={`alert alert-${tone}`} role={tone === 'bad' ? 'alert' : 'status'}>
      {props.title && <strong class="alert-title">{props.title}</strong>}
      {props.children && <div>{props.children}</div>}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children && <div class="empty-body">{props.children}</div>}
    </div>
  );
}

export function Spinner(props: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> {props.label ?? 'Loading…'}
    </div>
  );
}

/** A table that scrolls sideways on narrow screens. */
export function Table(props: { label: string; children: ComponentChildren; class?: string }) {
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      <table class={`table ${props.class ?? ''}`}>{props.children}</table>
    </div>
  );
}

export function Tabs<T extends string>(props: { tabs: { id: T; label: string }[]; value: T; onChange: (v: T) => void; label: string }) {
  return (
    <div class="tabs" role="tablist" aria-label={props.label}>
      {props.tabs.map((t) => (
        <button
          type="button"
          role="tab"
          class={`tab ${t.id === props.value ? 'tab-active' : ''}`}
          aria-selected={t.id === props.value}
          onClick={() => props.onChange(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

async function writeClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (permissions, insecure context): select-and-copy fallback.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

export function CopyButton(props: { text: string; label?: string; size?: 'sm' | 'md'; variant?: Variant }) {
  const [copied, setCopied] = useState<null | boolean>(null);
  useEffect(() => {
    if (copied === null) return;
    const t = setTimeout(() => setCopied(null), 1800);
    return () => clearTimeout(t);
  }, [copied]);
  const label = props.label ?? 'Copy';
  return (
    <Button
      size={props.size ?? 'sm'}
      variant={props.variant ?? 'secondary'}
      onClick={async () => setCopied(await writeClipboard(props.text))}
      aria-label={copied ? 'Copied' : label}
    >
      <span aria-live="polite">{copied === true ? 'Copied ✓' : copied === false ? 'Press Ctrl+C' : label}</span>
    </Button>
  );
}

export function CodeBlock(props: { code: string; label: string; lang?: string }) {
  return (
    <div class="code">
      <div class="code-head">
        <span>{props.lang}</span>
        <CopyButton text={props.code} label={`Copy ${props.label}`} />
      </div>
      <pre tabIndex={0} aria-label={props.label}>
        <code>{props.code}</code>
      </pre>
    </div>
  );
}

/** A secret shown exactly once. */
export function SecretBox(props: { secret: string; label: string; lost?: string }) {
  return (
    <div class="secret">
      <div class="secret-row">
        <code class="secret-value" data-testid="secret-value" aria-label={props.label}>
          {props.secret}
        </code>
        <CopyButton text={props.secret} label="Copy secret" variant="primary" />
      </div>
      <p class="secret-note">
        This is the only time it is shown: copy it now and keep it in your app's secret store.{' '}
        {props.lost ?? 'Lost it? Rotate the credential to get a new one.'}
      </p>
    </div>
  );
}

// ---- dialogs ----

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; footer?: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const el = ref.current;
    const first = el?.querySelector<HTMLElement>('input, select, textarea, button:not(.modal-x)');
    (first ?? el)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
      if (e.key === 'Tab' && el) {
        const items = [...el.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input, select, textarea, [tabindex="0"]')];
        if (items.length === 0) return;
        const a = items[0]!;
        const z = items[items.length - 1]!;
        if (e.shiftKey && document.activeElement === a) {
          e.preventDefault();
          z.focus();
        } else if (!e.shiftKey && document.activeElement === z) {
          e.preventDefault();
          a.focus();
        }
      }
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      prev?.focus?.();
    };
  }, []);
  return (
    <div class="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`modal ${props.wide ? 'modal-wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={titleId} ref={ref} tabIndex={-1}>
        <header class="modal-head">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" class="modal-x" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </header>
        <div class="modal-body">{props.children}</div>
        {props.footer && <footer class="modal-foot">{props.footer}</footer>}
      </div>
    </div>
  );
}

export function ConfirmDialog(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  /** When set, the user must type this to confirm (destructive actions). */
  typeToConfirm?: string;
  onConfirm: () => Promise<void> | void;
  onClose: () => void;
}) {
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ok = !props.typeToConfirm || typed === props.typeToConfirm;
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <Modal
      title={props.title}
      onClose={props.onClose}
      footer={
        <>
          <Button onClick={props.onClose}>Cancel</Button>
          <Button variant="danger" disabled={!ok} busy={busy} onClick={run}>
            {props.confirmLabel}
          </Button>
        </>
      }
    >
      <div class="confirm-text">{props.children}</div>
      {props.typeToConfirm && (
        <Field label={<>Type <code>{props.typeToConfirm}</code> to confirm</>}>
          {(a) => <input {...a} class="input" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autoComplete="off" spellcheck={false} />}
        </Field>
      )}
      {error && <Alert tone="bad">{error}</Alert>}
    </Modal>
  );
}

// ---- toasts ----

export interface Toast {
  id: number;
  tone: 'good' | 'bad' | 'info';
  text: string;
}

export const toasts = new Store<Toast[]>([]);
let toastSeq = 0;

export function toast(text: string, tone: Toast['tone'] = 'good'): void {
  const id = ++toastSeq;
  toasts.set((t) => [...t.slice(-2), { id, tone, text }]);
  setTimeout(() => toasts.set((t) => t.filter((x) => x.id !== id)), tone === 'bad' ? 7000 : 3500);
}

export function Toasts() {
  const list = useStore(toasts);
  return (
    <div class="toasts" aria-live="polite" role="status">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.tone}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** A readable message for anything thrown. */
export function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'friendly' in e && typeof (e as { friendly: unknown }).friendly === 'string') {
    return (e as { friendly: string }).friendly;
  }
  if (e instanceof TypeError) return 'Cannot reach the server. Check your connection and try again.';
  if (e instanceof Error) return e.message;
  return String(e);
}
