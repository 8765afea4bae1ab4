// Form checks that mirror the admin API's (services/admin/src/http/session.rs), so users see
// the message before they submit.

export function emailError(email: string): string | null {
  const e = email.trim();
  if (e === '') return 'Enter your e-mail address.';
  const at = e.indexOf('@');
  const ok =
    e.length <= 254 &&
    !/\s/.test(e) &&
    at > 0 &&
    e.indexOf('@', at + 1) === -1 &&
    (() => {
      const domain = e.slice(at + 1);
      return domain.includes('.') && !domain.startsWith('.') && !domain.endsWith('.');
    })();
  return ok ? null : 'That does not look like an e-mail address (name@example.com).';
}

export function passwordError(password: string): string | null {
  const n = [...password].length;
  if (n === 0) return 'Choose a password.';
  if (n < 10) return `Use at least 10 characters (${10 - n} more).`;
  if (n > 1024) return 'Use at most 1024 characters.';
  return null;
}

export function tenantNameError(name: string): string | null {
  if (name.trim() === '') return 'Name your organisation (you can use your own name).';
  if ([...name].length > 100) return 'Use at most 100 characters.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'Remove the control characters.';
  return null;
}

/** Maps API field names to form field names, for server-side messages. */
export function serverFieldMessage(fields: Record<string, string>, name: string): string | undefined {
  const m = fields[name];
  return m ? sentence(m) : undefined;
}

export function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}
