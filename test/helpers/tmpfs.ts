/**
 * A small tmpfs standing in for a full disk, for a test file's top level: mounted at a new temp
 * folder, unmounted (lazily: it succeeds with a file still open) and removed when the test file's
 * root test ends or its process exits, whichever comes first. Mounting needs root: without it,
 * `skip` gives the reason to skip the tests with.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Test } from 'tap';

export function mountSmallDisk(t: Test, dir: string, size = '2m'): { skip: string | false } {
  let skip: string | false = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    skip = `cannot mount a tmpfs (needs root and mount permission): ${(err as Error).message.split('\n')[0]}`;
  }
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    if (!skip) execFileSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(cleanup);
  process.on('exit', cleanup); // also when the test process ends abnormally
  return { skip };
}
