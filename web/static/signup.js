// Sign-up page: POST /v1/users, then sign in with the same credentials and go to /account.
import {
  busy, checkDisplayName, checkEmail, checkNewPassword, clearFieldErrors, describe, fieldError,
  focusFirstInvalid, loadSession, problemIs, register, say, showServerFieldErrors, signIn,
} from './api.js';

const form = document.getElementById('signup-form');
const email = document.getElementById('signup-email');
const name = document.getElementById('signup-name');
const password = document.getElementById('signup-password');
const confirm = document.getElementById('signup-confirm');
const status = document.getElementById('status');

// Already signed in? The account page is where to go (sign out first to make another account).
loadSession({ redirect: false }).then(({ session }) => {
  if (session) location.replace('/account');
});

function validate() {
  clearFieldErrors(form);
  const errors = [
    [email, checkEmail(email.value)],
    [name, checkDisplayName(name.value)],
    [password, checkNewPassword(password.value)],
    [confirm, confirm.value === password.value ? '' : "The two passwords don't match."],
  ];
  let ok = true;
  for (const [input, message] of errors) {
    fieldError(input, message);
    if (message) ok = false;
  }
  return ok;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  say(status, '');
  if (!validate()) {
    say(status, 'Please correct the fields marked below.', 'error');
    focusFirstInvalid(form);
    return;
  }
  busy(form, true);
  say(status, 'Creating your account…');
  const addr = email.value.trim();
  const r = await register(addr, password.value, name.value);
  if (!r.ok) {
    busy(form, false);
    if (r.status === 409 || problemIs(r, 'email-taken')) {
      fieldError(email, 'An account with this email already exists. Sign in instead, or use another address.');
      say(status, "Couldn't create the account: the email is already registered.", 'error');
    } else if (r.status === 422) {
      const shown = showServerFieldErrors(form, r);
      say(status, shown ? 'Please correct the fields marked below.' : describe(r, 'create the account'), 'error');
    } else {
      say(status, describe(r, 'create the account'), 'error');
    }
    focusFirstInvalid(form);
    return;
  }
  say(status, 'Account created. Signing you in…', 'success');
  const s = await signIn(addr, password.value);
  if (s.ok) {
    location.assign('/account');
    return;
  }
  busy(form, false);
  say(status, `Your account was created, but signing in failed. ${describe(s, 'sign you in')} Then sign in from the sign-in page.`, 'error');
});
