/**
 * SIGKILL at a random moment while appending: the database stays intact (PRAGMA integrity_check)
 * and no row whose append() had resolved is lost, except rows the cursor had acknowledged (which
 * pruning may delete). Repeated on the same file, which also checks seqs are never reissued.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import Database from 'better-sqlite3';
import { tempDir } from './harness.js';

const child = fileURLToPath(new URL('./append-child.js', import.meta.url));

interface Run {
  seqs: number[];
  acked: number;
}

/** Runs the child until it printed `minSeqs` seqs, then SIGKILLs it after a random delay. */
function runAndKill(dir: string, minSeqs: number, delayMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seqs: number[] = [];
    let acked = 0;
    let partial = '';
    let stderr = '';
    let armed = false;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      // Only complete lines count: a line cut by the kill was not fully reported.
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('S ')) for (const s of l.slice(2).split(' ')) seqs.push(Number(s));
        else if (l.startsWith('A ')) acked = Math.max(acked, Number(l.slice(2)));
      }
      if (!armed && seqs.length >= minSeqs) {
        armed = true;
        setTimeout(() => p.kill('SIGKILL'), delayMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child ended by itself (code ${code}): ${stderr}`));
      resolve({ seqs, acked });
    });
  });
}

t.test('SIGKILL mid-write loses no resolved append and leaves an intact database', async (t) => {
  const dir = tempDir('kill');
  const file = path.join(dir, 'buffer.db');
  let highest = 0;
  for (let round = 1; round <= 5; round++) {
    const minSeqs = 200 + Math.floor(Math.random() * 3000);
    const delay = Math.floor(Math.random() * 60);
    const run = await runAndKill(dir, minSeqs, delay);
    t.ok(run.seqs.length >= minSeqs, `round ${round}: child reported ${run.seqs.length} seqs before the kill`);
    t.ok(run.seqs[0]! > highest, `round ${round}: seqs continue above the previous round's (${highest})`);
    t.ok(run.seqs.every((s, i) => i === 0 || s > run.seqs[i - 1]!), `round ${round}: seqs resolved in increasing order`);

    const db = new Database(file);
    try {
      t.equal(db.pragma('integrity_check', { simple: true }), 'ok', `round ${round}: integrity_check`);
      const cursor = db.prepare(`SELECT seq FROM cursors WHERE forwarder = 'hold'`).pluck().get() as number | undefined;
      t.ok(cursor === undefined || cursor <= run.acked, `round ${round}: the persisted cursor (${cursor}) was acked`);
      const floor = cursor ?? 0;
      const has = db.prepare('SELECT 1 FROM messages WHERE seq = ?').pluck();
      const missing = run.seqs.filter((s) => s > floor && has.get(s) === undefined);
      t.same(missing, [], `round ${round}: every resolved seq above the cursor (${floor}) is in the file`);
      const span = db.prepare('SELECT MIN(seq) AS lo, MAX(seq) AS hi, COUNT(*) AS n FROM messages').get() as {
        lo: number;
        hi: number;
        n: number;
      };
      t.equal(span.n, span.hi - span.lo + 1, `round ${round}: rows are contiguous (${span.lo}..${span.hi})`);
      t.ok(span.lo <= floor + 1, `round ${round}: nothing above the cursor was pruned`);
      // The next round must start above every seq this one committed, reported or not.
      const issued = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).pluck().get() as number;
      highest = Math.max(span.hi, issued, run.seqs[run.seqs.length - 1]!);
    } finally {
      db.close();
    }
  }
});
