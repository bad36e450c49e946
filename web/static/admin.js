// Admin console: find a user by email, unlock, revoke their sessions, and browse the audit trail
// (newest first, paged with next_before) with its verification status. Non-admins see a plain
// "not allowed" panel; the API refuses them with 403 anyway.
import {
  api, checkEmail, clearFieldErrors, describe, el, fieldError, formatStamp, formatTime, loadSession, say, valid,
  wireHeader,
} from './api.js';

const $ = (id) => document.getElementById(id);
const status = $('status');
const bad = (r) => (r.ok ? { ...r, ok: false, malformed: true } : r);

function notAllowed() {
  $('console').hidden = true;
  $('not-allowed').hidden = false;
}

// Returns true when the response ended the page's business (sign-in redirect or 403).
function stopped(r) {
  if (r.redirecting) return true;
  if (r.status === 403 && !(r.problem && /csrf$/.test(r.problem.type))) {
    notAllowed();
    return true;
  }
  return false;
}

// ---- find a user ------------------------------------------------------------------------------

let shown = null; // the user on display

function showUser(u) {
  shown = u;
  $('user-heading').textContent = u.display_name || u.email;
  $('user-name').textContent = u.display_name || 'Not set';
  $('user-name').classList.toggle('placeholder', !u.display_name);
  $('user-email').textContent = u.email;
  $('user-id').textContent = u.id;
  $('user-created').textContent = formatTime(u.created_at);
  $('user-last-login').textContent = u.last_login_at ? formatTime(u.last_login_at) : 'Never';
  const badges = [
    u.locked
      ? el('span', { className: 'badge badge-warn', text: 'Locked' })
      : el('span', { className: 'badge badge-ok', text: 'Active' }),
  ];
  if (u.admin) badges.push(el('span', { className: 'badge badge-accent', text: 'Admin' }));
  $('user-badges').replaceChildren(...badges);
  $('user-unlock').disabled = false;
  $('user-revoke').disabled = false;
  $('revoke-confirm').hidden = true;
  $('user-result').hidden = false;
}

async function reloadUser() {
  if (!shown) return;
  const r = await api('GET', `/v1/admin/users/${encodeURIComponent(shown.id)}`);
  if (stopped(r)) return;
  if (r.ok && valid.adminUser(r.data)) showUser(r.data);
  else if (r.status === 404) {
    $('user-result').hidden = true;
    say($('find-status'), 'That user no longer exists.', 'info');
  } else say($('user-status'), describe(bad(r), 'refresh the user'), 'error');
}

function wireFind() {
  const form = $('find-form');
  const email = $('find-email');
  const out = $('find-status');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    say(out, '');
    const problem = checkEmail(email.value);
    fieldError(email, problem);
    if (problem) {
      email.focus();
      return;
    }
    const button = form.querySelector('button');
    button.disabled = true;
    const r = await api('GET', `/v1/admin/users?email=${encodeURIComponent(email.value.trim())}`);
    button.disabled = false;
    if (stopped(r)) return;
    if (r.status === 422) {
      fieldError(email, 'Enter a valid email address.');
      return;
    }
    if (!r.ok || !valid.adminUsers(r.data)) {
      say(out, describe(bad(r), 'look up the user'), 'error');
      return;
    }
    say($('user-status'), '');
    if (r.data.users.length === 0) {
      $('user-result').hidden = true;
      shown = null;
      say(out, 'No account has that email address.', 'info');
      return;
    }
    showUser(r.data.users[0]);
  });

  $('user-unlock').addEventListener('click', async () => {
    if (!shown) return;
    const b = $('user-unlock');
    b.disabled = true;
    const r = await api('POST', `/v1/admin/users/${encodeURIComponent(shown.id)}/unlock`);
    b.disabled = false;
    if (stopped(r)) return;
    if (r.ok) {
      say($('user-status'), 'The account is unlocked: its failed sign-in count has been cleared.', 'success');
      reloadUser();
      loadAudit(null);
    } else say($('user-status'), describe(r, 'unlock the account'), 'error');
  });

  $('user-revoke').addEventListener('click', () => {
    $('revoke-confirm').hidden = false;
    $('revoke-no').focus();
  });
  $('revoke-no').addEventListener('click', () => {
    $('revoke-confirm').hidden = true;
    $('user-revoke').focus();
  });
  $('revoke-yes').addEventListener('click', async () => {
    if (!shown) return;
    const b = $('revoke-yes');
    b.disabled = true;
    const r = await api('POST', `/v1/admin/users/${encodeURIComponent(shown.id)}/revoke-sessions`);
    b.disabled = false;
    if (stopped(r)) return;
    $('revoke-confirm').hidden = true;
    if (r.ok) {
      say($('user-status'), 'Done: every session of this user has been signed out.', 'success');
      loadAudit(null);
    } else say($('user-status'), describe(r, "sign out the user's sessions"), 'error');
  });
}

// ---- audit trail ------------------------------------------------------------------------------

let nextBefore = null;
const PAGE = 50;

function cell(text, className) {
  return el('td', { className, text: text === null || text === undefined || text === '' ? '—' : text });
}

function auditRow(e) {
  const outcome = e.outcome || '';
  const outcomeClass = /^(ok|success|allowed)$/i.test(outcome) ? 'badge badge-ok' : outcome ? 'badge badge-warn' : '';
  const outcomeCell = el('td');
  if (outcome) outcomeCell.append(el('span', { className: outcomeClass, text: outcome }));
  else outcomeCell.textContent = '—';
  return el('tr', {}, [
    cell(String(e.seq), 'seq num'),
    cell(formatStamp(e.ts), 'nowrap tabular'),
    cell(e.action, 'mono'),
    outcomeCell,
    cell(e.actor, 'mono small'),
    cell(e.target, 'mono small'),
    cell(e.client, 'mono small'),
  ]);
}

async function loadAudit(before) {
  const out = $('audit-status');
  const older = $('audit-older');
  older.disabled = true;
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (before !== null) q.set('before', String(before));
  const r = await api('GET', `/v1/admin/audit?${q}`);
  older.disabled = false;
  if (stopped(r)) return;
  if (!r.ok || !valid.auditPage(r.data)) {
    say(out, describe(bad(r), 'load the audit trail'), 'error');
    return;
  }
  say(out, '');
  const d = r.data;
  const verify = $('audit-verify');
  verify.classList.toggle('verify-ok', d.verified);
  verify.classList.toggle('verify-bad', !d.verified);
  verify.textContent = d.verified
    ? 'Verified: the audit chain is intact — no event has been changed or removed.'
    : `Verification failed: the audit chain is broken${d.detail ? ` (${d.detail})` : ''}. Investigate before trusting these events.`;
  const rows = d.events.map(auditRow);
  if (rows.length === 0) {
    rows.push(el('tr', {}, [el('td', { className: 'placeholder', text: 'No events.', attrs: { colspan: '7' } })]));
  }
  $('audit-rows').replaceChildren(...rows);
  nextBefore = d.next_before;
  older.hidden = nextBefore === null;
  $('audit-range').textContent = d.events.length
    ? `Events #${d.events[d.events.length - 1].seq}–#${d.events[0].seq}${before === null ? ' (newest)' : ''}`
    : '';
}

function wireAudit() {
  $('audit-older').addEventListener('click', () => {
    if (nextBefore !== null) loadAudit(nextBefore);
  });
  $('audit-reload').addEventListener('click', () => loadAudit(null));
}

// ---- start ------------------------------------------------------------------------------------

async function main() {
  const { session, result } = await loadSession();
  if (!session) {
    if (!result.redirecting) say(status, describe(result, 'check your session'), 'error');
    return;
  }
  wireHeader(session, status);
  if (!session.admin) {
    notAllowed();
    return;
  }
  $('console').hidden = false;
  wireFind();
  wireAudit();
  loadAudit(null);
}

main();
