/** CPU and memory of a process, read from Linux /proc (the benches measure the agent's child process). */
import { readFileSync, readdirSync } from 'node:fs';

/** utime + stime in seconds from a /proc .../stat file (clock ticks, USER_HZ = 100). */
function statCpuSeconds(file: string): number {
  const f = readFileSync(file, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' '); // the name in parentheses may hold spaces
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** CPU seconds (user + system) a process has used. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of the process's main thread (tid = pid) and of all its other threads together. */
export function threadCpuSeconds(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let s: number;
    try {
      s = statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // the thread ended meanwhile
    }
    if (Number(tid) === pid) main += s;
    else others += s;
  }
  return { main, others };
}

/** Resident set size in MiB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
