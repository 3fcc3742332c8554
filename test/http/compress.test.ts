/**
 * JSON answers of 1 KiB or more go out gzipped to clients that accept it, and decode to exactly what
 * a client without gzip gets; small answers and clients that refuse gzip get plain JSON. Checked on
 * the raw bytes (node:http, no transparent decompression) of a real in-process agent.
 */
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { acceptsGzip } from '../../agent/http/compress.js';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';

function get(url: string, encoding?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: encoding === undefined ? {} : { 'accept-encoding': encoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('Accept-Encoding parsing', async (t) => {
  t.ok(acceptsGzip('gzip, deflate, br'));
  t.ok(acceptsGzip('br;q=1.0, gzip;q=0.8'));
  t.ok(acceptsGzip('*'));
  t.notOk(acceptsGzip('gzip;q=0'), 'q=0 refuses');
  t.notOk(acceptsGzip('identity'));
  t.notOk(acceptsGzip(undefined));
});

t.test('large JSON answers are gzipped for clients that accept it, byte-identical once decoded', async (t) => {
  const a = await startInProcess(t, { drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 50 }] });
  const url = `${a.httpUrl}/api/v1/status`;
  await waitFor('pmu1 in the status', async () => ((await (await fetch(url)).json()) as { devices: { device: string }[] }).devices.some((d) => d.device === 'pmu1'), { timeoutMs: 20_000 });

  const counters = `${a.httpUrl}/api/v1/counters`;
  const plain = await get(counters);
  t.equal(plain.status, 200);
  t.equal(plain.headers['content-encoding'], undefined, 'no gzip without Accept-Encoding');
  t.ok(plain.body.length >= 1024, `the counters document is large enough to compress (${plain.body.length} B)`);
  t.match(String(plain.headers['vary']), /Accept-Encoding/i, 'Vary names Accept-Encoding');

  const zipped = await get(counters, 'gzip, deflate');
  t.equal(zipped.headers['content-encoding'], 'gzip', 'gzipped for a client that accepts it');
  t.ok(zipped.body.length < plain.body.length / 2, `at least halved: ${plain.body.length} B -> ${zipped.body.length} B`);
  const decoded = JSON.parse(gunzipSync(zipped.body).toString('utf8')) as { counters?: unknown };
  t.same(Object.keys(decoded).sort(), Object.keys(JSON.parse(plain.body.toString('utf8')) as object).sort(), 'decodes to the same document');

  const refused = await get(counters, 'gzip;q=0, identity');
  t.equal(refused.headers['content-encoding'], undefined, 'q=0: plain');

  const small = await get(`${a.httpUrl}/api/v1/devices/nope`, 'gzip');
  t.equal(small.status, 404);
  t.equal(small.headers['content-encoding'], undefined, 'a small problem document stays plain');
  t.match(JSON.parse(small.body.toString('utf8')), { status: 404 });
});
