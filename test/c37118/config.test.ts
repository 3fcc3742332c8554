/**
 * C37.118 config through the real loader: the sample config loads; host, port and idcode are
 * required of the main stream as of every `streams` entry; a stream (host, port, idcode) given
 * twice is refused, naming both entries.
 */
import t from 'tap';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/index.js';
import { repoRoot } from '../helpers/agent-process.js';

const errors = (drivers: unknown[]): string[] => {
  const r = loadConfig({ document: { drivers } });
  return r.ok ? [] : r.errors;
};
const main = { type: 'c37118', id: 'p1', host: '10.0.0.7', port: 4712, idcode: 7 };

t.test('the sample config loads', async (t) => {
  const r = loadConfig({ file: join(repoRoot(), 'drivers', 'c37118', 'sample.yaml') });
  t.ok(r.ok, r.ok ? 'drivers/c37118/sample.yaml is valid' : r.errors.join('\n'));
});

t.test('host, port and idcode are required', async (t) => {
  const errs = errors([{ type: 'c37118', id: 'p1' }]);
  t.same(
    errs.map((e) => e.replace(/ \(.*$/, '')),
    ['drivers[0].host: is required', 'drivers[0].port: is required', 'drivers[0].idcode: is required'],
    errs.join(' | '),
  );
  t.same(errors([main]), [], 'with the three given the entry loads');
  const r = loadConfig({ document: { drivers: [main] } });
  if (r.ok) t.match((r.config as unknown as { drivers: Record<string, unknown>[] }).drivers[0], { host: '10.0.0.7', port: 4712, idcode: 7, transport: 'tcp' });
  // The same for the extra streams (as before).
  t.same(errors([{ ...main, streams: [{ host: '10.0.0.8' }] }]), ['drivers[0].streams[0].port: is required', 'drivers[0].streams[0].idcode: is required']);
});
