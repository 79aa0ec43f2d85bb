import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * The import rule of docs/architecture.md, read from the doc's table so doc and code cannot drift:
 * every relative import in src/ is allowed by the table, and the table has one row per folder of src/.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');
const HOT_PATH = ['net/', 'tls/', 'http/'];
/** What the hot path must never know: the proxy's style rule, checked against the table itself. */
const AFTER_THE_HOT_PATH = [
  'oci/',
  'record/',
  'provenance/',
  'journal/',
  'reporters/',
  'grafeas/',
  'attest/',
  'broker/',
  'signing/',
  'control/',
  'app/',
  'cli/',
  'verify/',
  'store/',
  'inject/',
  'capture/',
  'tekton/',
];

/** One allowed target: a folder (`oci/`), one file (`http/completed-exchange.ts`), optionally type-only. */
interface Allowed {
  readonly target: string;
  readonly typesOnly: boolean;
}

/** `| \`folder/\` | \`a/\`, \`b.ts\` (types) |` rows of the table under `## Import rule`. */
function readImportTable(markdown: string): Map<string, Allowed[]> {
  const section = markdown.split(/^## /m).find((part) => part.startsWith('Import rule\n'));
  if (section === undefined) throw new Error('docs/architecture.md has no "## Import rule" section');
  const table = new Map<string, Allowed[]>();
  for (const line of section.split('\n')) {
    const row = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!row) continue;
    const [, folder, cell] = row as unknown as [string, string, string];
    if (table.has(folder)) throw new Error(`two rows for ${folder}`);
    const allowed = [...cell.matchAll(/`([^`]+)`(\s*\(types\))?/g)].map((entry) => ({
      target: entry[1]!,
      typesOnly: entry[2] !== undefined,
    }));
    table.set(folder, allowed);
  }
  return table;
}

/** `oci/` for src/oci/x.ts, `errors.ts` for src/errors.ts: the unit the table has rows for. */
function unitOf(srcRelative: string): string {
  const slash = srcRelative.indexOf('/');
  return slash < 0 ? srcRelative : srcRelative.slice(0, slash + 1);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Every import/export-from statement: its full text and module specifier. */
function imports(text: string): { statement: string; from: string }[] {
  const found: { statement: string; from: string }[] = [];
  const pattern =
    /^\s*(import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gms;
  for (const match of text.matchAll(pattern)) {
    found.push({ statement: match[0].trim(), from: match[2] ?? match[3] ?? match[4] ?? '' });
  }
  return found;
}

function isTypeOnly(statement: string): boolean {
  return (
    /^(import|export)\s+type\s/.test(statement) ||
    /^import\s*\{(?:\s*type\s+\w+(?:\s+as\s+\w+)?\s*,?)+\s*\}\s*from/.test(statement)
  );
}

const table = readImportTable(readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8'));

t.test('every folder of src/ has a row, and every row and entry names something that exists', async (t) => {
  const units = readdirSync(SRC, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() || entry.name.endsWith('.ts'))
    .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
    .sort();
  t.same([...table.keys()].sort(), units, 'the rows are exactly the folders (and top-level files) of src/');
  for (const [folder, allowed] of table) {
    for (const { target } of allowed) {
      const path = join(SRC, target);
      t.ok(
        existsSync(path) && (target.endsWith('/') ? statSync(path).isDirectory() : true),
        `${folder} → ${target} exists`,
      );
      t.not(target, folder, `${folder} lists itself`);
    }
  }
});

t.test('the hot path imports nothing of what comes after it', async (t) => {
  for (const folder of HOT_PATH) {
    const named = (table.get(folder) ?? []).map((a) => unitOf(a.target));
    t.same(
      named.filter((unit) => AFTER_THE_HOT_PATH.includes(unit)),
      [],
      `${folder} row`,
    );
  }
});

t.test('every relative import in src/ is allowed by the table', async (t) => {
  const files = sources(SRC);
  t.ok(files.length > 100, `${files.length} files checked`);
  const violations: string[] = [];
  for (const file of files) {
    const from = relative(SRC, file);
    const allowed = table.get(unitOf(from)) ?? [];
    for (const { statement, from: specifier } of imports(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(SRC, join(file, '..', specifier)).replace(/\.js$/, '.ts');
      if (target.startsWith('..')) {
        violations.push(`${from} imports ${specifier}, outside src/`);
        continue;
      }
      if (unitOf(target) === unitOf(from)) continue;
      const rule = allowed.find((a) =>
        a.target.endsWith('/') ? unitOf(target) === a.target : target === a.target,
      );
      if (rule === undefined) violations.push(`${from} imports ${target}: not in the ${unitOf(from)} row`);
      else if (rule.typesOnly && !isTypeOnly(statement))
        violations.push(`${from} imports values from ${target}, which its row allows as types only`);
    }
  }
  t.same(violations, [], 'imports the table of docs/architecture.md "## Import rule" does not allow');
});

t.test('the readers see the forms they must', async (t) => {
  const sample = [
    "import type { A } from '../http/completed-exchange.js';",
    "import { x,\n  y } from '../net/proxy-listener.js';",
    "export { z } from '../tls/leaf-cache.js';",
    "import '../tls/side-effect.js';",
    "const m = await import('../net/dynamic.js');",
  ].join('\n');
  t.same(
    imports(sample).map((i) => i.from),
    [
      '../http/completed-exchange.js',
      '../net/proxy-listener.js',
      '../tls/leaf-cache.js',
      '../tls/side-effect.js',
      '../net/dynamic.js',
    ],
  );
  t.ok(isTypeOnly("import { type A, type B as C } from '../http/completed-exchange.js'"));
  t.notOk(isTypeOnly("import { type A, b } from '../http/completed-exchange.js'"));
  const doc =
    '## Import rule\n\n| folder | may import |\n|---|---|\n| `a/` | `b/`, `c/d.ts` (types) |\n| `e.ts` | — |\n## Next\n| `x/` | `y/` |\n';
  t.same(
    [...readImportTable(doc)],
    [
      [
        'a/',
        [
          { target: 'b/', typesOnly: false },
          { target: 'c/d.ts', typesOnly: true },
        ],
      ],
      ['e.ts', []],
    ],
  );
  t.throws(() => readImportTable('## Import rule\n| `a/` | |\n| `a/` | |\n'), /two rows/);
});
