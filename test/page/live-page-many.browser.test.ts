/**
 * The live page of a real agent with 200 devices (a sim-pmu driver of 200 feeders) and a Modbus
 * meter nobody answers, in Debian's Chromium, for what a technician commissioning it sees first:
 *
 * - the meter, stale without ever sending a value, has its card first, marked "⚠ stale" as soon as
 *   the page has drawn (not only from the next status read, 5 s later).
 */
import t from 'tap';
import type { AgentStatus } from '../../agent/core/status-types.js';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;
const { openPage, ready, waitFor } = livePage(t, WAIT_MS);

t.test('200 devices and a meter that never answered', async (t) => {
  const port = await refusedPort();
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'feeder', rate: 1, count: 200 },
        // Nobody answers: stale after 3 × 500 ms without a value.
        { type: 'modbus', id: 'meter-x', tcp: `127.0.0.1:${port}`, unit: 1, interval: 500, reconnectMinMs: 200, reconnectMaxMs: 500, registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32' }] },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  await waitFor('meter-x stale and never seen, and 200 feeders, in /api/v1/status', async () => {
    const s = await getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);
    return s.staleDevices?.some((h) => h.device === 'meter-x' && !h.seen) && (s.devicesTotal ?? 0) >= 200;
  });
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors, { consoleErrors: true });
  await ready(page);

  t.test('the meter that never sent a value is marked stale from the first status read', async (t) => {
    // Read at once: the page has drawn its cards from its first status read, the next comes 5 s later.
    const r = (await page.evaluate(`(() => {
      const first = document.querySelector('#devices-body article.card');
      const meter = document.querySelector('#devices article[data-device="meter-x"]');
      return { first: first && first.dataset.device, header: meter ? meter.querySelector('header').textContent : '' };
    })()`)) as { first: string; header: string };
    t.equal(r.first, 'meter-x', 'its card comes first');
    t.match(r.header, /✖ no data since start/, `it says it has sent nothing (${r.header})`);
    t.match(r.header, /⚠ stale/, 'and that it is stale, as the status says');
  });

  t.test('no exceptions or console errors', async (t) => {
    t.same(errors, []);
  });
});
