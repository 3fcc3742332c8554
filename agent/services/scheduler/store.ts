/**
 * The scheduler's jobs on disk: one SQLite file (`jobs.db` in the service's storage folder), so
 * submitted jobs and their results survive a restart. Writes are small and synchronous
 * (better-sqlite3, WAL); a job that was queued or running when the agent stopped is marked failed
 * with that reason when the store opens. `details` holds a near-real-time job's progress (the last
 * run, or why it holds its setpoint); files written before that column existed get it on open.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { makeDirs } from '../../core/make-dirs.js';

export type JobStatus = 'created' | 'running' | 'success' | 'failed';

export interface JobRecord {
  id: string;
  status: JobStatus;
  model: string;
  created_at: number;
  updated_at: number;
  input: unknown;
  result?: unknown;
  error?: string;
  details?: string;
}

interface Row {
  id: string;
  status: JobStatus;
  model: string;
  created_at: number;
  updated_at: number;
  input: string;
  result: string | null;
  error: string | null;
  details: string | null;
}

const toRecord = (r: Row): JobRecord => {
  const rec: JobRecord = { id: r.id, status: r.status, model: r.model, created_at: r.created_at, updated_at: r.updated_at, input: JSON.parse(r.input) };
  if (r.result !== null) rec.result = JSON.parse(r.result);
  if (r.error !== null) rec.error = r.error;
  if (r.details !== null && r.details !== undefined) rec.details = r.details;
  return rec;
};

export class JobStore {
  private readonly db: Database.Database;

  constructor(dir: string, now: number) {
    makeDirs(dir);
    this.db = new Database(join(dir, 'jobs.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY, status TEXT NOT NULL, model TEXT NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      input TEXT NOT NULL, result TEXT, error TEXT)`);
    const cols = this.db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'details')) this.db.exec('ALTER TABLE jobs ADD COLUMN details TEXT');
    this.db
      .prepare(`UPDATE jobs SET status = 'failed', error = 'the agent stopped before the job finished; submit it again', updated_at = ? WHERE status IN ('created', 'running')`)
      .run(now);
  }

  insert(rec: JobRecord): void {
    this.db
      .prepare('INSERT INTO jobs (id, status, model, created_at, updated_at, input) VALUES (?, ?, ?, ?, ?, ?)')
      .run(rec.id, rec.status, rec.model, rec.created_at, rec.updated_at, JSON.stringify(rec.input));
  }

  update(id: string, status: JobStatus, now: number, result?: unknown, error?: string): void {
    this.db
      .prepare('UPDATE jobs SET status = ?, updated_at = ?, result = ?, error = ? WHERE id = ?')
      .run(status, now, result === undefined ? null : JSON.stringify(result), error ?? null, id);
  }

  /** A near-real-time job's progress: its status, its latest run summary and a line saying how it goes. */
  progress(id: string, status: JobStatus, now: number, result: unknown, details: string, error?: string): void {
    this.db
      .prepare('UPDATE jobs SET status = ?, updated_at = ?, result = ?, details = ?, error = ? WHERE id = ?')
      .run(status, now, JSON.stringify(result), details, error ?? null, id);
  }

  /** Replace a job's input (its batteries changed). */
  setInput(id: string, input: unknown, now: number): void {
    this.db.prepare('UPDATE jobs SET input = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(input), now, id);
  }

  get(id: string): JobRecord | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  list(): { id: string; status: JobStatus; created_at: number; updated_at: number }[] {
    return this.db.prepare('SELECT id, status, created_at, updated_at FROM jobs ORDER BY created_at, id').all() as {
      id: string;
      status: JobStatus;
      created_at: number;
      updated_at: number;
    }[];
  }

  /** Jobs queued or running. */
  pending(): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM jobs WHERE status IN ('created', 'running')`).get() as { n: number }).n;
  }

  /**
   * Delete the finished jobs (success, failed) beyond the `keep` most recently finished (by
   * updated_at, then id); queued and running jobs are never touched. Returns how many were deleted.
   */
  pruneFinished(keep: number): number {
    return this.db
      .prepare(
        `DELETE FROM jobs WHERE status IN ('success', 'failed') AND id NOT IN
           (SELECT id FROM jobs WHERE status IN ('success', 'failed') ORDER BY updated_at DESC, id DESC LIMIT ?)`,
      )
      .run(keep).changes;
  }

  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id).changes > 0;
  }

  close(): void {
    this.db.close();
  }
}
