/**
 * A password in `--url` (`mqtt://user:pass@host`, `http://user:pass@host`) is never printed back:
 * not when the URL is refused (bad port, wrong scheme), nor when the agent or broker cannot be
 * reached (tail, status, sessions, opcua browse). Each prints the URL with the password as `***`,
 * the user name kept.
 */
import t from 'tap';
import { refusedPort } from '../helpers/ports.js';
import { runCli } from './run-cli.js';

const SECRET = 'UrlSecret-5hq';

t.test('--url with a password: every message quotes it masked', async (t) => {
  const port = await refusedPort();
  const cases: { args: string[]; expected: RegExp }[] = [
    { args: ['tail', '--url', `mqtt://op:${SECRET}@127.0.0.1:99999`, '#'], expected: /--url: the port must be (a number )?between 1 and 65535, got "mqtt:\/\/op:\*\*\*@127\.0\.0\.1:99999"/ },
    { args: ['tail', '--url', `mqtt://op:${SECRET}@127.0.0.1:x`, '#'], expected: /--url: the port must be a number between 1 and 65535, got "mqtt:\/\/op:\*\*\*@127\.0\.0\.1:x"/ },
    { args: ['tail', '--url', `http://op:${SECRET}@127.0.0.1:${port}`, '#'], expected: /--url: must be an mqtt:\/\/.* URL, got "http:\/\/op:\*\*\*@127\.0\.0\.1:\d+"/ },
    { args: ['tail', '--url', `mqtt://op:${SECRET}@127.0.0.1:${port}`, '#'], expected: /cannot connect to mqtt:\/\/op:\*\*\*@127\.0\.0\.1:\d+: connection refused/ },
    { args: ['status', '--url', `http://op:${SECRET}@127.0.0.1:${port}`], expected: /cannot read the status at http:\/\/op:\*\*\*@127\.0\.0\.1:\d+\/api\/v1\/status: connection refused/ },
    { args: ['status', '--url', `mqtt://op:${SECRET}@127.0.0.1:${port}`], expected: /--url: must be an http:\/\/ or https:\/\/ URL, got "mqtt:\/\/op:\*\*\*@/ },
    { args: ['sessions', '--url', `http://op:${SECRET}@127.0.0.1:${port}`], expected: /cannot reach the agent at http:\/\/op:\*\*\*@127\.0\.0\.1:\d+\/api\/v1\/broker\/sessions: connection refused/ },
    { args: ['opcua', 'browse', `opc.tcp://op:${SECRET}@127.0.0.1:${port}`], expected: /URL: must be "opc\.tcp:\/\/HOST:PORT\[\/path\]", got "opc\.tcp:\/\/op:\*\*\*@127\.0\.0\.1:\d+"/ },
  ];
  for (const [i, { args, expected }] of cases.entries()) {
    const r = await runCli(args);
    const what = `${args[0]} (case ${i})`;
    t.not(r.code, 0, `${what}: fails`);
    t.match(r.stdout + r.stderr, expected, `${what}: says why, the URL masked`);
    t.notOk((r.stdout + r.stderr).includes(SECRET), `${what}: the password is not printed`);
  }
});
