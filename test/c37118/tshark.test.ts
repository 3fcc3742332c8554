/**
 * Cross-check with an independent decoder: Debian's tshark (Wireshark's synphasor dissector). A live
 * session between the driver and the test PMU server is recorded (every frame the server sent and
 * every command it received), written to a pcap file, decoded by `tshark -T pdml`, and compared field
 * by field with what this codec decodes from the same bytes: header, CHK status, CFG-2 and CFG-3
 * fields, STAT, phasors (magnitude and angle), frequency, ROCOF, analogs and digitals.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_TYPE, decodeFrame, type ConfigFrame, type Frame } from '../../drivers/c37118/codec/index.js';
import { c37118Driver, type C37118Driver } from '../../drivers/c37118/index.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { ctxFor } from '../conformance/suites.js';
import { PmuServer, threePhase, type PmuServerOptions } from './pmu-server.js';
import { pcapOf } from './pcap.js';

interface Field {
  name: string;
  showname: string;
  show: string;
  value: string;
  unmaskedvalue: string;
}

const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The synphasor fields of each packet, in order. */
function tsharkFields(pcap: Buffer): Field[][] {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-tshark-'));
  const file = join(dir, 'c37118.pcap');
  writeFileSync(file, pcap);
  const xml = execFileSync('tshark', ['-r', file, '-d', 'tcp.port==4712,synphasor', '-T', 'pdml'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return xml.split('<packet>').slice(1).map((p) =>
    [...p.matchAll(/<field ([^>]*?)\/?>/g)]
      .map((m) => {
        const a: Record<string, string> = {};
        for (const x of m[1]!.matchAll(/(\w+)="([^"]*)"/g)) a[x[1]!] = unescape(x[2]!);
        return { name: a.name ?? '', showname: a.showname ?? '', show: a.show ?? '', value: a.value ?? '', unmaskedvalue: a.unmaskedvalue ?? '' };
      })
      .filter((f) => f.name.startsWith('synphasor')),
  );
}

const all = (fs: Field[], name: string): Field[] => fs.filter((f) => f.name === name);
const one = (fs: Field[], name: string): Field => {
  const f = fs.find((x) => x.name === name);
  if (!f) throw new Error(`tshark gave no ${name}`);
  return f;
};
const num = (s: string): number => Number(s);
const hexNum = (s: string): number => parseInt(s, 16);

function angleDiff(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

/** Compare one frame as tshark decoded it with this codec's decoding; returns the differences. */
function compare(fs: Field[], f: Frame): string[] {
  const diffs: string[] = [];
  const eq = (what: string, theirs: unknown, ours: unknown): void => {
    if (theirs !== ours) diffs.push(`${f.kind} ${what}: tshark ${JSON.stringify(theirs)}, codec ${JSON.stringify(ours)}`);
  };
  const close = (what: string, theirs: number, ours: number, tol: number): void => {
    if (!(Math.abs(theirs - ours) <= tol)) diffs.push(`${f.kind} ${what}: tshark ${theirs}, codec ${ours}`);
  };
  eq('checksum status', one(fs, 'synphasor.checksum.status').show, '1');
  eq('frame type', num(one(fs, 'synphasor.frtype').value), FRAME_TYPE[f.kind]);
  eq('version', num(one(fs, 'synphasor.version').show), f.version);
  eq('FRAMESIZE', num(one(fs, 'synphasor.frsize').show), f.size);
  eq('IDCODE', num(one(fs, 'synphasor.idcode_stream_source').show), f.idcode);
  eq('SOC', hexNum(one(fs, 'synphasor.soc').value), f.soc);
  eq('FRACSEC', num(one(fs, 'synphasor.fracsec_raw').show), f.fracsec);
  eq('time quality code', hexNum(one(fs, 'synphasor.timeqal.timequalindic').value), f.timeQuality & 0x0f);
  eq('leap second pending', num(one(fs, 'synphasor.timeqal.lspend').value), (f.timeQuality >> 4) & 1);
  if (f.kind === 'command') eq('CMD', hexNum(one(fs, 'synphasor.command').value), f.cmd);
  if (f.kind === 'cfg2' || f.kind === 'cfg3') {
    eq('TIME_BASE', num(one(fs, 'synphasor.conf.timebase').show), f.timeBase);
    eq('NUM_PMU', num(one(fs, 'synphasor.conf.numpmu').show), f.pmus.length);
    eq('DATA_RATE', num(one(fs, 'synphasor.rate_of_transmission').show), f.dataRate);
    eq('PMU IDCODEs', all(fs, 'synphasor.idcode_data_source').map((x) => num(x.show)).join(), f.pmus.map((p) => p.idcode).join());
    eq('PHNMR', all(fs, 'synphasor.num_phasors').map((x) => num(x.show)).join(), f.pmus.map((p) => p.phasors.length).join());
    eq('ANNMR', all(fs, 'synphasor.num_analog_values').map((x) => num(x.show)).join(), f.pmus.map((p) => p.analogs.length).join());
    eq('DGNMR', all(fs, 'synphasor.num_digital_status_words').map((x) => num(x.show)).join(), f.pmus.map((p) => p.digitals.length).join());
    eq('FORMAT polar', all(fs, 'synphasor.conf.phasor_notation').map((x) => x.value).join(), f.pmus.map((p) => (p.format.polar ? '1' : '0')).join());
    eq('FORMAT phasor float', all(fs, 'synphasor.conf.phasor_format').map((x) => x.value).join(), f.pmus.map((p) => (p.format.phasorFloat ? '1' : '0')).join());
    eq('FORMAT analog float', all(fs, 'synphasor.conf.analog_format').map((x) => x.value).join(), f.pmus.map((p) => (p.format.analogFloat ? '1' : '0')).join());
    eq('FORMAT freq float', all(fs, 'synphasor.conf.dfreq_format').map((x) => x.value).join(), f.pmus.map((p) => (p.format.freqFloat ? '1' : '0')).join());
    eq('FNOM', all(fs, 'synphasor.conf.fnom').map((x) => (x.value === '1' ? 50 : 60)).join(), f.pmus.map((p) => p.fnom).join());
    eq('CFGCNT', all(fs, 'synphasor.conf.cfgcnt').map((x) => num(x.show)).join(), f.pmus.map((p) => p.cfgcnt).join());
    const names = f.pmus.flatMap((p) => [...p.phasors.map((c) => c.name), ...p.analogs.map((c) => c.name), ...p.digitals.flatMap((d) => d.names)]);
    const theirNames = f.kind === 'cfg2' ? all(fs, 'synphasor.channel_name') : all(fs, 'synphasor.conf.chnam');
    eq('CHNAM', theirNames.map((x) => x.show.trimEnd()).join('|'), names.join('|'));
    const valid = f.pmus.flatMap((p) => p.digitals.map((d) => d.valid));
    eq('DIGUNIT valid', all(fs, 'synphasor.status_word_mask.valid_bits').map((x) => hexNum(x.show)).join(), valid.join());
    if (f.kind === 'cfg2') {
      const phunit = f.pmus.flatMap((p) => p.phasors.map((c) => ((c.kind === 'current' ? 1 : 0) * 2 ** 24 + (c.unitCount ?? 0)).toString(16).padStart(8, '0')));
      eq('PHUNIT', all(fs, 'synphasor.conversion_factor').map((x) => x.value).join(), phunit.join());
      eq('ANUNIT scale', all(fs, 'synphasor.factor_for_analog_value').map((x) => num(x.show)).join(), f.pmus.flatMap((p) => p.analogs.map((a) => a.scale)).join());
    } else {
      const ph = f.pmus.flatMap((p) => p.phasors);
      all(fs, 'synphasor.conf.phasor_scale_factor').forEach((x, k) => close(`PHSCALE Y ${k}`, num(x.show), ph[k]!.scale, 1e-6));
      eq('PHSCALE type', all(fs, 'synphasor.conf.phasor_type').map((x) => x.value).join(), ph.map((c) => (c.kind === 'current' ? '1' : '0')).join());
      const code: Record<string, number> = { zero: 0, pos: 1, neg: 2, a: 4, b: 5, c: 6 };
      eq('PHSCALE component', all(fs, 'synphasor.conf.phasor_component').map((x) => num(x.value)).join(), ph.map((c) => (c.component ? code[c.component] : 7)).join());
      eq('PMU_LAT', all(fs, 'synphasor.conf.pmu_latitude').map((x) => num(x.show)).join(), f.pmus.map((p) => p.cfg3?.lat).join());
      eq('WINDOW', all(fs, 'synphasor.conf.window').map((x) => num(x.show)).join(), f.pmus.map((p) => p.cfg3?.windowUs).join());
      eq('GRP_DLY', all(fs, 'synphasor.conf.grp_dly').map((x) => num(x.show)).join(), f.pmus.map((p) => p.cfg3?.groupDelayUs).join());
      eq('SVC_CLASS', all(fs, 'synphasor.conf.svc_class').map((x) => String.fromCharCode(hexNum(x.value))).join(), f.pmus.map((p) => p.cfg3?.svcClass).join());
    }
  }
  if (f.kind === 'data') {
    eq('STAT', all(fs, 'synphasor.data.status').map((x) => hexNum(x.unmaskedvalue)).join(), f.pmus.map((p) => p.stat).join());
    const phasors = all(fs, 'synphasor.phasor');
    const ours = f.pmus.flatMap((p) => [...p.mag].map((m, k) => [m, p.ang[k]!] as const));
    eq('phasor count', phasors.length, ours.length);
    phasors.forEach((x, k) => {
      const m = /,\s*(-?[\d.]+)[VA]\s*∠\s*(-?[\d.]+)°/.exec(x.showname);
      if (!m) return diffs.push(`phasor ${k}: cannot read tshark's "${x.showname}"`);
      const [mag, ang] = ours[k]!;
      close(`phasor ${k} magnitude`, num(m[1]!), mag, 0.0006 + mag * 1e-6);
      if (angleDiff(num(m[2]!), ang) > 0.0006) diffs.push(`phasor ${k} angle: tshark ${m[2]}, codec ${ang}`);
    });
    const freqs = fs.filter((x) => x.name === 'synphasor.frequency_deviation_from_nominal' || x.name === 'synphasor.actual_frequency_value');
    freqs.forEach((x, k) => {
      const p = f.pmus[k]!;
      const theirs = x.name === 'synphasor.actual_frequency_value' ? num(x.show) : Number(/actual frequency: (-?[\d.]+)Hz/.exec(x.showname)?.[1]);
      close(`block ${k} FREQ`, theirs, p.freq, 1e-3);
    });
    all(fs, 'synphasor.rate_change_frequency').forEach((x, k) => close(`block ${k} DFREQ`, num(x.show), f.pmus[k]!.rocof, 1e-3));
    const analogs = f.pmus.flatMap((p) => [...p.analogs]);
    all(fs, 'synphasor.analog_value').forEach((x, k) => close(`analog ${k}`, Number(/, (-?[\d.]+)/.exec(x.showname)?.[1]), analogs[k]!, 1e-3));
    eq('digital words', all(fs, 'synphasor.digital_status_word').map((x) => hexNum(x.show)).join(), f.pmus.flatMap((p) => [...p.digitals]).join());
  }
  return diffs;
}

/** A live session: the driver reads `frames` data frames from the server; returns what went over the wire. */
async function session(t: Tap, o: PmuServerOptions, config: 'cfg2' | 'cfg3', frames: number): Promise<{ sent: Buffer[]; received: Buffer[]; ms: Measurement[] }> {
  const srv = await new PmuServer({ ...o, auto: false }).start();
  const cfg = withDefaults(c37118Driver, { type: 'c37118', id: 'ts', host: '127.0.0.1', port: srv.port, idcode: o.idcode, config });
  const driver = c37118Driver.create(cfg) as C37118Driver;
  const ms: Measurement[] = [];
  await driver.start(ctxFor('ts').ctx, (m) => ms.push(m));
  try {
    await waitFor('data on', () => (srv.dataOn ? true : undefined), { timeoutMs: 10_000 });
    srv.sendData(frames);
    await waitFor(`${frames} frames decoded by the driver`, () => (ms.length >= frames * o.blocks.length ? true : undefined), { timeoutMs: 10_000 });
  } finally {
    await driver.stop(AbortSignal.abort());
    await srv.close();
  }
  t.equal(ms.length, frames * o.blocks.length, 'the driver published every block');
  return { sent: srv.sent, received: srv.received, ms };
}
type Tap = Test;

function crossCheck(t: Tap, frames: Buffer[], toServer: boolean): void {
  const packets = tsharkFields(pcapOf(frames, toServer ? { srcPort: 40000, dstPort: 4712 } : { srcPort: 4712, dstPort: 40000 }));
  t.equal(packets.length, frames.length, 'tshark decoded one packet per frame');
  let cfg: ConfigFrame | null = null;
  let checked = 0;
  let mutated = false;
  frames.forEach((buf, k) => {
    const r = decodeFrame(buf, cfg);
    if (!r.ok) return t.fail(`frame ${k}: codec refused it: ${r.detail}`);
    if (r.frame.kind === 'cfg2' || r.frame.kind === 'cfg3') cfg = r.frame;
    const diffs = compare(packets[k]!, r.frame);
    if (diffs.length) t.fail(`frame ${k} (${r.frame.kind}) differs:\n${diffs.join('\n')}`);
    if (r.frame.kind === 'data' && !mutated) {
      // The comparison can fail: the same frame with one magnitude 0.01 off and one STAT bit more differs.
      mutated = true;
      const m = structuredClone(r.frame);
      m.pmus[0]!.mag[0] = m.pmus[0]!.mag[0]! + 0.01;
      m.pmus[0]!.stat ^= 0x0200;
      t.equal(compare(packets[k]!, m).length, 2, 'a changed magnitude and STAT are both caught');
    }
    checked++;
  });
  t.equal(checked, frames.length, `every frame compared field by field (${checked} frames)`);
}

t.test('tshark is installed (Debian package tshark, see .ci/setup.sh)', async (t) => {
  const v = execFileSync('tshark', ['--version'], { encoding: 'utf8' });
  t.match(v, /TShark/);
});

t.test('CFG-2: integer rectangular and float polar PMUs, STAT, commands', async (t) => {
  const blocks = [threePhase(101, 0, { stat: 0x2000 | 0x0800 | 3 }), threePhase(102, 15)];
  const s = await session(t, { idcode: 7734, dataRate: 50, blocks, timeQuality: 0x15 }, 'cfg2', 5);
  crossCheck(t, s.sent, false);
  crossCheck(t, s.received, true);
});

t.test('CFG-3: integer polar with phasor types and float rectangular, unlocked clock', async (t) => {
  const blocks = [threePhase(201, 1 | 8, { components: true }), threePhase(202, 2 | 4)];
  const s = await session(t, { idcode: 4321, dataRate: 25, blocks, timeQuality: 0x0b, timeBase: 0xffffff }, 'cfg3', 5);
  crossCheck(t, s.sent, false);
});
