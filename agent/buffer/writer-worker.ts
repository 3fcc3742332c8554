/**
 * The buffer's writer: a worker thread that owns the write connection, so that the fsync of each
 * synchronous=FULL commit (and WAL checkpoints) never block the main event loop, where the broker
 * and the pipeline run. It runs one transaction per job, in order, and replies with the new seqs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { WriteJob, WriterData, WriterReply, WriterRequest } from './writer-protocol.js';

const port = parentPort;
if (!port) throw new Error('buffer writer: must run as a worker thread');
const { file } = workerData as WriterData;
const post = (m: WriterReply): void => port.postMessage(m);

function codeOf(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  return {
    code: typeof e?.code === 'string' ? e.code : 'EUNKNOWN',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

let db: Database.Database;
try {
  db = new Database(file, { fileMustExist: true, timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
} catch (err) {
  post({ type: 'fatal', ...codeOf(err) });
  process.exit(1);
}

const st = {
  insert: db.prepare(`INSERT INTO messages (stored_at, topic, payload) VALUES (?, ?, ?)`),
  deleteUpTo: db.prepare(`DELETE FROM messages WHERE seq <= ?`),
  saveCursor: db.prepare(
    `INSERT INTO cursors (forwarder, seq, dropped) VALUES (?, ?, ?)
       ON CONFLICT (forwarder) DO UPDATE SET seq = excluded.seq, dropped = excluded.dropped`,
  ),
  deleteCursor: db.prepare(`DELETE FROM cursors WHERE forwarder = ?`),
  saveStep: db.prepare(
    `INSERT INTO clock_steps (seq, delta_ms) VALUES (?, ?)
       ON CONFLICT (seq) DO UPDATE SET delta_ms = delta_ms + excluded.delta_ms`,
  ),
  forgetSteps: db.prepare(`DELETE FROM clock_steps WHERE seq < ?`),
};

const write = db.transaction((job: WriteJob): number[] => {
  if (job.step) st.saveStep.run(job.step.seq, job.step.deltaMs);
  const seqs = new Array<number>(job.topics.length);
  for (let i = 0; i < job.topics.length; i++) {
    seqs[i] = st.insert.run(job.now, job.topics[i], job.payloads[i]).lastInsertRowid as number;
  }
  for (const name of job.removedCursors) st.deleteCursor.run(name);
  for (const [name, seq, dropped] of job.cursors) st.saveCursor.run(name, seq, dropped);
  if (job.deleteUpTo !== null) {
    st.deleteUpTo.run(job.deleteUpTo);
    st.forgetSteps.run(job.deleteUpTo + 1);
  }
  return seqs;
});

port.on('message', (m: WriterRequest) => {
  if (m.type === 'close') {
    let warning: string | undefined;
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      warning = `${codeOf(err).code}: ${codeOf(err).message}`;
    }
    db.close();
    post(warning === undefined ? { type: 'closed' } : { type: 'closed', warning });
    port.close();
    return;
  }
  try {
    if (db.inTransaction) db.exec('ROLLBACK'); // left open by a failed rollback
    post({ type: 'done', id: m.id, seqs: write(m) });
  } catch (err) {
    post({ type: 'failed', id: m.id, ...codeOf(err) });
  }
});
post({ type: 'ready' });
