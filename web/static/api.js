// Shared by every built-in page: the API client, response-shape validators, plain-words error
// messages and small DOM helpers. No token is ever stored by this code: the browser holds only
// HttpOnly cookies, and the CSRF token from the session endpoints lives in a module variable.
// Everything the server (or the user) supplies is rendered with textContent, never as HTML.

// ---- session state --------------------------------------------------------------------------

let csrfToken = null;
let refreshing = null; // single-flight POST /v1/session/refresh

// ---- shape validators -----------------------------------------------------------------------

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v) => typeof v === 'string';
const isStrOrNull = (v) => v === null || typeof v === 'string';
const isBool = (v) => typeof v === 'boolean';
const isInt = (v) => Number.isSafeInteger(v);
const isIntOrNull = (v) => v === null || Number.isSafeInteger(v);
const isNonEmptyStr = (v) => typeof v === 'string' && v.length > 0;

// A spec maps a field name to a predicate; optional fields are listed with '?' suffix.
function matches(obj, spec) {
  if (!isObj(obj)) return false;
  for (const [key, pred] of Object.entries(spec)) {
    const optional = key.endsWith('?');
    const name = optional ? key.slice(0, -1) : key;
    if (!(name in obj)) {
      if (optional) continue;
      return false;
    }
    if (!pred(obj[name])) return false;
  }
  return true;
}

export const valid = {
  session: (d) =>
    matches(d, {
      user_id: isNonEmptyStr,
      session_id: isNonEmptyStr,
      expires_in: isInt,
      csrf_token: isNonEmptyStr,
      admin: isBool,
    }),
  me: (d) =>
    matches(d, { id: isNonEmptyStr, email: isNonEmptyStr, 'display_name?': isStrOrNull, created_at: isStrOrNull }),
  sessions: (d) =>
    Array.isArray(d) &&
    d.every((s) =>
      matches(s, {
        id: isNonEmptyStr,
        created_at: isStrOrNull,
        'last_used_at?': isStrOrNull,
        'expires_at?': isStrOrNull,
        current: isBool,
      }),
    ),
  adminUser: (u) =>
    matches(u, {
      id: isNonEmptyStr,
      email: isNonEmptyStr,
      'display_name?': isStrOrNull,
      created_at: isStrOrNull,
      'last_login_at?': isStrOrNull,
      admin: isBool,
      locked: isBool,
    }),
  adminUsers: (d) => matches(d, { users: Array.isArray }) && d.users.every(valid.adminUser),
  auditEvent: (e) =>
    matches(e, {
      seq: isInt,
      ts: isStrOrNull,
      action: isStr,
      'actor?': isStrOrNull,
      'target?': isStrOrNull,
      'outcome?': isStrOrNull,
      'request_id?': isStrOrNull,
      'client?': isStrOrNull,
    }),
  auditPage: (d) =>
    matches(d, { verified: isBool, 'detail?': isStrOrNull, events: Array.isArray, next_before: isIntOrNull }) &&
    d.events.every(valid.auditEvent),
  export: (d) => matches(d, { format: isStr, user: isObj }) && matches(d.user, { email: isNonEmptyStr }),
};

// A problem+json body (RFC 9457); anything else yields null.
function parseProblem(d) {
  if (!matches(d, { 'type?': isStr, 'title?': isStr, 'status?': isInt, 'detail?': isStr, 'request_id?': isStr }))
    return null;
  const errors = [];
  if (Array.isArray(d.errors)) {
    for (const e of d.errors) {
      if (matches(e, { field: isStr, message: isStr })) errors.push({ field: e.field, message: e.message });
    }
  }
  return {
    type: isStr(d.type) ? d.type : '',
    title: isStr(d.title) ? d.title : '',
    detail: isStr(d.detail) ? d.detail : '',
    requestId: isStr(d.request_id) ? d.request_id : '',
    errors,
  };
}

export function problemIs(result, name) {
  return !!(result.problem && (result.problem.type === name || result.problem.type.endsWith(':' + name) ||
    result.problem.type.endsWith('/' + name)));
}

// ---- HTTP -----------------------------------------------------------------------------------

// Seconds from a Retry-After header (delta-seconds or HTTP-date); null when absent or unusable.
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Math.min(parseInt(value, 10), 86400 * 7);
  const when = Date.parse(value);
  if (Number.isNaN(when)) return null;
  return Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

// One fetch, never throws. Result: {ok, status, data, text, problem, retryAfter, network}.
async function rawFetch(method, path, { body, csrf } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    // Session-setting calls take any non-empty value; every other mutation the session's token.
    headers['X-CSRF-Token'] = csrf || csrfToken || '1';
  }
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (_) {
    return { ok: false, status: 0, network: true, data: null, text: '', problem: null, retryAfter: null };
  }
  let text = '';
  try {
    text = await resp.text();
  } catch (_) {
    return { ok: false, status: 0, network: true, data: null, text: '', problem: null, retryAfter: null };
  }
  let data = null;
  const ctype = resp.headers.get('Content-Type') || '';
  if (text && /json/i.test(ctype)) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = undefined; // unparsable: callers' validators refuse it
    }
  }
  return {
    ok: resp.ok,
    status: resp.status,
    network: false,
    data,
    text,
    problem: resp.ok ? null : parseProblem(data),
    retryAfter: retryAfterSeconds(resp.headers.get('Retry-After')),
  };
}

function takeSession(result) {
  if (result.ok && valid.session(result.data)) {
    csrfToken = result.data.csrf_token;
    return result.data;
  }
  return null;
}

// POST /v1/session/refresh once; concurrent callers share the attempt. Resolves to the session
// object, or null when the refresh cookie is gone, used or revoked.
export function refreshSession() {
  if (!refreshing) {
    refreshing = rawFetch('POST', '/v1/session/refresh', { csrf: '1' })
      .then(takeSession)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

export function goToSignIn(reason) {
  const next = location.pathname + location.search;
  const q = new URLSearchParams();
  if (next && next !== '/' && next !== '/signin') q.set('next', next);
  if (reason) q.set('reason', reason);
  const qs = q.toString();
  location.assign('/signin' + (qs ? '?' + qs : ''));
}

// A 401 that answers wrong credentials (e.g. the current password) is not a dead session.
function isCredentialError(result) {
  return problemIs(result, 'invalid-credentials') || problemIs(result, 'invalid-grant');
}

// An authenticated API call. On a 401 that means the session is over it refreshes once and
// retries; if that fails it sends the user to the sign-in page (result.redirecting is set).
export async function api(method, path, body) {
  if (method !== 'GET' && !csrfToken) {
    const { result } = await loadSession();
    if (result) return result;
  }
  let r = await rawFetch(method, path, { body });
  if (r.status === 401 && !isCredentialError(r)) {
    const s = await refreshSession();
    if (s) r = await rawFetch(method, path, { body });
    if (r.status === 401 && !isCredentialError(r)) {
      r.redirecting = true;
      goToSignIn('expired');
    }
  }
  return r;
}

// The current session (GET /v1/session), refreshing once if the access cookie has expired.
// Resolves to {session} or {result} (the failed response); never throws.
export async function loadSession({ redirect = true } = {}) {
  const r = await rawFetch('GET', '/v1/session');
  const s = takeSession(r);
  if (s) return { session: s };
  if (r.status === 401) {
    const rs = await refreshSession();
    if (rs) return { session: rs };
    if (redirect) {
      r.redirecting = true;
      goToSignIn('');
    }
    return { result: r };
  }
  if (r.ok) return { result: { ...r, ok: false, malformed: true } };
  return { result: r };
}

// Sign in: POST /v1/session with the login-CSRF header; the cookies are set by the response.
export async function signIn(email, password) {
  const r = await rawFetch('POST', '/v1/session', { body: { email, password }, csrf: '1' });
  if (r.ok && !takeSession(r)) return { ...r, ok: false, malformed: true };
  return r;
}

export async function register(email, password, displayName) {
  const body = { email, password };
  if (displayName) body.display_name = displayName;
  return rawFetch('POST', '/v1/users', { body, csrf: '1' });
}

export async function signOut() {
  if (!csrfToken) await loadSession({ redirect: false });
  const r = await rawFetch('DELETE', '/v1/session');
  csrfToken = null;
  return r;
}

// ---- plain-words messages -------------------------------------------------------------------

export function waitWords(seconds) {
  if (seconds === null || seconds === undefined) return 'a little while';
  if (seconds <= 1) return 'a second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return minutes === 1 ? 'a minute' : `${minutes} minutes`;
  const hours = Math.ceil(minutes / 60);
  return hours === 1 ? 'an hour' : `${hours} hours`;
}

// What went wrong, for a person. `what` names the action ("load your sessions").
export function describe(result, what) {
  const ref = result.problem && result.problem.requestId ? ` (reference ${result.problem.requestId})` : '';
  if (result.network) return `Couldn't ${what}: the server can't be reached. Check your connection and try again.`;
  if (result.malformed || (result.ok && result.data === undefined))
    return `Couldn't ${what}: the server sent an answer this page doesn't understand. Reload the page and try again.`;
  switch (result.status) {
    case 400:
      return `Couldn't ${what}: the request was not understood. Reload the page and try again.`;
    case 401:
      if (result.redirecting) return 'Your session has ended. Taking you to the sign-in page…';
      return `Couldn't ${what}: the password is not correct.`;
    case 403:
      if (problemIs(result, 'csrf'))
        return `Couldn't ${what}: the request was refused as possibly forged. Reload the page and try again.`;
      return `You are not allowed to ${what}.`;
    case 404:
      return `Couldn't ${what}: it no longer exists.`;
    case 409:
      return `Couldn't ${what}: it conflicts with existing data.`;
    case 413:
      return `Couldn't ${what}: what you entered is too long.`;
    case 422:
      return `Couldn't ${what}: some fields need attention.`;
    case 429:
      return `Too many attempts. Please wait ${waitWords(result.retryAfter)} and try again.`;
    case 503:
      return `The server is busy right now. Please wait ${waitWords(result.retryAfter)} and try again${ref}.`;
    default:
      if (result.status >= 500)
        return `Couldn't ${what}: the server ran into a problem. Try again in a moment${ref}.`;
      return `Couldn't ${what} (error ${result.status})${ref}.`;
  }
}

// ---- DOM helpers ----------------------------------------------------------------------------

// Build an element; text is always set with textContent.
export function el(tag, opts = {}, children = []) {
  const node = document.createElement(tag);
  if (opts.className) node.className = opts.className;
  if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
  if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, v);
  for (const c of children) if (c) node.append(c);
  return node;
}

// Show a message in a live region. kind: 'info' | 'success' | 'error'; empty text hides it.
export function say(region, text, kind = 'info') {
  if (!region) return;
  region.classList.remove('notice--info', 'notice--success', 'notice--error');
  // The region stays in the page (an empty one collapses in CSS) so screen readers announce it.
  region.textContent = text || '';
  if (text) region.classList.add('notice--' + kind);
}

// Field-level errors: each input has a sibling <p class="field-error" id="INPUT-ID-error">.
export function fieldError(input, message) {
  const out = document.getElementById(input.id + '-error');
  if (message) {
    input.setAttribute('aria-invalid', 'true');
    if (out) {
      out.textContent = message;
      out.hidden = false;
    }
  } else {
    input.removeAttribute('aria-invalid');
    if (out) {
      out.textContent = '';
      out.hidden = true;
    }
  }
}

export function clearFieldErrors(form) {
  for (const input of form.querySelectorAll('input, select, textarea')) if (input.id) fieldError(input, '');
}

// Put the server's 422 errors next to the fields they name; returns how many found a field.
export function showServerFieldErrors(form, result, fieldMap = {}) {
  let shown = 0;
  if (!result.problem) return 0;
  for (const e of result.problem.errors) {
    const name = fieldMap[e.field] || e.field;
    const input = form.elements.namedItem(name);
    if (input && input.id) {
      const label = form.querySelector(`label[for="${input.id}"]`);
      const prefix = label ? label.dataset.name || '' : '';
      fieldError(input, prefix ? `${prefix} ${e.message}` : capitalise(e.message));
      shown++;
    }
  }
  return shown;
}

function capitalise(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

export function focusFirstInvalid(form) {
  const bad = form.querySelector('[aria-invalid="true"]');
  if (bad) bad.focus();
}

// Disable a form's controls while a request runs.
export function busy(form, on) {
  for (const c of form.querySelectorAll('button, input, select, textarea')) c.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
}

// Local time as YYYY-MM-DD HH:MM:SS: compact and unambiguous, for logs and tables.
export function formatStamp(iso) {
  if (!isStr(iso) || !iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatTime(iso, withSeconds = false) {
  if (!isStr(iso) || !iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: withSeconds ? 'medium' : 'short' });
}

// ---- client-side validation (mirrors the simple parts of the server's rules) ----------------

export const PASSWORD_MIN = 12; // GATEHOUSE_PASSWORD_MIN_LENGTH default; the server decides
export const PASSWORD_MAX = 128;

export function checkEmail(value) {
  const v = value.trim();
  if (!v) return 'Enter your email address.';
  if (v.length > 254) return 'That email address is too long.';
  const at = v.split('@');
  if (at.length !== 2 || !at[0] || !at[1]) return 'Enter an email address like name@example.com.';
  if (at[0].length > 64 || /\s/.test(v)) return 'Enter an email address like name@example.com.';
  if (!/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(at[1])) return 'The part after @ should look like example.com.';
  return '';
}

export function checkNewPassword(value) {
  const chars = [...value].length;
  if (!value) return 'Choose a password.';
  if (chars < PASSWORD_MIN)
    return `Use at least ${PASSWORD_MIN} characters (you have ${chars}). A few unrelated words work well.`;
  if (chars > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  return '';
}

export function checkDisplayName(value) {
  if (!value) return '';
  if (new TextEncoder().encode(value).length > 200) return 'Use a shorter name (at most 200 bytes).';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return 'The name contains characters that are not allowed.';
  return '';
}

// ?next= only for same-origin relative paths: one leading '/', no '//' or '/\', no scheme.
export function safeNext(raw) {
  if (!isStr(raw) || raw.length === 0 || raw.length > 512) return null;
  if (raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\') return null;
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(raw)) return null;
  let url;
  try {
    url = new URL(raw, location.origin);
  } catch (_) {
    return null;
  }
  if (url.origin !== location.origin) return null;
  if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/static/')) return null;
  return url.pathname + url.search + url.hash;
}

// Shared header behaviour on signed-in pages: the sign-out button and the admin link.
export function wireHeader(session, statusRegion) {
  const adminLink = document.getElementById('nav-admin');
  if (adminLink) adminLink.hidden = !(session && session.admin);
  const out = document.getElementById('sign-out');
  if (out) {
    out.hidden = false;
    out.addEventListener('click', async () => {
      out.disabled = true;
      const r = await signOut();
      if (r.ok || r.status === 401) {
        location.assign('/signin?reason=signed-out');
        return;
      }
      out.disabled = false;
      say(statusRegion, describe(r, 'sign you out'), 'error');
    });
  }
}

// Download text as a file without navigating (a Blob URL, revoked right after).
export function downloadText(text, filename, type) {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const a = el('a', { attrs: { href: url, download: filename } });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
