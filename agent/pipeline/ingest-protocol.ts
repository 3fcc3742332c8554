/** Messages between the pipeline's ingest pool (main thread) and its workers (ingest-worker.ts). */
import type { Measurement } from '../../algorithms/common/measurement.js';
import type { ViewHead } from './measurement-view.js';

export interface IngestWorkerInit {
  limits: { maxPayloadBytes: number; futureToleranceS: number; pastToleranceS: number };
  /** The configured processors, in order: the module that exports each spec, its type and its config. */
  processors: { module: string; type: string; config: Record<string, unknown> }[];
  /**
   * The dotted paths the aggregators read (Aggregator.reads): results carry the measurement's view
   * for them (measurement-view.ts) instead of the whole measurement; null: the whole measurement.
   */
  viewPaths: string[] | null;
}

/** One raw publish: its device (from the topic) and where its payload is in the batch's `bytes`. */
export interface IngestItem {
  device: string;
  start: number;
  end: number;
}

/** A bad payload: refused with the main thread's reasons. */
export interface IngestRefusal {
  ok: false;
  reason: string;
  detail: string;
}

/** Processors that threw (the measurement passed on unprocessed by them). */
export type ProcessorErrors = { processor: string; message: string }[];

/** What the worker answers for one item. */
export type IngestAnswer =
  | IngestRefusal
  | {
      ok: true;
      /** The processed measurement's JSON text. */
      text: string;
      errors?: ProcessorErrors;
      /** Without a view plan: the whole processed measurement (a structured clone). */
      m?: Measurement;
      /** With one: the view's header, its samples at `at` in the reply's `values`. */
      head?: ViewHead;
      at?: number;
    };

/** What the pool resolves an item with: `m` is the whole measurement or (`whole` false) its view. */
export type IngestResult = IngestRefusal | { ok: true; text: string; m: Measurement; whole: boolean; errors?: ProcessorErrors };

/** Main → worker: a batch of items. Worker → main: their answers, in the same order, and the samples. */
export interface IngestBatch {
  items: IngestItem[];
  /** The payloads, one after the other (one buffer, moved to the worker, for the whole batch). */
  bytes: Uint8Array;
}
export interface IngestReply {
  answers: IngestAnswer[];
  values: Float64Array | null;
}
