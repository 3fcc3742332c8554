import t from 'tap';
import { tsFiles } from '../helpers/source-files.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Nothing under algorithms/ imports from agent/ or drivers/: every relative import of an algorithms
// source file must resolve inside algorithms/ (so not into agent/, drivers/ or test/). Packages
// (bare specifiers such as "node:fs") are not the agent and are allowed. The check reads the TypeScript
// sources, not the compiled output.

/** The repository root: this file runs as dist/test/algorithms/purity.test.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ALGORITHMS = join(ROOT, 'algorithms');

/** Module specifiers of static imports/re-exports, side-effect imports, dynamic import() and require(). */
export function specifiersOf(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Why `spec` imported from `file` breaks the rule, or null when it does not. */
export function violation(file: string, spec: string): string | null {
  if (spec.startsWith('.')) {
    const target = resolve(dirname(file), spec);
    if (target === ALGORITHMS || target.startsWith(ALGORITHMS + sep)) return null;
    return `imports ${JSON.stringify(spec)}, which resolves to ${relative(ROOT, target)} outside algorithms/`;
  }
  if (spec.startsWith('/')) return `imports the absolute path ${JSON.stringify(spec)}`;
  return null;
}

t.test('the checker catches imports from agent/ and drivers/', async (t) => {
  const file = join(ALGORITHMS, 'power', 'example.ts');
  const src = [
    "import type { Counters } from '../../agent/core/counters.js';",
    "export { prng } from '../../drivers/sim-pmu/prng.js';",
    "import {\n  a,\n  b,\n} from '../common/measurement.js';",
    "const x = await import('../../agent/agent.js');",
    "import 'pino';",
  ].join('\n');
  const specs = specifiersOf(src);
  t.same(specs.sort(), ['../../agent/agent.js', '../../agent/core/counters.js', '../../drivers/sim-pmu/prng.js', '../common/measurement.js', 'pino'].sort(),
    'static, multi-line, re-export, dynamic and side-effect imports are all found');
  const bad = specs.map((s) => violation(file, s)).filter((v) => v !== null);
  t.equal(bad.length, 3, `three violations: ${bad.join('; ')}`);
  t.match(violation(file, '../../agent/core/counters.js'), /resolves to agent\/core\/counters\.js outside algorithms\//);
  t.equal(violation(file, '../common/measurement.js'), null, 'an import inside algorithms/ is fine');
  t.equal(violation(file, 'node:fs'), null, 'Node built-ins are fine');
  t.equal(violation(file, 'pino'), null, 'a package is not the agent');
  t.match(violation(file, '/work/agent/agent.js'), /absolute path/);
});

t.test('no algorithms source file imports from outside algorithms/', async (t) => {
  const files = tsFiles(ALGORITHMS);
  t.ok(files.length >= 10, `found ${files.length} source files under algorithms/`);
  const problems: string[] = [];
  let imports = 0;
  for (const f of files) {
    for (const spec of specifiersOf(readFileSync(f, 'utf8'))) {
      imports++;
      const v = violation(f, spec);
      if (v) problems.push(`${relative(ROOT, f)}: ${v}`);
    }
  }
  t.ok(imports >= 10, `read ${imports} import specifiers (the scan is not empty)`);
  t.same(problems, [], 'every import stays inside algorithms/');
});
