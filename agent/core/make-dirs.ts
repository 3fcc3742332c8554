/**
 * `mkdir -p`: create a folder and the missing folders above it, one at a time. Used instead of
 * `fs.mkdirSync(dir, { recursive: true })`, which in Node 20 never returns for some paths a file
 * system refuses (`/proc/nope`: procfs answers ENOENT to the mkdir, and Node's recursive mkdir tries
 * the parent again and again, spinning a core with the agent deaf to SIGTERM). Here every error but
 * "already there" is thrown as it comes, naming the folder; a file in the way is an error too.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); ; ) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a folder, ${p}`), { code: 'ENOTDIR', path: p });
      break;
    }
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
