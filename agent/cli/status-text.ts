/** The human summary of an AgentStatus, for a field technician at a terminal. */
import type { AgentStatus } from '../core/status-types.js';
import { ago, bytes, columns, count, duration, oneLine, printable, unsent } from './format.js';

type CounterValue = number | Record<string, number>;

/** `source=mqtt` → `mqtt`; `a=1,b=2` → `1/2`; '' (the unlabelled series) → `other`. */
function labelText(key: string): string {
  if (key === '') return 'other';
  return key
    .split(',')
    .map((kv) => kv.slice(kv.indexOf('=') + 1))
    .join('/');
}

function total(v: CounterValue | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  return Object.values(v).reduce((a, b) => a + b, 0);
}

/** `rejected 4 (bad_json 3, too_large 1)`. */
export function counterText(name: string, v: CounterValue | undefined): string {
  const t = `${name} ${count(total(v))}`;
  if (v === undefined || typeof v === 'number') return t;
  const parts = Object.entries(v)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${labelText(k)} ${count(n)}`);
  return parts.length ? `${t} (${parts.join(', ')})` : t;
}

/** The counters a technician looks at first; the rest is in `--json`. */
export const MAIN_COUNTERS = ['received', 'processed', 'rejected', 'dropped', 'late'] as const;

export function renderStatus(doc: AgentStatus, now = Date.now()): string {
  // Names, reasons and errors come from devices and peers: no terminal control gets through.
  const s = printable(doc);
  const out: string[] = [];
  out.push(`gridedge ${s.gateway} ${s.version}: ${s.health.toUpperCase()}, up ${duration(s.uptimeSeconds)}`);
  if (s.problems.length) {
    out.push('Problems:');
    for (const p of s.problems) out.push(`  - ${oneLine(p, 160)}`);
  }
  const b = s.broker;
  // An agent older than the session count sends none: the line then leaves it out.
  const sessions =
    typeof b.sessions === 'number'
      ? `, ${count(b.sessions)} persistent session${b.sessions === 1 ? '' : 's'}${typeof b.offlineSessions === 'number' && b.sessions > 0 ? ` (${count(b.offlineSessions)} offline)` : ''}`
      : '';
  out.push(`Broker      ${b.host}:${count(b.port).replace(/,/g, '')}, ${count(b.clients)} client${b.clients === 1 ? '' : 's'}, ${count(b.subscriptions)} subscription${b.subscriptions === 1 ? '' : 's'}${sessions}`);
  if (b.tls)
    out.push(
      `  TLS       ${b.tls.host}:${b.tls.port}${b.tls.clientCertificates ? ', client certificates required' : ''}, certificate valid until ${b.tls.certificateExpires.slice(0, 10)}${b.tls.crlNextUpdate ? `, CRL next update ${b.tls.crlNextUpdate.slice(0, 10)} (${b.tls.revokedCertificates ?? 0} revoked)` : ''}`,
    );

  out.push(s.drivers.length ? 'Drivers' : 'Drivers     none');
  out.push(
    ...columns(
      s.drivers.map((d) => [
        d.id,
        d.type,
        d.state,
        d.lastError ? `last error ${ago(d.lastErrorAt, now)}: ${oneLine(d.lastError)}` : d.devices?.length ? `devices ${d.devices.join(', ')}` : '',
      ]),
    ),
  );

  // Stale and bad-quality devices first (the agent sends them in that order); devices of drivers
  // that never sent a value are only in staleDevices.
  const listed = new Set(s.devices.map((d) => d.device));
  const neverSeen = (s.staleDevices ?? []).filter((h) => !listed.has(h.device));
  out.push(s.devices.length || neverSeen.length ? 'Devices' : 'Devices     none yet');
  out.push(
    ...columns([
      ...neverSeen.map((h) => [h.device, 'STALE', `no value since start (${duration(h.ageMs / 1000)})`, `driver ${h.driver}`]),
      ...s.devices.map((d) => [
        d.device,
        d.stale ? `STALE ${d.latest.quality}` : d.latest.quality,
        d.ageMs !== undefined ? `last value ${duration(d.ageMs / 1000)} ago` : `age ${duration(d.ageSeconds)}`,
        d.latest.reasons?.length ? `(${d.latest.reasons.join(', ')})` : '',
      ]),
    ]),
  );

  const buf = s.buffer;
  if (!buf) out.push('Buffer      not open');
  else {
    const u = unsent(buf);
    const rest = !u ? 'no forwarder, all local history' : u.rows === 0 ? 'all forwarded, kept as local history' : `${count(u.rows)} awaiting forwarding (oldest ${duration(u.ageSeconds)}), the rest local history`;
    out.push(
      `Buffer      ${count(buf.rows)} rows, ${bytes(buf.bytes)}, oldest ${duration(buf.oldestAgeSeconds)}; ${rest}` +
        (buf.writeError ? `, WRITE ERROR: ${oneLine(buf.writeError)}` : ''),
    );
  }

  out.push(s.forwarders.length ? 'Forwarders' : 'Forwarders  none');
  out.push(
    ...columns(
      s.forwarders.map((f) => [
        f.id,
        f.type,
        f.connected ? 'connected' : 'DISCONNECTED',
        `lag ${count(f.lag)} rows (${duration(f.lagSeconds)})`,
        [
          f.dropped ? `${count(f.dropped)} dropped` : '',
          `last success ${ago(f.lastSuccess, now)}`,
          f.lastError ? `last error ${ago(f.lastErrorAt, now)}: ${oneLine(f.lastError)}` : '',
        ]
          .filter(Boolean)
          .join(', '),
      ]),
    ),
  );

  const c = s.counters as Record<string, CounterValue>;
  out.push(`Counters    ${MAIN_COUNTERS.map((n) => counterText(n, c[n])).join(', ')}`);
  return out.join('\n') + '\n';
}
