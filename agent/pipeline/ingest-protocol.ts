/** Messages between the pipeline's ingest pool (main thread) and its workers (ingest-worker.ts). */
import type { Measurement } from '../../algorithms/common/measurement.js';

export interface IngestWorkerInit {
  limits: { maxPayloadBytes: number; futureToleranceS: number; pastToleranceS: number };
  /** The configured processors, in order: the module that exports each spec, its type and its config. */
  processors: { module: string; type: string; config: Record<string, unknown> }[];
}

/** One raw publish: its device (from the topic) and payload. */
export interface IngestItem {
  device: string;
  payload: Uint8Array;
}

export type IngestResult =
  | { ok: false; reason: string; detail: string }
  | {
      ok: true;
      /** The processed measurement (structured clone) and its JSON text. */
      m: Measurement;
      text: string;
      /** Processors that threw (the measurement passed on unprocessed by them). */
      errors?: { processor: string; message: string }[];
    };

/** Main → worker: a batch of items. Worker → main: their results, in the same order. */
export type IngestBatch = IngestItem[];
export type IngestReply = IngestResult[];
