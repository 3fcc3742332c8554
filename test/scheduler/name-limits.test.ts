/**
 * Names that end up in topics, logs, messages and the page are bounded, against the real agent
 * process: a battery id of 10 000 characters, or with a control character, is a 400 naming the path
 * (on /api/v1, on pymfm's paths and in a battery edit); a near-real-time job's `live_inputs` device
 * must be a device name by the agent's rule (agent/pipeline/device-name.ts: at most 128 bytes of UTF-8,
 * one topic level, no control characters or invalid text), also a 400 naming the path. The answer
 * shows a long value shortened, not whole. 128 characters and 128 bytes are still taken.
 */
import t from 'tap';
import { startAgent } from '../helpers/agent-process.js';

const battery = { id: 'b1', bat_type: 'cbes', initial_SoC: 0.5, min_SoC: 0.1, max_SoC: 0.9, P_ch_max_kW: 10, P_dis_max_kW: 10, bat_capacity_kWh: 20 };
const t0 = Date.UTC(2026, 0, 1);
function job(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'j',
    control_logic: 'rule_based',
    operation_mode: 'scheduling',
    generation_and_load: { values: Array.from({ length: 4 }, (_, i) => ({ timestamp: new Date(t0 + 900_000 * i).toISOString(), P_available_kW: 1, P_required_kW: 2 })) },
    battery_specs: [battery],
    ...over,
  };
}

t.test('battery ids and live_inputs device names are bounded', async (t) => {
  const agent = await startAgent({ config: { stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${agent.httpUrl}${path}`, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, text, detail: (text ? (JSON.parse(text) as { detail?: string }).detail : undefined) ?? '' };
  };

  const long = '電'.repeat(10_000);
  const r1 = await call('POST', '/api/v1/optimizations', job({ battery_specs: [{ ...battery, id: long }] }));
  t.equal(r1.status, 400, '10 000-character battery id refused');
  t.match(r1.detail, /battery_specs\[0\]\.id: must be at most 128 characters, got 10000/);
  t.ok(r1.text.length < 2000, `the answer does not echo the id whole (${r1.text.length} characters)`);

  const r2 = await call('POST', '/api/v1/optimizations', job({ battery_specs: [battery, { ...battery, id: 'b\n2' }] }));
  t.equal(r2.status, 400, 'control character refused');
  t.match(r2.detail, /battery_specs\[1\]\.id: must have no control characters \(U\+000A at 1\)/);

  const r3 = await call('POST', '/balancing/', job({ id: 'p1', battery_specs: [{ ...battery, id: long }] }));
  t.equal(r3.status, 400, "pymfm's path refuses it too");
  t.match(r3.detail, /battery_specs\[0\]\.id: must be at most 128 characters/);

  const ok = await call('POST', '/api/v1/optimizations', job({ battery_specs: [{ ...battery, id: 'x'.repeat(128) }] }));
  t.equal(ok.status, 202, '128 characters are taken');

  // A battery edit is checked the same way (the job waits: job_start an hour ahead keeps a near-real-time job editable).
  const nrtJob = (live: Record<string, unknown>) =>
    job({
      id: 'nrt',
      operation_mode: 'near_real_time',
      repeat_seconds: 60,
      job_start: new Date(Date.now() + 3_600_000).toISOString(),
      generation_and_load: { values: Array.from({ length: 8 }, (_, i) => ({ timestamp: new Date(Math.floor(Date.now() / 900_000) * 900_000 + 900_000 * i).toISOString(), P_available_kW: 1, P_required_kW: 2 })) },
      live_inputs: live,
    });
  const created = await call('POST', '/api/v1/optimizations', nrtJob({ net_power: { device: 'pcc' } }));
  t.equal(created.status, 202, created.text);
  const id = (JSON.parse(created.text) as { id: string }).id;
  const put = await call('PUT', `/api/v1/optimizations/${id}/batteries/${encodeURIComponent('b\u0007')}`, { ...battery, id: undefined });
  t.equal(put.status, 400, 'a battery edit with a control character in the id');
  t.match(put.detail, /\.id: must have no control characters \(U\+0007/);
  // An unknown battery named by a long or odd id is a 404 that shows it shortened and escaped.
  // (/api/v1's path takes at most 128 characters; pymfm's query parameter has no bound.)
  const gone = await call('DELETE', `/balancing/${id}/battery_specs?battery_id=${encodeURIComponent('q'.repeat(5000) + '\u001b')}`);
  t.equal(gone.status, 404);
  t.match(gone.detail, /^the job has no battery "q{40}"… \(5001 characters\)$/);
  const odd = await call('DELETE', `/api/v1/optimizations/${id}/batteries/${encodeURIComponent('b\u001b[2J')}`);
  t.equal(odd.status, 404);
  t.equal(odd.detail, 'the job has no battery "b\\u001b[2J"', 'a control character is escaped');
  await call('DELETE', `/api/v1/optimizations/${id}`);

  // live_inputs device names: the agent's device-name rule.
  const d1 = await call('POST', '/api/v1/optimizations', nrtJob({ net_power: { device: 'p'.repeat(10_000) } }));
  t.equal(d1.status, 400, 'a 10 000-character device name');
  t.match(d1.detail, /live_inputs\.net_power\.device: must be a device name: device name is longer than 128 bytes/);
  t.ok(d1.text.length < 2000, `the answer does not echo the name whole (${d1.text.length} characters)`);
  const d2 = await call('POST', '/api/v1/optimizations', nrtJob({ net_power: { device: 'pcc' }, battery_soc: { b1: { device: 'é'.repeat(65) } } }));
  t.equal(d2.status, 400, '130 bytes of UTF-8 (65 characters)');
  t.match(d2.detail, /live_inputs\.battery_soc\.b1\.device: must be a device name: device name is longer than 128 bytes of UTF-8/);
  const d3 = await call('POST', '/api/v1/optimizations', nrtJob({ net_power: { device: 'pcc\u0085' } }));
  t.equal(d3.status, 400, 'a C1 control character');
  t.match(d3.detail, /live_inputs\.net_power\.device: must be a device name: device name contains control character U\+0085/);
  const d4 = await call('POST', '/api/v1/optimizations', nrtJob({ net_power: { device: 'pcc' }, battery_soc: { ['z'.repeat(5000)]: { device: 'bess' } } }));
  t.equal(d4.status, 400, 'an unknown long battery key');
  t.ok(d4.text.length < 2000, `the answer does not echo the key whole (${d4.text.length} characters)`);
  const d5 = await call('POST', '/api/v1/optimizations', nrtJob({ net_power: { device: 'é'.repeat(64) } }));
  t.equal(d5.status, 202, '128 bytes are taken');
});
