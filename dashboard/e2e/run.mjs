#!/usr/bin/env node
// End-to-end journey of the dashboard in a real headless Chromium (Debian's, driven by
// playwright-core) against a running `junction dev`:
//
//   sign up -> create realm -> create role and rules -> issue a ticket credential -> the console
//   joins with it, subscribes, and receives what a second session publishes -> a denied publish
//   shows the error -> kill a session from the sessions page (+ API keys, audit log, settings,
//   import, a phone-sized viewport, log out / log in).
//
// Environment:
//   JUNCTION_BIN        the junction binary (required); started as `dev --data-dir <fresh tmp>`
//                       with JUNCTION_ROUTER_LISTEN / JUNCTION_ADMIN_LISTEN = 127.0.0.1:0; it must
//                       print `junction: admin listening on http://...` and
//                       `junction: router listening on ws://...`.
//   CHROMIUM            browser executable (default /usr/bin/chromium)
//   E2E_ARTIFACTS       where screenshots and logs go (default <repo>/tests/artifacts/e2e)
//
// Prints one line per step and closes with `N passed, N failed, N skipped` (a step is skipped
// when a step it needs failed); exits non-zero when any step fails.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const BIN = process.env.JUNCTION_BIN;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ART = resolve(process.env.E2E_ARTIFACTS ?? join(repo, 'tests/artifacts/e2e'));
const STEP_TIMEOUT = 20_000;

if (!BIN) {
  console.error('e2e: set JUNCTION_BIN to the junction binary');
  process.exit(2);
}

rmSync(ART, { recursive: true, force: true });
mkdirSync(ART, { recursive: true });
const browserLog = join(ART, 'browser.log');
writeFileSync(browserLog, '');

// ---- the server ----

function startJunction() {
  const dataDir = mkdtempSync(join(tmpdir(), 'junction-e2e-'));
  const child = spawn(BIN, ['dev', '--data-dir', dataDir], {
    env: {
      ...process.env,
      JUNCTION_ROUTER_LISTEN: '127.0.0.1:0',
      JUNCTION_ADMIN_LISTEN: '127.0.0.1:0',
      JUNCTION_LOG: process.env.JUNCTION_LOG ?? 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logFile = join(ART, 'junction.log');
  writeFileSync(logFile, '');
  const urls = new Promise((resolveUrls, reject) => {
    let admin = null;
    let router = null;
    let buf = '';
    const timer = setTimeout(() => reject(new Error('junction did not print its admin and router URLs within 60 s (see junction.log)')), 60_000);
    child.stdout.on('data', (d) => {
      appendFileSync(logFile, d);
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const a = line.match(/^junction: admin listening on (http:\/\/\S+)/);
        const r = line.match(/^junction: router listening on (wss?:\/\/\S+)/);
        if (a) admin = a[1].replace(/\/$/, '');
        if (r) router = r[1];
        if (admin && router) {
          clearTimeout(timer);
          resolveUrls({ admin, router });
        }
      }
    });
    child.stderr.on('data', (d) => appendFileSync(logFile, d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`junction exited (${code}) before printing its URLs (see junction.log)`));
    });
  });
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { urls, stop, child };
}

// ---- steps ----

const results = [];
let shot = 0;

async function screenshot(page, name) {
  shot += 1;
  const file = join(ART, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}

async function step(page, id, title, requires, fn) {
  const blocked = requires.find((r) => !results.find((x) => x.id === r && x.status === 'pass'));
  if (blocked) {
    results.push({ id, title, status: 'skip', why: `needs ${blocked}` });
    console.log(`SKIP ${id}: ${title} (needs ${blocked})`);
    return false;
  }
  const t0 = Date.now();
  try {
    await fn();
    await screenshot(page, id);
    results.push({ id, title, status: 'pass', ms: Date.now() - t0 });
    console.log(`PASS ${id}: ${title} (${Date.now() - t0} ms)`);
    return true;
  } catch (e) {
    const file = await screenshot(page, `${id}-FAILED`);
    const why = (e?.message ?? String(e)).split('\n').slice(0, 6).join('\n      ');
    results.push({ id, title, status: 'fail', why });
    console.log(`FAIL ${id}: ${title}\n      ${why}\n      screenshot: ${file}`);
    return false;
  }
}

async function textOf(locator) {
  return (await locator.textContent())?.trim() ?? '';
}

async function main() {
  const server = startJunction();
  let browser;
  try {
    const { admin, router } = await server.urls;
    console.log(`e2e: junction admin ${admin}, router ${router}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, baseURL: admin });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: admin }).catch(() => {});
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('console', (m) => appendFileSync(browserLog, `[${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => appendFileSync(browserLog, `[pageerror] ${e.message}\n`));
    page.on('response', (r) => {
      if (r.status() >= 400) appendFileSync(browserLog, `[http ${r.status()}] ${r.request().method()} ${r.url()}\n`);
    });

    const email = `dev+${Date.now()}@example.com`;
    const password = 'correct horse battery';
    const realmUri = 'com.acme.shop';
    const authid = 'shop-frontend';
    let secret = null;
    let realmPath = null;

    await step(page, 'login-page', 'an anonymous visit lands on the log-in page', [], async () => {
      await page.goto('/');
      // The redirect is an effect after the first render: wait for it rather than race it.
      await page.waitForURL((url) => url.pathname === '/login');
      await page.getByRole('heading', { name: 'Log in' }).waitFor();
    });

    await step(page, 'signup-validation', 'sign-up explains what is wrong before anything is sent', ['login-page'], async () => {
      await page.getByRole('link', { name: 'Create an account' }).click();
      await page.getByRole('heading', { name: 'Create your account' }).waitFor();
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByText('Name your organisation').waitFor();
      await page.getByLabel('E-mail').fill('not-an-email');
      await page.getByLabel('Password').fill('short');
      await page.getByLabel('Organisation').fill('Acme');
      await page.getByText('does not look like an e-mail address').waitFor();
      await page.getByText('Use at least 10 characters').waitFor();
    });

    await step(page, 'signup', 'sign up creates the tenant and logs in', ['signup-validation'], async () => {
      await page.getByLabel('Organisation').fill('Acme Shop');
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('heading', { name: 'Realms', exact: true }).waitFor();
      await page.getByText('No realms yet').waitFor();
    });

    await step(page, 'create-realm', 'create a realm, its URI validated while typing', ['signup'], async () => {
      const input = page.getByLabel('Realm URI');
      await input.fill('com..acme');
      await page.getByText('must not contain two dots in a row').waitFor();
      await screenshot(page, 'create-realm-invalid-uri');
      if (!(await page.getByRole('button', { name: 'Create realm' }).isDisabled())) throw new Error('Create realm should be disabled for an invalid URI');
      await input.fill(realmUri);
      await page.getByText('Looks good.').waitFor();
      await page.getByRole('button', { name: 'Create realm' }).click();
      await page.waitForURL(/\/realms\/[^/]+\/roles$/);
      realmPath = new URL(page.url()).pathname.replace(/\/roles$/, '');
      await page.getByRole('heading', { name: realmUri }).waitFor();
    });

    await step(page, 'roles-and-rules', 'create a role with rules; "test a URI" names the deciding rule', ['create-realm'], async () => {
      await page.getByLabel('New role').fill('app');
      await page.getByRole('button', { name: 'Add role' }).click();
      await page.getByRole('heading', { name: 'Rules of app' }).waitFor();
      const form = page.getByRole('form', { name: 'Add a rule' });
      const addRule = async (uri, match, allow) => {
        await form.getByLabel('URI or pattern').fill(uri);
        await form.getByLabel('Match').selectOption(match);
        for (const a of ['call', 'register', 'publish', 'subscribe']) {
          const sw = form.getByRole('switch', { name: a, exact: true });
          if ((await sw.isChecked()) !== allow.includes(a)) await sw.locator('xpath=..').click();
        }
        await form.getByRole('button', { name: 'Add rule' }).click();
        await page.getByRole('textbox', { name: `URI of rule ${uri}` }).waitFor();
      };
      await addRule('com.acme.', 'prefix', ['call', 'register', 'publish', 'subscribe']);
      await addRule('com.acme.secret', 'exact', ['subscribe']);
      await addRule('wamp.session.', 'prefix', ['call']);
      await page.getByLabel('URI a client would use').fill('com.acme.secret');
      const decision = page.getByTestId('decision');
      await decision.getByText('publish denied').waitFor();
      await decision.getByText('subscribe allowed').waitFor();
      const txt = await textOf(decision);
      if (!txt.includes('com.acme.secret')) throw new Error(`decision should name rule com.acme.secret: ${txt}`);
      await page.getByLabel('URI a client would use').fill('com.acme.orders');
      await decision.getByText('publish allowed').waitFor();
    });

    await step(page, 'import-crossbar', 'import a Crossbar.io roles JSON', ['create-realm'], async () => {
      await page.getByRole('button', { name: 'Import Crossbar.io JSON' }).click();
      const dialog = page.getByRole('dialog', { name: 'Import Crossbar.io roles' });
      await dialog.getByLabel('Crossbar.io JSON').fill(
        JSON.stringify({
          roles: [
            {
              name: 'backend',
              permissions: [
                { uri: 'com.acme.', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true }, disclose: { caller: true, publisher: true }, cache: true },
              ],
            },
          ],
        }),
      );
      await dialog.getByText('backend').first().waitFor();
      await screenshot(page, 'import-crossbar-preview');
      await dialog.getByRole('button', { name: /^Import 1 role/ }).click();
      await page.getByRole('button', { name: 'backend' }).waitFor();
      await page.getByRole('button', { name: 'app' }).click();
      await page.getByRole('heading', { name: 'Rules of app' }).waitFor();
    });

    await step(page, 'issue-ticket', 'issue a ticket credential: secret shown once, copy button, snippets', ['roles-and-rules'], async () => {
      await page.goto(`${realmPath}/credentials`);
      await page.getByRole('heading', { name: 'Issue a credential' }).waitFor();
      await page.getByLabel('authid').fill(authid);
      await page.getByLabel('Role').selectOption('app');
      await page.getByLabel('Label (optional)').fill('web shop front end');
      await page.getByRole('button', { name: 'Issue Ticket credential' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText(`Credential for ${authid} issued`).waitFor();
      secret = await textOf(dialog.getByTestId('secret-value'));
      if (secret.length < 16) throw new Error(`secret too short: ${secret}`);
      await dialog.getByRole('button', { name: 'Copy secret' }).click();
      await dialog.getByText('Copied ✓').waitFor();
      await screenshot(page, 'credential-secret-shown-once');
      const py = await textOf(dialog.locator('pre'));
      if (!py.includes(secret) || !py.includes(realmUri) || !py.includes('"ticket"')) throw new Error('python snippet lacks the ticket, realm or authmethod');
      await dialog.getByRole('tab', { name: 'autobahn-js' }).click();
      const js = await textOf(dialog.locator('pre'));
      if (!js.includes("authmethods: ['ticket']") || !js.includes(secret)) throw new Error('js snippet lacks the ticket');
      await dialog.getByRole('button', { name: 'I have stored it' }).click();
      await page.getByRole('cell', { name: authid }).waitFor();
      const listed = await textOf(page.getByRole('region', { name: 'Credentials' }));
      if (listed.includes(secret)) throw new Error('the credentials list shows the secret');
    });

    await step(page, 'realm-settings', 'realm settings: anonymous on and off', ['create-realm'], async () => {
      await page.goto(realmPath);
      const sw = page.getByRole('switch', { name: 'Allow anonymous sessions' });
      await sw.waitFor();
      await sw.locator('xpath=..').click();
      await page.getByText('anonymous on').waitFor();
      await page.waitForFunction(() => {
        const i = document.querySelector('input[role="switch"]');
        return i && i.checked && !i.disabled;
      });
      await screenshot(page, 'realm-settings-anonymous-on');
      await sw.locator('xpath=..').click();
      await page.getByText('anonymous off').waitFor();
    });

    const join = async () => {
      const form = page.getByRole('form', { name: 'Join the realm' });
      await form.getByLabel('Authentication').selectOption('ticket');
      await form.getByLabel('authid').fill(authid);
      await form.getByLabel('Ticket').fill(secret);
      await form.getByRole('button', { name: `Join ${realmUri}` }).click();
    };

    await step(page, 'console-join', 'the console joins the realm with the ticket credential', ['issue-ticket'], async () => {
      await page.goto(`${realmPath}/console`);
      await page.getByRole('heading', { name: 'Join the realm' }).waitFor();
      await page.waitForFunction(() => document.querySelector('input[name="router-url"]')?.value);
      const url = await page.getByLabel('Router URL').inputValue();
      if (url !== router) throw new Error(`console router URL is ${url}, expected ${router} (GET /v1/config)`);
      await join();
      const a = page.locator('.console-session[data-label="A"]');
      await Promise.race([
        a.getByText('joined', { exact: true }).waitFor(),
        page.locator('.console-side .alert-bad').waitFor().then(async () => {
          throw new Error(await textOf(page.locator('.console-side .alert-bad')));
        }),
      ]);
    });

    await step(page, 'console-subscribe', 'session A subscribes to com.acme.orders', ['console-join'], async () => {
      await page.getByRole('tab', { name: 'Subscribe' }).click();
      await page.getByLabel('Topic').fill('com.acme.orders');
      await page.getByRole('button', { name: 'Subscribe as A' }).click();
      await page.locator('.log-row[data-kind="subscribe"]', { hasText: 'subscribed (subscription' }).waitFor();
    });

    await step(page, 'console-second-session', 'a second session B joins with the same credential', ['console-join'], async () => {
      await join();
      await page.locator('.console-session[data-label="B"]').getByText('joined', { exact: true }).waitFor();
    });

    await step(page, 'console-publish-receive', 'B publishes; A receives the event', ['console-subscribe', 'console-second-session'], async () => {
      await page.locator('.session-pick label', { hasText: 'B' }).click();
      await page.getByRole('tab', { name: 'Publish' }).click();
      await page.getByLabel('Topic').fill('com.acme.orders');
      await page.getByLabel('Arguments (JSON array)').fill('["order-42", 3]');
      await page.getByLabel('Keyword arguments (JSON object)').fill('{"total": 99.5}');
      await page.getByRole('button', { name: 'Publish as B' }).click();
      await page.locator('.log-row[data-kind="event"][data-session="A"]', { hasText: 'order-42' }).waitFor();
    });

    await step(page, 'console-denied-publish', 'a publish the role does not allow shows the error', ['console-second-session'], async () => {
      await page.getByRole('tab', { name: 'Publish' }).click();
      await page.getByLabel('Topic').fill('com.acme.secret');
      await page.getByRole('button', { name: /^Publish as / }).click();
      await page.locator('.console-main .alert-bad', { hasText: 'not_authorized' }).waitFor();
      await page.locator('.log-row.log-error', { hasText: 'publish denied' }).waitFor();
    });

    await step(page, 'console-rpc', 'A registers a procedure, B calls it', ['console-second-session'], async () => {
      await page.locator('.session-pick label', { hasText: 'A' }).click();
      await page.getByRole('tab', { name: 'Register' }).click();
      await page.getByLabel('Procedure').fill('com.acme.add');
      await page.getByLabel('Answer with').selectOption('sum');
      await page.getByRole('button', { name: 'Register as A' }).click();
      await page.locator('.log-row', { hasText: 'registered (registration' }).waitFor();
      await page.locator('.session-pick label', { hasText: 'B' }).click();
      await page.getByRole('tab', { name: 'Call' }).click();
      await page.getByLabel('Procedure').fill('com.acme.add');
      await page.getByLabel('Arguments (JSON array)').fill('[2, 3]');
      await page.getByRole('button', { name: 'Call as B' }).click();
      await page.locator('.log-row[data-kind="result"][data-session="B"]', { hasText: '[5]' }).waitFor();
    });

    await step(page, 'sessions-kill', 'the sessions page lists the console sessions and kills B', ['console-second-session'], async () => {
      await page.getByRole('navigation', { name: 'Realm sections' }).getByRole('link', { name: 'Live sessions' }).click();
      await page.getByRole('heading', { name: 'Live sessions' }).waitFor();
      const none = page.getByText('Listing sessions needs the admin API');
      const table = page.getByRole('region', { name: 'Live sessions' });
      await Promise.race([table.waitFor(), none.waitFor()]);
      if (await none.isVisible()) throw new Error('no session list: GET /v1/realms/{id}/sessions is missing and the meta API is not reachable');
      const rowB = table.locator('tr', { hasText: 'console B' });
      await rowB.waitFor();
      await screenshot(page, 'sessions-list');
      await rowB.getByRole('button', { name: /^Kill session/ }).click();
      await screenshot(page, 'sessions-kill-confirm');
      await page.getByRole('dialog').getByRole('button', { name: 'Kill session' }).click();
      await rowB.waitFor({ state: 'detached' });
      await page.getByRole('navigation', { name: 'Realm sections' }).getByRole('link', { name: 'Console' }).click();
      await page.locator('.console-session[data-label="B"]').getByText('closed', { exact: true }).waitFor();
    });

    await step(page, 'sessions-charts', 'the sessions page shows live charts', ['create-realm'], async () => {
      await page.getByRole('navigation', { name: 'Realm sections' }).getByRole('link', { name: 'Live sessions' }).click();
      await page.locator('figure.chart').first().waitFor();
      await page.waitForTimeout(2500);
    });

    await step(page, 'api-keys', 'create an API key with scopes, then revoke it', ['signup'], async () => {
      await page.getByRole('link', { name: 'API keys' }).click();
      await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
      await page.getByLabel('Name').fill('CI deploy');
      await page.getByRole('checkbox', { name: /realms:write/ }).check();
      await page.getByRole('checkbox', { name: /audit:read/ }).check();
      await page.getByRole('button', { name: 'Create API key' }).click();
      const dialog = page.getByRole('dialog');
      const key = await textOf(dialog.getByTestId('secret-value'));
      if (!key.startsWith('jk_')) throw new Error(`unexpected key ${key}`);
      const res = await page.request.get('/v1/realms', { headers: { Authorization: `Bearer ${key}` } });
      if (res.status() !== 200) throw new Error(`the new key cannot list realms: ${res.status()}`);
      await screenshot(page, 'api-key-created');
      await dialog.getByRole('button', { name: 'I have stored it' }).click();
      await page.getByRole('button', { name: 'Revoke' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
      await page.getByRole('region', { name: 'API keys' }).getByText('revoked').waitFor();
    });

    await step(page, 'audit-log', 'the audit log lists the changes', ['signup'], async () => {
      await page.getByRole('link', { name: 'Audit log' }).click();
      const table = page.getByRole('region', { name: 'Audit log' });
      await table.waitFor();
      const n = await table.locator('tbody tr').count();
      if (n < 5) throw new Error(`expected at least 5 audit entries, saw ${n}`);
      await table.getByRole('button', { name: 'Changes' }).first().click();
      await page.getByRole('heading', { name: 'After' }).waitFor();
    });

    const phone = async () => {
      await page.getByRole('button', { name: /Menu/ }).click();
      await screenshot(page, 'phone-menu');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Realms', exact: true }).click();
      await page.getByRole('heading', { name: 'Realms', exact: true }).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) throw new Error(`the realms page scrolls sideways by ${overflow}px on a phone`);
      await screenshot(page, 'phone-realms');
      await page.goto(`${realmPath}/roles`);
      await page.getByRole('heading', { name: 'Rules of app' }).waitFor();
      const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow2 > 1) throw new Error(`the roles page scrolls sideways by ${overflow2}px on a phone`);
      await screenshot(page, 'phone-roles');
    };

    await step(page, 'phone-viewport', 'pages fit a phone-sized screen', ['create-realm'], async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        await phone();
      } finally {
        await page.setViewportSize({ width: 1360, height: 900 });
      }
    });

    await step(page, 'dark-mode', 'pages follow a dark colour scheme', ['roles-and-rules'], async () => {
      await page.emulateMedia({ colorScheme: 'dark' });
      try {
        await page.goto(`${realmPath}/roles`);
        await page.getByRole('heading', { name: 'Rules of app' }).waitFor();
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        if (bg !== 'rgb(15, 17, 23)') throw new Error(`dark background expected, got ${bg}`);
        await screenshot(page, 'dark-roles');
        await page.goto(`${realmPath}/credentials`);
        await page.getByRole('heading', { name: 'Issue a credential' }).waitFor();
      } finally {
        await page.emulateMedia({ colorScheme: 'light' });
      }
    });

    await step(page, 'logout-login', 'log out, then log in again', ['signup'], async () => {
      await page.goto('/');
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('heading', { name: 'Log in' }).waitFor();
      const me = await page.request.get('/v1/me');
      if (me.status() !== 401) throw new Error(`after log-out /v1/me answers ${me.status()}`);
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Password').fill('wrong password!');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByText('Wrong e-mail or password.').waitFor();
      await screenshot(page, 'login-wrong-password');
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Realms', exact: true }).waitFor();
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'junction_session');
      if (!session?.httpOnly || session.sameSite !== 'Strict') throw new Error('the session cookie must be HttpOnly and SameSite=Strict');
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      if (stored !== '{}{}') throw new Error(`the dashboard stored something in web storage: ${stored}`);
    });
  } catch (e) {
    console.log(`FAIL setup: ${e?.message ?? e}`);
    results.push({ id: 'setup', title: 'start junction and chromium', status: 'fail', why: String(e?.message ?? e) });
  } finally {
    await browser?.close().catch(() => {});
    server.stop();
  }

  const count = (s) => results.filter((r) => r.status === s).length;
  const summary = { passed: count('pass'), failed: count('fail'), skipped: count('skip'), steps: results };
  writeFileSync(join(ART, 'results.json'), JSON.stringify(summary, null, 2));
  console.log(`\ne2e: screenshots and logs in ${ART}`);
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  process.exit(summary.failed > 0 ? 1 : 0);
}

main();
