/**
 * Child process for kill.test.ts: appends in a loop (several appends in flight, so group commit is
 * exercised) and prints each resolved append's seqs on one stdout line: "S <seq> <seq> ...".
 * Cursor "hold" (from the start) is acked to 300 rows behind the newest, so pruning deletes rows
 * all the time; each ack is printed first as "A <seq>". Runs until killed.
 * Usage: node append-child.js <dir>
 */
import { pino } from 'pino';
import { openBuffer } from '../../agent/buffer/index.js';
import { Counters } from '../../agent/core/counters.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: append-child.js <dir>\n');
  process.exit(1);
}
const buffer = openBuffer({
  dir,
  maxBytes: 0,
  maxAgeHours: 0,
  commitIntervalMs: 2,
  pruneIntervalMs: 5,
  pruneBatchRows: 200,
  log: pino({ level: 'warn' }, process.stderr),
  counters: new Counters(),
});
buffer.registerCursor('hold', true);

// stdout on a pipe is synchronous on Linux: a line is in the pipe before the next append starts.
const out = (line: string): void => void process.stdout.write(line + '\n');

let n = 0;
async function writer(): Promise<void> {
  for (;;) {
    const count = 1 + Math.floor(Math.random() * 40);
    const rows = [];
    for (let i = 0; i < count; i++) {
      rows.push({ topic: `bal/processed/pmu${n % 7}`, payload: JSON.stringify({ n: n++, pad: 'x'.repeat(Math.floor(Math.random() * 600)) }) });
    }
    const seqs = await buffer.append(rows);
    out('S ' + seqs.join(' '));
    const keepFrom = seqs[seqs.length - 1]! - 300;
    if (keepFrom > buffer.cursor('hold') && Math.random() < 0.2) {
      out(`A ${keepFrom}`);
      buffer.ack('hold', keepFrom);
    }
  }
}
out('ready');
for (let w = 0; w < 6; w++) void writer();
