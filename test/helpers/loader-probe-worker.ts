/**
 * A worker thread for test/helpers/harness.test.ts: an ES module loaded the way the buffer loads its
 * writer thread (`new Worker(new URL(...))`). It posts the Node options it started with and exits.
 */
import { parentPort } from 'node:worker_threads';

parentPort?.postMessage({ execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS ?? '' });
