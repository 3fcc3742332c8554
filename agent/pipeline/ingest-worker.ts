/**
 * An ingest worker thread: parses, validates and processes raw publishes and serialises what they
 * were processed into, in the order they arrive, one batch at a time. It keeps no state between
 * batches beyond its processors (built once from their specs' modules). Nothing here touches the
 * broker, the buffer or the aggregators: the main thread commits what it returns (ingest-pool.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nowMicros, type Measurement } from '../../algorithms/common/measurement.js';
import type { Processor, ProcessorSpec } from '../core/plugin.js';
import type { IngestBatch, IngestReply, IngestResult, IngestWorkerInit } from './ingest-protocol.js';
import { parseMeasurement } from './validate.js';

const init = workerData as IngestWorkerInit;

async function buildProcessors(): Promise<Processor[]> {
  const out: Processor[] = [];
  for (const p of init.processors) {
    const mod = (await import(p.module)) as Record<string, unknown>;
    const spec = Object.values(mod).find(
      (x): x is ProcessorSpec => typeof x === 'object' && x !== null && (x as ProcessorSpec).type === p.type && typeof (x as ProcessorSpec).create === 'function',
    );
    if (!spec) throw new Error(`ingest worker: ${p.module} exports no processor spec of type ${p.type}`);
    out.push(spec.create(p.config));
  }
  return out;
}

function handle(item: { device: string; payload: Uint8Array }, processors: readonly Processor[]): IngestResult {
  const l = init.limits;
  const nowUs = nowMicros();
  const r = parseMeasurement(Buffer.from(item.payload.buffer, item.payload.byteOffset, item.payload.byteLength), item.device, {
    maxPayloadBytes: l.maxPayloadBytes,
    nowUs,
    futureToleranceUs: l.futureToleranceS * 1e6,
    pastToleranceUs: l.pastToleranceS * 1e6,
  });
  if (!r.ok) return { ok: false, reason: r.reason, detail: r.detail };
  let out: Measurement = r.m;
  let errors: { processor: string; message: string }[] | undefined;
  for (const p of processors) {
    try {
      out = p.process(out);
    } catch (err) {
      (errors ??= []).push({ processor: p.name, message: (err as Error).message });
    }
  }
  const res: IngestResult = { ok: true, m: out, text: JSON.stringify(out) };
  if (errors) res.errors = errors;
  return res;
}

const processors = await buildProcessors();
parentPort!.on('message', (batch: IngestBatch) => {
  const reply: IngestReply = new Array(batch.length);
  for (let k = 0; k < batch.length; k++) reply[k] = handle(batch[k]!, processors);
  parentPort!.postMessage(reply);
});
parentPort!.postMessage('ready');
