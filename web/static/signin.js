// Sign-in page: POST /v1/session, then go to ?next= (same-origin paths only) or /account.
import {
  busy, checkEmail, clearFieldErrors, describe, fieldError, focusFirstInvalid, loadSession, safeNext,
  say, signIn,
} from './api.js';

const form = document.getElementById('signin-form');
const email = document.getElementById('signin-email');
const password = document.getElementById('signin-password');
const status = document.getElementById('status');
const params = new URLSearchParams(location.search);
// '/', '/signin' and '/signup' are this page or its sibling: going there after signing in would loop.
const wanted = safeNext(params.get('next'));
const next = wanted && !/^\/(signin|signup)?([?#]|$)/.test(wanted) ? wanted : '/account';

// Fixed texts for the reasons other pages send people here; the parameter itself is never shown.
const REASONS = {
  expired: ['Your session has ended. Please sign in again.', 'info'],
  'signed-out': ['You have signed out.', 'success'],
  deleted: ['Your account has been deleted.', 'success'],
};
const reasonKey = params.get('reason');
const reason = reasonKey && Object.hasOwn(REASONS, reasonKey) ? REASONS[reasonKey] : null;
if (reason) say(status, reason[0], reason[1]);
else if (wanted) say(status, 'Please sign in to continue.', 'info');

// Already signed in (and not just signed out)? Go straight on.
if (!reason) {
  loadSession({ redirect: false }).then(({ session }) => {
    if (session) location.replace(next);
  });
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearFieldErrors(form);
  say(status, '');
  const emailError = checkEmail(email.value);
  fieldError(email, emailError);
  fieldError(password, password.value ? '' : 'Enter your password.');
  if (emailError || !password.value) {
    focusFirstInvalid(form);
    return;
  }
  busy(form, true);
  say(status, 'Signing in…');
  const r = await signIn(email.value.trim(), password.value);
  if (r.ok) {
    say(status, 'Signed in. One moment…', 'success');
    location.assign(next);
    return;
  }
  busy(form, false);
  if (r.status === 401 || r.status === 400) {
    say(status, "That email and password don't match an account. Check both and try again.", 'error');
    password.value = '';
    password.focus();
  } else {
    say(status, describe(r, 'sign you in'), 'error');
  }
});
