/**
 * Fixed TCP ports for the peers that cannot bind port 0 and report it (Debian's mosquitto), and for
 * "nothing listens here" addresses.
 *
 * Everything else in the suite binds port 0, and the kernel takes those ports (and the local ports
 * of outgoing connections) from its ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`,
 * 32768-60999 by default). The ports handed out here come from the 10 000 ports just below that
 * range, so no port-0 bind and no outgoing connection can ever take one. Test processes run in
 * parallel, so each port is claimed with a file in `$GRIDEDGE_TEST_PORT_CLAIMS/` (the runner sets it
 * to one folder for the whole run; else `$TMPDIR/gridedge-test-ports/`) created with
 * O_EXCL and holding the claiming process id; a claim whose process is gone is taken over. Claims
 * are released when the process exits. A port is only handed out when a connection to it is
 * refused at that moment (a process outside the suite may hold it; then another one is tried).
 *
 * What remains: a process outside the suite may bind a claimed port later. startMosquitto retries
 * with another port when mosquitto cannot bind.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Shared by the files of one run: the runner names it (each file has its own TMPDIR). */
const CLAIM_DIR = process.env['GRIDEDGE_TEST_PORT_CLAIMS'] || join(tmpdir(), 'gridedge-test-ports');

/** The folder of the claim files. */
export const claimDir = (): string => CLAIM_DIR;
const SPAN = 10_000;

/** The ports handed out here: [low, high], outside the kernel's ephemeral range. */
export function fixedPortRange(): [number, number] {
  let lo = 32768;
  let hi = 60999;
  try {
    const m = /^(\d+)\s+(\d+)/.exec(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'));
    if (m) [lo, hi] = [Number(m[1]), Number(m[2])];
  } catch {
    // not Linux: keep the default range
  }
  if (lo - 1024 >= 2000) return [Math.max(1024, lo - SPAN), lo - 1];
  if (65535 - hi >= 2000) return [hi + 1, Math.min(65535, hi + SPAN)];
  throw new Error(`the ephemeral port range ${lo}-${hi} leaves no room for fixed test ports`);
}

const claimed = new Set<number>();
process.once('exit', () => {
  for (const port of claimed) {
    try {
      unlinkSync(join(CLAIM_DIR, String(port)));
    } catch {
      // already gone
    }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Create the claim file; take over a claim whose process is gone. */
function tryClaim(port: number): boolean {
  const file = join(CLAIM_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      claimed.add(port);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(file, 'utf8'));
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
    try {
      unlinkSync(file);
    } catch {
      // another process took it over first; its O_EXCL create decides
    }
  }
  return false;
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Give a claimed port back (it may be handed out again). */
export function releasePort(port: number): void {
  if (!claimed.delete(port)) return;
  try {
    unlinkSync(join(CLAIM_DIR, String(port)));
  } catch {
    // already gone
  }
}

/**
 * A port no other test process holds and nothing listens on right now, claimed for this process
 * until it exits (or `releasePort`). Bounded: 200 tries, then an error.
 */
export async function claimPort(): Promise<number> {
  mkdirSync(CLAIM_DIR, { recursive: true });
  const [lo, hi] = fixedPortRange();
  for (let k = 0; k < 200; k++) {
    const port = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (claimed.has(port) || !tryClaim(port)) continue;
    if (!(await accepts(port))) return port;
    releasePort(port); // held by a process outside the suite
  }
  throw new Error(`no free test port in ${lo}-${hi} after 200 tries (claims in ${CLAIM_DIR})`);
}

/**
 * A port where connections are refused (ECONNREFUSED): claimed like `claimPort`, so no test process
 * binds it, and outside the ephemeral range, so no port-0 bind takes it.
 */
export const refusedPort = claimPort;
