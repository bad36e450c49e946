// End-to-end tests of gatehouse's built-in pages in a real browser: Playwright (playwright-core)
// driving Debian's chromium against the real binary, which run.sh starts. Every page is watched
// for CSP violations, JavaScript errors, dialogs and requests to any other origin; any of them
// fails the run. Screenshots go to GH_E2E_OUT.
//
// Environment (set by run.sh): GH_E2E_URL (http://127.0.0.1:PORT), GH_E2E_OUT (screenshot dir),
// GH_E2E_ADMIN_EMAIL / GH_E2E_ADMIN_PASSWORD (an account made with `users create-admin`),
// optionally GH_E2E_CHROMIUM (default /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = need('GH_E2E_URL').replace(/\/$/, '');
const OUT = need('GH_E2E_OUT');
const ADMIN_EMAIL = need('GH_E2E_ADMIN_EMAIL');
const ADMIN_PASSWORD = need('GH_E2E_ADMIN_PASSWORD');
const CHROMIUM = process.env.GH_E2E_CHROMIUM || '/usr/bin/chromium';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; " +
  "frame-ancestors 'none'; form-action 'self'";
const XSS_NAME = '<img src=x onerror=alert(1)>';
const SESSION_KEYS = ['admin', 'csrf_token', 'expires_in', 'session_id', 'user_id'];

const run = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
const user = {
  email: `e2e-${run}@example.com`,
  password: 'correct horse battery staple',
  newPassword: 'lantern orbit meadow quartz',
};

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through tests/e2e/run.sh`);
  return v;
}

// ---- what every page is watched for --------------------------------------------------------

const findings = { csp: [], dialogs: [], pageErrors: [], offsite: [] };
let browser;
let userCtx;
let userPage;
let adminCtx;
let adminPage;

function watch(page) {
  page.on('console', (m) => {
    if (/content[- ]security[- ]policy/i.test(m.text())) findings.csp.push(`${page.url()}: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    findings.dialogs.push(`${page.url()}: ${d.type()} ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => findings.pageErrors.push(`${page.url()}: ${e.message}`));
}

async function newContext(options = {}) {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, ...options });
  ctx.setDefaultTimeout(15000);
  // securitypolicyviolation events, reported from every document before its own scripts run.
  await ctx.exposeBinding('__ghReportCsp', ({ page }, detail) => findings.csp.push(`${page.url()}: ${detail}`));
  await ctx.addInitScript(() => {
    document.addEventListener(
      'securitypolicyviolation',
      (e) => window.__ghReportCsp(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`),
      true,
    );
  });
  // No page may load anything from another origin (no third-party scripts, no open redirects).
  await ctx.route(
    (url) => url.origin !== BASE && url.protocol !== 'blob:' && url.protocol !== 'data:',
    (route) => {
      findings.offsite.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  ctx.on('page', watch);
  return ctx;
}

async function open(page, path) {
  const resp = await page.goto(BASE + path);
  assert.ok(resp, `no response for ${path}`);
  assert.equal(resp.status(), 200, `${path}: status`);
  const h = resp.headers();
  assert.equal(h['content-security-policy'], CSP, `${path}: Content-Security-Policy`);
  assert.equal(h['x-content-type-options'], 'nosniff', `${path}: nosniff`);
  return resp;
}

async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

async function text(page, selector) {
  return (await page.locator(selector).textContent()) ?? '';
}

async function waitText(page, selector, re) {
  await page.waitForFunction(
    ([sel, src, flags]) => {
      const n = document.querySelector(sel);
      return !!n && new RegExp(src, flags).test(n.textContent || '');
    },
    [selector, re.source, re.flags],
  );
}

async function waitPath(page, path) {
  await page.waitForURL((u) => u.origin === BASE && u.pathname === path);
}

// Nothing the page's scripts could read holds a token: no JS-visible cookie, no web storage.
async function assertNoTokensInJs(page, ctx) {
  const seen = await page.evaluate(async () => ({
    cookie: document.cookie,
    local: localStorage.length,
    session: sessionStorage.length,
    idb: (await indexedDB.databases()).map((d) => d.name),
  }));
  assert.equal(seen.cookie, '', 'document.cookie must be empty (every cookie HttpOnly)');
  assert.equal(seen.local, 0, 'localStorage must be empty');
  assert.equal(seen.session, 0, 'sessionStorage must be empty');
  assert.deepEqual(seen.idb, [], 'IndexedDB must hold no database');
  const cookies = await ctx.cookies(BASE);
  assert.ok(cookies.some((c) => /gh_session$/.test(c.name)), 'a session cookie is set');
  for (const c of cookies) assert.equal(c.httpOnly, true, `cookie ${c.name} must be HttpOnly`);
}

async function signInThroughPage(page, email, password, path = '/signin') {
  await open(page, path);
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', password);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/v1/session` && r.request().method() === 'POST'),
    page.click('#signin-form button[type=submit]'),
  ]);
  return resp;
}

async function expectAccountLoaded(page, email) {
  await waitPath(page, '/account');
  await waitText(page, '#profile-email', new RegExp(`^${email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
}

// ---- set-up ---------------------------------------------------------------------------------

before(async () => {
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true, // Playwright passes --headless and a fresh temporary --user-data-dir
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  userCtx = await newContext();
  userPage = await userCtx.newPage();
});

after(async () => {
  await browser?.close();
});

// ---- tests ----------------------------------------------------------------------------------

test('web/ sources: no HTML sinks, inline script or style, web storage or third-party URL', () => {
  const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
  const files = [
    ...readdirSync(web).filter((f) => f.endsWith('.html')).map((f) => join(web, f)),
    ...readdirSync(join(web, 'static')).map((f) => join(web, 'static', f)),
  ];
  assert.ok(files.some((f) => f.endsWith('api.js')), 'found the pages');
  const rules = [
    [/\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser/, 'an HTML sink'],
    [/\beval\s*\(|new\s+Function\b|setTimeout\s*\(\s*['"`]/, 'code from strings'],
    [/localStorage|sessionStorage|indexedDB|document\.cookie/, 'script-visible storage'],
    [/\.style\b|setAttribute\(\s*['"]style/, 'a style set from script'],
    [/https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'an absolute URL (third-party resource?)'],
  ];
  const htmlRules = [
    [/<script(?![^>]*\bsrc=)[^>]*>/i, 'an inline <script>'],
    [/<style/i, 'an inline <style>'],
    [/\sstyle\s*=/i, 'a style attribute'],
    [/\son[a-z]+\s*=/i, 'an inline event handler'],
    [/javascript:/i, 'a javascript: URL'],
  ];
  for (const f of files) {
    const src = readFileSync(f, 'utf8');
    const checks = f.endsWith('.html') ? [...rules, ...htmlRules] : f.endsWith('.js') ? rules : [];
    for (const [re, what] of checks) assert.ok(!re.test(src), `${f} contains ${what}: ${src.match(re)?.[0]}`);
  }
});

test('the CSP watcher itself reports a violation (so silence means none happened)', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await open(page, '/signin');
  const before = findings.csp.length;
  await page.evaluate(() => {
    const s = document.createElement('style');
    s.textContent = 'body { color: red }';
    document.head.append(s);
  });
  await page.waitForFunction(() => true);
  for (let i = 0; i < 50 && findings.csp.length === before; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(findings.csp.length > before, 'an inline <style> must be reported as a CSP violation');
  findings.csp.splice(before); // the planted violation is not a finding
  await ctx.close();
});

test('sign-up page: client-side validation, server-side errors, then sign-up signs in', async () => {
  const page = userPage;
  await open(page, '/signup');
  await shot(page, 'signup');

  // Client-side: nothing is sent while fields are wrong.
  let posted = 0;
  const count = (r) => r.url() === `${BASE}/v1/users` && posted++;
  page.on('request', count);
  await page.fill('#signup-email', 'not-an-email');
  await page.fill('#signup-password', 'short');
  await page.fill('#signup-confirm', 'different');
  await page.click('#signup-form button[type=submit]');
  await waitText(page, '#signup-email-error', /email address/i);
  await waitText(page, '#signup-password-error', /at least 12 characters/i);
  await waitText(page, '#signup-confirm-error', /don't match/i);
  assert.equal(await page.getAttribute('#signup-email', 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'signup-email', 'focus moves to the first bad field');
  assert.equal(posted, 0, 'an invalid form is not sent');
  page.off('request', count);

  // Server-side: a long but guessable password is refused by the policy, next to the field.
  await page.fill('#signup-email', user.email);
  await page.fill('#signup-name', XSS_NAME);
  await page.fill('#signup-password', 'aaaaaaaaaaaaaaaa');
  await page.fill('#signup-confirm', 'aaaaaaaaaaaaaaaa');
  await page.click('#signup-form button[type=submit]');
  await waitText(page, '#signup-password-error', /\S/);
  await waitText(page, '#status', /correct the fields/i);

  // A good one: created, signed in, on the account page.
  await page.fill('#signup-password', user.password);
  await page.fill('#signup-confirm', user.password);
  await page.click('#signup-form button[type=submit]');
  await expectAccountLoaded(page, user.email);
});

test('the display name is stored verbatim and rendered as text on the account page', async () => {
  const page = userPage;
  await waitText(page, '#profile-name', /\S/);
  assert.equal(await text(page, '#profile-name'), XSS_NAME);
  assert.equal(await page.locator('main img').count(), 0, 'no <img> was created from the name');
  assert.deepEqual(findings.dialogs, [], 'no dialog fired');
});

test('signing up again with the same email shows the error next to the email field', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await open(page, '/signup');
  await page.fill('#signup-email', user.email);
  await page.fill('#signup-password', 'another fine passphrase');
  await page.fill('#signup-confirm', 'another fine passphrase');
  await page.click('#signup-form button[type=submit]');
  await waitText(page, '#signup-email-error', /already exists/i);
  await ctx.close();
});

test('sign out, then sign in through the sign-in page; no token is readable by scripts', async () => {
  const page = userPage;
  await page.click('#sign-out');
  await waitPath(page, '/signin');
  await waitText(page, '#status', /signed out/i);
  assert.equal((await userCtx.cookies(BASE)).filter((c) => /gh_session$/.test(c.name)).length, 0, 'session cookie cleared');

  await open(page, '/signin');
  await shot(page, 'signin');

  // Wrong password: a plain message, still on the page.
  await signInThroughPage(page, user.email, 'not the password at all');
  await waitText(page, '#status', /don't match an account/i);
  assert.equal(new URL(page.url()).pathname, '/signin');

  const resp = await signInThroughPage(page, user.email, user.password);
  assert.equal(resp.status(), 200);
  await expectAccountLoaded(page, user.email);
  await assertNoTokensInJs(page, userCtx);
});

test('the session endpoints answer exactly the contract keys and never a token', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await open(page, '/signin');
  const bodies = await page.evaluate(async ([email, password]) => {
    const post = await fetch('/v1/session', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': '1' },
      body: JSON.stringify({ email, password }),
    });
    const get = await fetch('/v1/session', { credentials: 'same-origin' });
    return [await post.text(), await get.text()];
  }, [user.email, user.password]);
  for (const b of bodies) {
    assert.deepEqual(Object.keys(JSON.parse(b)).sort(), SESSION_KEYS);
    assert.ok(!/eyJ|refresh_token|access_token|device_token/.test(b), 'no token in the response body');
  }
  await ctx.close();
});

test('account page: profile, sessions, screenshots at desktop and 375 px width', async () => {
  const page = userPage;
  await waitText(page, '#session-list', /This browser/);
  assert.equal(await page.locator('#session-list .badge', { hasText: 'Current' }).count(), 1);
  assert.equal(await page.isHidden('#nav-admin'), true, 'a normal user sees no admin link');
  await page.click('#sessions-reload'); // the previous test signed in elsewhere: list it too
  await page.locator('#session-list .row button').first().waitFor();
  await shot(page, 'account');

  const mobile = await userCtx.newPage();
  await mobile.setViewportSize({ width: 375, height: 812 });
  await open(mobile, '/account');
  await expectAccountLoaded(mobile, user.email);
  await waitText(mobile, '#session-list', /This browser/);
  const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `no horizontal scrolling at 375 px (page is ${width} px wide)`);
  await shot(mobile, 'account-mobile');
  await mobile.close();

  // Revoke another session (the one the previous test opened) from the list.
  const rows = await page.locator('#session-list .row').count();
  assert.ok(rows >= 2, 'the other sessions are listed');
  await page.locator('#session-list .row button').first().click();
  await waitText(page, '#sessions-status', /has been signed out/i);
  await page.waitForFunction((n) => document.querySelectorAll('#session-list .row').length === n - 1, rows);
});

test('change password: client-side checks, wrong current password, then success', async () => {
  const page = userPage;
  await page.fill('#pw-current', user.password);
  await page.fill('#pw-new', user.newPassword);
  await page.fill('#pw-confirm', 'not the same');
  await page.click('#password-form button[type=submit]');
  await waitText(page, '#pw-confirm-error', /don't match/i);

  await page.fill('#pw-current', 'wrong current password');
  await page.fill('#pw-confirm', user.newPassword);
  await page.click('#password-form button[type=submit]');
  await waitText(page, '#pw-current-error', /not correct/i);
  assert.equal(new URL(page.url()).pathname, '/account', 'a wrong current password does not end the session');

  await page.fill('#pw-current', user.password);
  await page.fill('#pw-new', user.newPassword);
  await page.fill('#pw-confirm', user.newPassword);
  await page.click('#password-form button[type=submit]');
  await waitText(page, '#password-status', /password has been changed/i);
  assert.equal(await page.inputValue('#pw-current'), '', 'the form is cleared');
});

test('export downloads a JSON file with the user’s own data', async () => {
  const page = userPage;
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-button')]);
  assert.match(download.suggestedFilename(), /^gatehouse-export-\d{4}-\d\d-\d\d\.json$/);
  const file = await download.path();
  const data = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(data.format, 'gatehouse-export-v1');
  assert.equal(data.user.email, user.email);
  assert.equal(data.user.display_name, XSS_NAME);
  assert.ok(!JSON.stringify(data).includes(user.newPassword), 'the export never holds the password');
  await waitText(page, '#export-status', /downloaded/i);
});

test('sign out; the old password no longer works; the new one does', async () => {
  const page = userPage;
  await page.click('#sign-out');
  await waitPath(page, '/signin');
  await signInThroughPage(page, user.email, user.password);
  await waitText(page, '#status', /don't match an account/i);
  await signInThroughPage(page, user.email, user.newPassword);
  await expectAccountLoaded(page, user.email);
  await assertNoTokensInJs(page, userCtx);
});

test('sign-in honours ?next= only for same-origin paths (no open redirect)', async () => {
  const ctx = userCtx; // signed in: the sign-in page forwards at once
  const page = await ctx.newPage();
  const cases = [
    ['//example.com/x', '/account'],
    ['/\\example.com/x', '/account'],
    ['https://example.com/', '/account'],
    ['javascript:alert(1)', '/account'],
    ['http:/example.com', '/account'],
    ['/admin', '/admin'],
  ];
  for (const [next, expected] of cases) {
    await page.goto(`${BASE}/signin?next=${encodeURIComponent(next)}`);
    await page.waitForURL((u) => u.pathname !== '/signin');
    const u = new URL(page.url());
    assert.equal(u.origin, BASE, `next=${next} left the origin`);
    assert.equal(u.pathname, expected, `next=${next}`);
  }
  await page.goto(`${BASE}/signup`); // signed in: sign-up forwards to the account page
  await waitPath(page, '/account');
  await page.close();
  assert.deepEqual(findings.offsite, [], 'no request left the origin');
});

test('a normal user on /admin sees "not allowed" and the API answers 403', async () => {
  const page = await userCtx.newPage();
  await open(page, '/admin');
  await page.locator('#not-allowed').waitFor({ state: 'visible' });
  assert.equal(await page.isHidden('#console'), true);
  const status = await page.evaluate(async () => (await fetch('/v1/admin/audit', { credentials: 'same-origin' })).status);
  assert.equal(status, 403);
  await shot(page, 'admin-not-allowed');
  await page.close();
});

test('one failing part of the account page does not blank the rest; every error is in plain words', async () => {
  const page = await userCtx.newPage();
  const cases = [
    [(r) => r.fulfill({ status: 500, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'urn:gatehouse:problem:internal-error', title: 'Internal error', status: 500, request_id: 'req-e2e' }) }),
    /server ran into a problem.*req-e2e/],
    [(r) => r.abort('connectionrefused'), /can't be reached/],
    [(r) => r.fulfill({ status: 200, contentType: 'application/json', body: '[{"id": 5}]' }), /doesn't understand/],
    [(r) => r.fulfill({ status: 429, headers: { 'Retry-After': '120' }, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'urn:gatehouse:problem:rate-limited', title: 'Too many requests', status: 429 }) }),
    /wait 2 minutes/],
    [(r) => r.fulfill({ status: 503, headers: { 'Retry-After': '5' }, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'urn:gatehouse:problem:overloaded', title: 'Overloaded', status: 503 }) }),
    /busy.*wait 5 seconds/],
  ];
  for (const [handler, message] of cases) {
    await page.route(`${BASE}/v1/me/sessions`, handler);
    await open(page, '/account');
    await waitText(page, '#sessions-status', message);
    await expectAccountLoaded(page, user.email); // the profile still shows
    assert.equal(await page.isVisible('#password-form'), true);
    await page.unroute(`${BASE}/v1/me/sessions`);
  }
  await page.close();
});

test('sign-in shows 429 with its wait, 403 CSRF and network errors in plain words', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  const cases = [
    [(r) => r.fulfill({ status: 429, headers: { 'Retry-After': '42' }, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'urn:gatehouse:problem:rate-limited', title: 'Too many requests', status: 429 }) }),
    /Too many attempts.*wait 42 seconds/],
    [(r) => r.fulfill({ status: 403, contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'urn:gatehouse:problem:csrf', title: 'Cross-site request refused', status: 403 }) }),
    /refused as possibly forged/],
    [(r) => r.abort('internetdisconnected'), /can't be reached/],
  ];
  for (const [handler, message] of cases) {
    await page.route(`${BASE}/v1/session`, (r) => (r.request().method() === 'POST' ? handler(r) : r.continue()));
    await open(page, '/signin');
    await page.fill('#signin-email', user.email);
    await page.fill('#signin-password', user.newPassword);
    await page.click('#signin-form button[type=submit]');
    await waitText(page, '#status', message);
    assert.equal(await page.isEnabled('#signin-email'), true, 'the form is usable again');
    await page.unroute(`${BASE}/v1/session`);
  }
  await ctx.close();
});

test('sign-in, sign-up and admin pages fit a 375 px wide screen', async () => {
  const ctx = await newContext({ viewport: { width: 375, height: 812 } });
  const page = await ctx.newPage();
  for (const path of ['/signin', '/signup']) {
    await open(page, path);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `${path}: no horizontal scrolling at 375 px (page is ${width} px wide)`);
  }
  await ctx.close();
});

test('the keyboard reaches the sign-in form with a visible focus ring', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await open(page, '/signin');
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement.id)) === 'signin-email') break;
  }
  const focus = await page.evaluate(() => {
    const a = document.activeElement;
    const s = getComputedStyle(a);
    const label = document.querySelector(`label[for="${a.id}"]`);
    return { id: a.id, style: s.outlineStyle, width: parseFloat(s.outlineWidth), label: label?.textContent };
  });
  assert.equal(focus.id, 'signin-email');
  assert.notEqual(focus.style, 'none');
  assert.ok(focus.width >= 2, 'focus outline at least 2 px');
  assert.equal(focus.label, 'Email');
  await page.keyboard.type(user.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(user.newPassword);
  await page.keyboard.press('Enter');
  await expectAccountLoaded(page, user.email);
  await ctx.close();
});

test('admin console: the display name renders as text; unlock and revoke work; audit verifies', async () => {
  adminCtx = await newContext();
  adminPage = await adminCtx.newPage();
  const page = adminPage;
  await signInThroughPage(page, ADMIN_EMAIL, ADMIN_PASSWORD, '/signin?next=%2Fadmin');
  await waitPath(page, '/admin');
  await page.locator('#console').waitFor({ state: 'visible' });
  assert.equal(await page.isVisible('#nav-admin'), true, 'an admin sees the admin link');
  await waitText(page, '#audit-verify', /^Verified/);
  assert.ok((await page.locator('#audit-rows tr').count()) > 0, 'audit events are listed');

  // Client-side check, then the lookup.
  await page.fill('#find-email', 'nope');
  await page.click('#find-form button[type=submit]');
  await waitText(page, '#find-email-error', /email address/i);
  await page.fill('#find-email', `nobody-${run}@example.com`);
  await page.click('#find-form button[type=submit]');
  await waitText(page, '#find-status', /No account/);

  await page.fill('#find-email', user.email);
  await page.click('#find-form button[type=submit]');
  await page.locator('#user-result').waitFor({ state: 'visible' });
  assert.equal(await text(page, '#user-name'), XSS_NAME);
  assert.equal(await text(page, '#user-heading'), XSS_NAME);
  assert.equal(await text(page, '#user-email'), user.email);
  assert.equal(await page.locator('main img').count(), 0, 'no <img> was created from the name');
  assert.deepEqual(findings.dialogs, [], 'no dialog fired');
  await shot(page, 'admin');

  await page.click('#user-unlock');
  await waitText(page, '#user-status', /unlocked/i);
  await page.click('#user-revoke');
  await page.locator('#revoke-confirm').waitFor({ state: 'visible' });
  await page.click('#revoke-yes');
  await waitText(page, '#user-status', /every session/i);

  // Paging with next_before, against the real server with 5 events a page.
  const pager = await adminCtx.newPage();
  await pager.route(/\/v1\/admin\/audit\?/, (r) => r.continue({ url: r.request().url().replace('limit=50', 'limit=5') }));
  await open(pager, '/admin');
  await pager.locator('#audit-older').waitFor({ state: 'visible' });
  const seqs = async () => (await pager.locator('#audit-rows tr td.seq').allTextContents()).map(Number);
  const first = await seqs();
  assert.equal(first.length, 5);
  await pager.click('#audit-older');
  await pager.waitForFunction((min) => Number(document.querySelector('#audit-rows td.seq')?.textContent) < min, Math.min(...first));
  const second = await seqs();
  assert.ok(second.length > 0 && Math.max(...second) < Math.min(...first), 'older events follow on the next page');
  await pager.click('#audit-reload');
  await pager.waitForFunction((max) => Number(document.querySelector('#audit-rows td.seq')?.textContent) >= max, Math.max(...first));

  // A failing audit trail does not blank the user lookup.
  await pager.unroute(/\/v1\/admin\/audit\?/);
  await pager.route(/\/v1\/admin\/audit\?/, (r) => r.abort('connectionrefused'));
  await open(pager, '/admin');
  await waitText(pager, '#audit-status', /can't be reached/);
  await pager.fill('#find-email', user.email);
  await pager.click('#find-form button[type=submit]');
  await waitText(pager, '#user-email', new RegExp(user.email.replace(/[.]/g, '\\.')));
  await pager.setViewportSize({ width: 375, height: 812 });
  const width = await pager.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `/admin: no page-wide horizontal scrolling at 375 px (page is ${width} px wide)`);
  await pager.close();
});

test("after the admin revoked the user's sessions the account page sends them to sign in, then back", async () => {
  const page = userPage;
  await open(page, '/account');
  await waitPath(page, '/signin');
  const u = new URL(page.url());
  assert.equal(u.searchParams.get('next'), '/account');
  await waitText(page, '#status', /sign in to continue/i);
  await page.fill('#signin-email', user.email);
  await page.fill('#signin-password', user.newPassword);
  await page.click('#signin-form button[type=submit]');
  await expectAccountLoaded(page, user.email);
});

test('delete account: asks for the password and a confirmation; afterwards sign-in fails', async () => {
  const page = userPage;
  await page.fill('#delete-password', user.newPassword);
  await page.click('#delete-form button[type=submit]');
  await waitText(page, '#delete-confirm-error', /tick this box/i);

  await page.fill('#delete-password', 'not my password');
  await page.check('#delete-confirm');
  await page.click('#delete-form button[type=submit]');
  await waitText(page, '#delete-password-error', /not correct/i);
  assert.equal(new URL(page.url()).pathname, '/account');

  await page.fill('#delete-password', user.newPassword);
  await page.click('#delete-form button[type=submit]');
  await waitPath(page, '/signin');
  await waitText(page, '#status', /account has been deleted/i);

  await signInThroughPage(page, user.email, user.newPassword);
  await waitText(page, '#status', /don't match an account/i);

  // The admin console no longer finds the user either.
  await adminPage.fill('#find-email', user.email);
  await adminPage.click('#find-form button[type=submit]');
  await waitText(adminPage, '#find-status', /No account/);
});

test('no CSP violation, dialog, script error or off-site request on any page', () => {
  assert.deepEqual(findings.csp, [], 'CSP violations');
  assert.deepEqual(findings.dialogs, [], 'dialogs');
  assert.deepEqual(findings.pageErrors, [], 'uncaught script errors');
  assert.deepEqual(findings.offsite, [], 'requests to other origins');
});
