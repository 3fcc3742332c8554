/**
 * Device-to-cloud telemetry over MQTT ("Communicate with an IoT hub using the MQTT protocol",
 * Microsoft Learn): topic `devices/{deviceId}/messages/events/` (or
 * `devices/{deviceId}/modules/{moduleId}/messages/events/`) followed by a URL-encoded property bag;
 * system properties `$.mid` (message id), `$.ct` (content type) and `$.ce` (content encoding).
 *
 * Packing: rows become JSON objects with `gw`, `seq` (and `topic`) spliced in; with
 * `maxRowsPerMessage` > 1 every message is a JSON array of such objects, as many as fit in
 * `maxMessageBytes` (the hub refuses device-to-cloud messages over 256 KB). A message's id is
 * `<gw>:<seq>` for one row and `<gw>:<first seq>-<last seq>` for several.
 */
import { splicedRow } from '../payload.js';

export function eventsTopicBase(deviceId: string, moduleId?: string): string {
  return `devices/${deviceId}/` + (moduleId ? `modules/${moduleId}/` : '') + 'messages/events/';
}

/** The topic of one message: base + `$.mid=…&$.ct=application%2Fjson&$.ce=utf-8`. */
export function eventsTopic(base: string, messageId: string): string {
  return `${base}$.mid=${encodeURIComponent(messageId)}&$.ct=${encodeURIComponent('application/json')}&$.ce=utf-8`;
}

export interface PackRow {
  seq: number;
  /** The routed topic (sent as the `topic` field when `includeTopic`). */
  topic: string;
  payload: string;
}

export interface PackedMessage {
  seqs: number[];
  messageId: string;
  body: string;
}

export interface PackOptions {
  gw: string;
  maxMessageBytes: number;
  maxRowsPerMessage: number;
  includeTopic: boolean;
}

export interface PackResult {
  messages: PackedMessage[];
  /** Rows that cannot fit in one message even alone. */
  tooLarge: { seq: number; bytes: number }[];
}

export function messageId(gw: string, seqs: readonly number[]): string {
  return seqs.length === 1 ? `${gw}:${seqs[0]}` : `${gw}:${seqs[0]}-${seqs[seqs.length - 1]}`;
}

export function packRows(rows: readonly PackRow[], o: PackOptions): PackResult {
  const gwJson = JSON.stringify(o.gw);
  const messages: PackedMessage[] = [];
  const tooLarge: PackResult['tooLarge'] = [];
  const array = o.maxRowsPerMessage > 1;
  let seqs: number[] = [];
  let parts: string[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (!seqs.length) return;
    messages.push({ seqs, messageId: messageId(o.gw, seqs), body: array ? `[${parts.join(',')}]` : parts[0]! });
    seqs = [];
    parts = [];
    bytes = 0;
  };
  for (const r of rows) {
    const fields: [string, string][] = [
      ['gw', gwJson],
      ['seq', String(r.seq)],
    ];
    if (o.includeTopic) fields.push(['topic', JSON.stringify(r.topic)]);
    const text = splicedRow(r, fields);
    const size = Buffer.byteLength(text);
    if (size + (array ? 2 : 0) > o.maxMessageBytes) {
      tooLarge.push({ seq: r.seq, bytes: size });
      continue;
    }
    // Bytes of the array so far: "[" + parts joined by "," + "]".
    const grown = seqs.length ? bytes + 1 + size : size + (array ? 2 : 0);
    if (seqs.length && (grown > o.maxMessageBytes || seqs.length >= o.maxRowsPerMessage)) flush();
    bytes = seqs.length ? bytes + 1 + size : size + (array ? 2 : 0);
    seqs.push(r.seq);
    parts.push(text);
  }
  flush();
  return { messages, tooLarge };
}
