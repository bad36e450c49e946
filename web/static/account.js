// Account page: profile, change password, sessions (revoke), export, delete. Each section loads
// and fails on its own: an error in one never blanks the others.
import {
  api, busy, checkNewPassword, clearFieldErrors, describe, downloadText, el, fieldError,
  focusFirstInvalid, formatTime, loadSession, problemIs, say, showServerFieldErrors, valid, wireHeader,
} from './api.js';

const $ = (id) => document.getElementById(id);
const status = $('status');

// A 2xx whose body fails its shape check is reported as malformed, never shown.
const bad = (r) => (r.ok ? { ...r, ok: false, malformed: true } : r);

// ---- profile ----------------------------------------------------------------------------------

function setFact(id, text, placeholder = false) {
  const dd = $(id);
  dd.textContent = text;
  dd.classList.toggle('placeholder', placeholder);
}

async function loadProfile() {
  const r = await api('GET', '/v1/me');
  if (r.redirecting) return;
  $('profile-facts').setAttribute('aria-busy', 'false');
  if (!r.ok || !valid.me(r.data)) {
    for (const id of ['profile-name', 'profile-email', 'profile-created', 'profile-id']) setFact(id, 'Unavailable', true);
    say($('profile-status'), describe(bad(r), 'load your profile'), 'error');
    return;
  }
  const me = r.data;
  say($('profile-status'), '');
  if (me.display_name) setFact('profile-name', me.display_name);
  else setFact('profile-name', 'Not set', true);
  setFact('profile-email', me.email);
  setFact('profile-created', formatTime(me.created_at));
  setFact('profile-id', me.id);
}

// ---- sessions ---------------------------------------------------------------------------------

const list = $('session-list');
const sessionsStatus = $('sessions-status');

function sessionRow(s) {
  const title = el('p', { className: 'row-title' }, [
    document.createTextNode(s.current ? 'This browser' : 'Signed-in session'),
  ]);
  if (s.current) title.append(' ', el('span', { className: 'badge badge-accent', text: 'Current' }));
  const meta = el('p', { className: 'row-meta' });
  meta.textContent =
    `Signed in ${formatTime(s.created_at)}` +
    (s.last_used_at ? ` · last active ${formatTime(s.last_used_at)}` : '') +
    (s.expires_at ? ` · ends ${formatTime(s.expires_at)}` : '');
  const info = el('div', { className: 'row-main' }, [title, meta]);
  const li = el('li', { className: 'row' }, [info]);
  if (!s.current) {
    const b = el('button', {
      className: 'btn btn-secondary btn-small',
      text: 'Sign out',
      attrs: { type: 'button', 'aria-label': `Sign out the session signed in ${formatTime(s.created_at)}` },
    });
    b.addEventListener('click', () => revoke(s, b));
    li.append(b);
  }
  return li;
}

async function loadSessions() {
  list.setAttribute('aria-busy', 'true');
  const r = await api('GET', '/v1/me/sessions');
  if (r.redirecting) return;
  list.setAttribute('aria-busy', 'false');
  if (!r.ok || !valid.sessions(r.data)) {
    say(sessionsStatus, describe(bad(r), 'load your sessions'), 'error');
    if (!list.querySelector('.row:not(.placeholder)')) list.replaceChildren(el('li', { className: 'row placeholder', text: 'Sessions are unavailable right now.' }));
    return;
  }
  // This browser's session first, then the others as the server ordered them (newest first).
  const ordered = [...r.data.filter((s) => s.current), ...r.data.filter((s) => !s.current)];
  const rows = ordered.length
    ? ordered.map(sessionRow)
    : [el('li', { className: 'row placeholder', text: 'No active sessions.' })];
  list.replaceChildren(...rows);
}

async function revoke(s, button) {
  button.disabled = true;
  const r = await api('DELETE', `/v1/me/sessions/${encodeURIComponent(s.id)}`);
  if (r.redirecting) return;
  if (r.ok) say(sessionsStatus, 'That session has been signed out.', 'success');
  else if (r.status === 404) say(sessionsStatus, 'That session had already ended.', 'info');
  else {
    button.disabled = false;
    say(sessionsStatus, describe(r, 'sign out that session'), 'error');
    return;
  }
  loadSessions();
}

// ---- change password --------------------------------------------------------------------------

function wirePassword() {
  const form = $('password-form');
  const current = $('pw-current');
  const next = $('pw-new');
  const confirm = $('pw-confirm');
  const out = $('password-status');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    say(out, '');
    fieldError(current, current.value ? '' : 'Enter your current password.');
    fieldError(next, checkNewPassword(next.value));
    fieldError(confirm, confirm.value === next.value ? '' : "The two new passwords don't match.");
    if (form.querySelector('[aria-invalid="true"]')) {
      focusFirstInvalid(form);
      return;
    }
    busy(form, true);
    const r = await api('PUT', '/v1/me/password', { current_password: current.value, new_password: next.value });
    busy(form, false);
    if (r.redirecting) return;
    if (r.ok) {
      form.reset();
      say(out, 'Your password has been changed. Other devices have been signed out.', 'success');
      loadSessions();
      return;
    }
    if (r.status === 401) {
      fieldError(current, 'The current password is not correct.');
      say(out, "Couldn't change the password: the current password is not correct.", 'error');
    } else if (r.status === 422) {
      const shown = showServerFieldErrors(form, r);
      say(out, shown ? 'Please correct the fields marked below.' : describe(r, 'change the password'), 'error');
    } else {
      say(out, describe(r, 'change the password'), 'error');
    }
    focusFirstInvalid(form);
  });
}

// ---- export -----------------------------------------------------------------------------------

function wireExport() {
  const button = $('export-button');
  const out = $('export-status');
  button.addEventListener('click', async () => {
    button.disabled = true;
    say(out, 'Preparing your data…');
    const r = await api('GET', '/v1/me/export');
    button.disabled = false;
    if (r.redirecting) return;
    if (!r.ok || !valid.export(r.data)) {
      say(out, describe(bad(r), 'export your data'), 'error');
      return;
    }
    const day = new Date().toISOString().slice(0, 10);
    downloadText(r.text, `gatehouse-export-${day}.json`, 'application/json');
    say(out, 'Your data has been downloaded as a JSON file.', 'success');
  });
}

// ---- delete account ---------------------------------------------------------------------------

function wireDelete() {
  const form = $('delete-form');
  const password = $('delete-password');
  const check = $('delete-confirm');
  const out = $('delete-status');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    say(out, '');
    fieldError(password, password.value ? '' : 'Enter your password to confirm.');
    fieldError(check, check.checked ? '' : 'Tick this box to confirm that you want to delete the account.');
    if (!password.value || !check.checked) {
      focusFirstInvalid(form);
      return;
    }
    busy(form, true);
    say(out, 'Deleting your account…');
    const r = await api('DELETE', '/v1/me', { password: password.value });
    if (r.redirecting) return;
    if (r.ok) {
      location.assign('/signin?reason=deleted');
      return;
    }
    busy(form, false);
    if (r.status === 401 || problemIs(r, 'invalid-credentials')) {
      fieldError(password, 'The password is not correct.');
      say(out, "Couldn't delete the account: the password is not correct. Nothing was changed.", 'error');
      password.value = '';
    } else {
      say(out, `${describe(r, 'delete the account')} Nothing was changed.`, 'error');
    }
    focusFirstInvalid(form);
  });
}

// ---- start ------------------------------------------------------------------------------------

async function main() {
  wirePassword();
  wireExport();
  wireDelete();
  $('sessions-reload').addEventListener('click', () => {
    say(sessionsStatus, '');
    loadSessions();
  });
  const { session, result } = await loadSession();
  if (result && result.redirecting) return;
  if (session) wireHeader(session, status);
  else say(status, describe(result, 'check your session'), 'error');
  await Promise.all([loadProfile(), loadSessions()]);
}

main();
