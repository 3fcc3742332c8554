/**
 * An ingest worker thread: parses, validates and processes raw publishes and serialises what they
 * were processed into, in the order they arrive, one batch at a time. It keeps no state between
 * batches beyond its processors (built once from their specs' modules). Nothing here touches the
 * broker, the buffer or the aggregators: the main thread commits what it returns (ingest-pool.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nowMicros, type Measurement } from '../../algorithms/common/measurement.js';
import type { Processor, ProcessorSpec } from '../core/plugin.js';
import type { IngestAnswer, IngestBatch, IngestItem, IngestReply, IngestWorkerInit } from './ingest-protocol.js';
import { viewPlan } from './measurement-view.js';
import { parseMeasurement } from './validate.js';

const init = workerData as IngestWorkerInit;
const plan = init.viewPaths === null ? null : viewPlan(init.viewPaths);

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

/** The item's answer; with a view plan, its samples go to `values` at `at`. */
function handle(item: IngestItem, bytes: Uint8Array, processors: readonly Processor[], values: Float64Array | null, at: number): IngestAnswer {
  const l = init.limits;
  const nowUs = nowMicros();
  const r = parseMeasurement(Buffer.from(bytes.buffer, bytes.byteOffset + item.start, item.end - item.start), item.device, {
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
  const res: IngestAnswer = { ok: true, text: JSON.stringify(out) };
  if (plan === null || values === null) res.m = out;
  else {
    res.head = plan.head(out);
    res.at = at;
    plan.read(out, values, at);
  }
  if (errors) res.errors = errors;
  return res;
}

const processors = await buildProcessors();
parentPort!.on('message', (batch: IngestBatch) => {
  const { items, bytes } = batch;
  const answers: IngestAnswer[] = new Array(items.length);
  const values = plan === null ? null : new Float64Array(items.length * plan.width);
  for (let k = 0; k < items.length; k++) answers[k] = handle(items[k]!, bytes, processors, values, k * (plan?.width ?? 0));
  const reply: IngestReply = { answers, values };
  parentPort!.postMessage(reply, values ? [values.buffer as ArrayBuffer] : []);
});
parentPort!.postMessage('ready');
