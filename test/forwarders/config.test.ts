/**
 * The forwarder schemas through the real config loader (agent/config/load.ts), as
 * `gridedge config check` runs it: a valid file, and a file where every forwarder has a problem,
 * each reported with its path.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../agent/config/load.js';

function fixture(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'test', 'fixtures', 'forwarders', name);
}

t.test('a config with both forwarder types loads, defaults filled in', async (t) => {
  const r = loadConfig({ file: fixture('good.yaml') });
  if (!r.ok) return t.fail(r.errors.join('\n'));
  const [central, secure, hub, x509] = r.config.forwarders;
  t.same(central!['map'], [{ from: 'bal/processed/#', to: 'legacy/#' }]);
  t.equal(central!['qos'], 1, 'QoS 1 by default');
  t.equal(central!['batchSize'], 100);
  t.same(secure!['topics'], ['bal/processed/+/stats/#']);
  t.equal(secure!['backlogMaxRate'], 2000);
  t.equal(hub!['maxRate'], 5);
  t.equal(hub!['sasTtlS'], 3600);
  t.equal(hub!['apiVersion'], '2021-04-12');
  t.same(x509!['x509'], { cert: 'test/fixtures/forwarders/dev.pem', key: 'test/fixtures/forwarders/dev.key' }, 'paths as given (read from the working folder, the repository here)');
});

t.test('every forwarder problem is reported with its path', async (t) => {
  const r = loadConfig({ file: fixture('bad.yaml') });
  t.equal(r.ok, false);
  const errors = r.ok ? [] : r.errors;
  const has = (re: RegExp): void => {
    t.ok(errors.some((e) => re.test(e)), `${re} in:\n${errors.join('\n')}`);
  };
  has(/^forwarders\[0\]\.url: must use mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/, not http:/);
  has(/^forwarders\[1\]\.qos: must be an integer between 0 and 1/);
  has(/^forwarders\[6\]\.key: must be set when cert is set/);
  has(/^forwarders\[2\]\.map\[0\]\.from: must be an MQTT topic filter/);
  has(/^forwarders\[3\]\.connectionString: .*missing DeviceId/);
  has(/^forwarders\[4\]\.hostName: must be set/);
  has(/^forwarders\[4\]\.x509\.cert: must be set/);
  has(/^forwarders\[5\]\.maxMessageBytes: must be an integer between 1024 and 262144/);
  t.notOk(errors.some((e) => e.includes('Z3JpZA==')), 'the connection string (a secret) is not echoed');
});
