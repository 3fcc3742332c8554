/**
 * `gridedge buffer`: the store-and-forward buffer of a running agent: rows, bytes, oldest age, and
 * per forwarder its cursor, lag (rows and seconds) and drops. Exit 0, 1 when the buffer is not open
 * or cannot be written, 2 unreachable.
 */
import type { AgentStatus } from '../../core/status-types.js';
import { EXIT, EXIT_DEGRADED, type Command } from '../command.js';
import { bytes, columns, count, duration, jsonText, oneLine, printable, unsent } from '../format.js';
import { agentOptions, readAgentStatus } from './status.js';

export interface BufferView {
  buffer: AgentStatus['buffer'];
  forwarders: {
    id: string;
    type?: string;
    connected?: boolean;
    cursor?: number;
    lag: number;
    lagSeconds: number;
    dropped: number;
    drainRate?: number;
  }[];
}

/** The buffer's own cursors, joined with what the forwarders report (a cursor may have no forwarder). */
export function bufferView(s: AgentStatus): BufferView {
  const cursors = s.buffer?.cursors ?? [];
  const ids = [...new Set([...cursors.map((c) => c.forwarder), ...s.forwarders.map((f) => f.id)])];
  return {
    buffer: s.buffer,
    forwarders: ids.map((id) => {
      const c = cursors.find((x) => x.forwarder === id);
      const f = s.forwarders.find((x) => x.id === id);
      const v: BufferView['forwarders'][number] = {
        id,
        lag: c?.lag ?? f?.lag ?? 0,
        lagSeconds: c?.lagSeconds ?? f?.lagSeconds ?? 0,
        dropped: c?.dropped ?? f?.dropped ?? 0,
      };
      if (f) Object.assign(v, { type: f.type, connected: f.connected, drainRate: f.drainRate });
      if (c) v.cursor = c.cursor;
      return v;
    }),
  };
}

function unsentText(u: { rows: number; ageSeconds: number } | null): string {
  if (!u) return 'no forwarder: every row is local history (storage.historyHours)';
  const rest = 'the other rows were forwarded and stay as local history (storage.historyHours)';
  return u.rows === 0 ? `none; ${rest}` : `${count(u.rows)} rows not yet sent by every forwarder (oldest ${duration(u.ageSeconds)}); ${rest}`;
}

export function renderBuffer(view: BufferView): string {
  const v = printable(view);
  const b = v.buffer;
  if (!b) return 'Buffer      not open (see gridedge status)\n';
  const out = [
    `Buffer      ${b.path}`,
    `Rows        ${count(b.rows)} (seq ${b.firstSeq} .. ${b.lastSeq})`,
    `Size        ${bytes(b.bytes)}`,
    `Oldest      ${duration(b.oldestAgeSeconds)}`,
    `Unsent      ${unsentText(unsent(b))}`,
  ];
  if (b.writeError) out.push(`WRITE ERROR ${oneLine(b.writeError)} (QoS 1 publishes are not acknowledged)`);
  out.push(v.forwarders.length ? 'Forwarders' : 'Forwarders  none');
  out.push(
    ...columns(
      v.forwarders.map((f) => [
        f.id,
        f.connected === undefined ? '(no forwarder)' : f.connected ? 'connected' : 'DISCONNECTED',
        `cursor ${f.cursor ?? '?'}`,
        `lag ${count(f.lag)} rows (${duration(f.lagSeconds)})`,
        `${count(f.dropped)} dropped`,
        f.drainRate !== undefined ? `draining ${count(f.drainRate)}/s` : '',
      ]),
    ),
  );
  return out.join('\n') + '\n';
}

export const bufferCommand: Command = {
  name: 'buffer',
  summary: "Show a running agent's buffer: rows, bytes, oldest age, per-forwarder cursor, lag and drops",
  options: agentOptions,
  positionals: [],
  details: [
    'Reads GET <url>/api/v1/status. Exit codes: 0 ok, 1 the buffer is not open or cannot be written, 2 unreachable or refused (a login needed, see --token).',
    'Examples:',
    '  gridedge buffer',
    '  gridedge buffer --json',
  ].join('\n'),
  async run({ values }, io) {
    const r = await readAgentStatus('buffer', values, io);
    if (!r.ok) return r.exit;
    const view = bufferView(r.status);
    io.out(values['json'] ? jsonText(view) : renderBuffer(view));
    return view.buffer && !view.buffer.writeError ? EXIT.ok : EXIT_DEGRADED;
  },
};
