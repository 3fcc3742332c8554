/**
 * Config file versions. A file states the format it was written for in `version` (none: 1); older
 * files are brought up to CONFIG_VERSION one step at a time before validation, so a release that
 * renames or restructures an option keeps old files working.
 *
 * Adding version 2: bump CONFIG_VERSION and add `MIGRATIONS.set(1, (doc) => ...)` returning the
 * version-2 document (a new object; the input is a plain parsed document, never the defaults).
 */

export const CONFIG_VERSION = 1;

export type ConfigDocument = Record<string, unknown>;

/** Turns a version-n document into a version-(n+1) document. */
export type Migration = (doc: ConfigDocument) => ConfigDocument;

/** MIGRATIONS.get(n) migrates version n to n + 1. */
export const MIGRATIONS: ReadonlyMap<number, Migration> = new Map<number, Migration>([
  // [1, (doc) => ({ ...doc, version: 2 })],
]);

export interface MigrateOptions {
  current?: number;
  migrations?: ReadonlyMap<number, Migration>;
}

export type MigrateResult =
  | { ok: true; doc: ConfigDocument; from: number }
  | { ok: false; problems: { path: string; message: string }[] };

/** Reads `version` (absent: 1), refuses versions newer than known, applies each step up to `current`. */
export function migrate(doc: ConfigDocument, opts: MigrateOptions = {}): MigrateResult {
  const current = opts.current ?? CONFIG_VERSION;
  const migrations = opts.migrations ?? MIGRATIONS;
  const v = doc['version'] === undefined ? 1 : doc['version'];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    return { ok: false, problems: [{ path: 'version', message: `must be an integer between 1 and ${current}, got ${JSON.stringify(v)}` }] };
  if (v > current)
    return {
      ok: false,
      problems: [
        {
          path: 'version',
          message: `this gridedge reads config versions up to ${current}; the file was written for a newer release, got ${v}`,
        },
      ],
    };
  let out: ConfigDocument = { ...doc };
  for (let n = v; n < current; n++) {
    const step = migrations.get(n);
    if (!step) throw new Error(`config migrations: no migration from version ${n} to ${n + 1}`);
    out = step(out);
  }
  out['version'] = current;
  return { ok: true, doc: out, from: v };
}
