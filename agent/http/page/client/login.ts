/**
 * The login page's script (`GET /login`, auth.ts): sends the form as JSON to `POST /api/v1/login`
 * (the session cookie comes back with the answer) and goes to the live page; on a refusal it shows
 * the agent's reason, when the agent cannot be reached it says so. The button is disabled while a
 * login is on its way (a slow link does not send it twice). Served without a session (page/assets.ts
 * `PUBLIC_ASSETS`), so it imports nothing.
 */
export {};

const form = document.getElementById('f') as HTMLFormElement | null;
const user = document.getElementById('u') as HTMLInputElement | null;
const password = document.getElementById('p') as HTMLInputElement | null;
const err = document.getElementById('err');
const button = form?.querySelector('button[type=submit]') as HTMLButtonElement | null;

function say(text: string): void {
  if (err) err.textContent = text;
}

async function login(): Promise<void> {
  let r: Response;
  try {
    r = await fetch('/api/v1/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ username: user?.value ?? '', password: password?.value ?? '' }),
    });
  } catch (e) {
    say(`Cannot reach the agent (${(e as Error).message}). Check the connection and try again.`);
    return;
  }
  if (r.ok) {
    location.href = '/';
    return;
  }
  const body = (await r.json().catch(() => null)) as { detail?: string; title?: string } | null;
  say((body && (body.detail || body.title)) || `The agent refused the login (HTTP ${r.status}).`);
}

form?.addEventListener('submit', (e) => {
  e.preventDefault();
  if (button?.disabled) return;
  say('');
  if (button) {
    button.disabled = true;
    button.textContent = 'Logging in…';
  }
  void login().finally(() => {
    if (button) {
      button.disabled = false;
      button.textContent = 'Log in';
    }
  });
});
