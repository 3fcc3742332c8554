/**
 * Input files named on the command line (`pf CASE`, `se --network/--measurements`, `schedule
 * --input`), checked before a loader reads them, so that a missing or unreadable one is said the way
 * every other command says it: `--input: cannot read job.json: no such file (ENOENT)` (format.ts's
 * `fileErrorText`), not as the loader's bare system code.
 */
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileErrorText } from './format.js';

/**
 * Why `path` cannot be read, as `cannot read PATH: why (CODE)`, or null when it can. A folder is a
 * problem (EISDIR) unless `folder` is set (CGMES profiles): then the folder and each `.xml` file in it
 * must be readable. `what` (an option, `--input`) starts the message when given.
 */
export function inputFileProblem(path: string, opts: { what?: string; folder?: boolean } = {}): string | null {
  const lead = opts.what ? `${opts.what}: ` : '';
  const problem = (p: string, e: unknown): string => `${lead}cannot read ${p}: ${fileErrorText(e)}`;
  try {
    const st = statSync(path);
    if (!st.isDirectory()) {
      accessSync(path, constants.R_OK);
      return null;
    }
    if (!opts.folder) return problem(path, Object.assign(new Error('is a folder'), { code: 'EISDIR' }));
    for (const f of readdirSync(path).filter((x) => /\.xml$/i.test(x))) {
      const file = join(path, f);
      try {
        accessSync(file, constants.R_OK);
      } catch (e) {
        return problem(file, e);
      }
    }
    return null;
  } catch (e) {
    return problem(path, e);
  }
}
