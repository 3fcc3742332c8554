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

t.test('a stream given twice is refused, naming both entries', async (t) => {
  t.same(
    errors([{ ...main, streams: [{ host: '10.0.0.7', port: 4712, idcode: 7 }] }]),
    ['drivers[0].streams[0]: reads the same stream as the main stream (host, port, idcode: 10.0.0.7:4712, IDCODE 7): it would be read twice and published under two names; give each stream once'],
  );
  t.same(
    errors([{ ...main, streams: [{ host: '10.0.0.8', port: 4712, idcode: 7 }, { host: '10.0.0.9', port: 4712, idcode: 7 }, { host: '10.0.0.8', port: 4712, idcode: 7, transport: 'udp', name: 'again' }] }]),
    ['drivers[0].streams[2]: reads the same stream as streams[0] (host, port, idcode: 10.0.0.8:4712, IDCODE 7): it would be read twice and published under two names; give each stream once'],
    'between extra streams too, whatever the transport',
  );
  t.same(errors([{ ...main, host: 'PMU.example', streams: [{ host: 'pmu.example', port: 4712, idcode: 7 }] }]).length, 1, 'host names compare without case');
  t.same(errors([{ ...main, streams: [{ host: '10.0.0.7', port: 4712, idcode: 8 }, { host: '10.0.0.7', port: 4713, idcode: 7 }] }]), [], 'another IDCODE or port is another stream');
  // A stream whose own keys are bad is not compared (its own problem is shown).
  t.same(errors([{ ...main, streams: [{ host: '10.0.0.7', port: 4712, idcode: 70000 }] }]), ['drivers[0].streams[0].idcode: must be an integer between 0 and 65535, got 70000']);
});
