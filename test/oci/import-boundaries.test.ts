import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * DESIGN.md §2: the interpretation stages know the hot path only through the types of
 * src/http/completed-exchange.ts, and nothing of src/net or src/tls. Read from the import lines.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STAGES = ['src/oci', 'src/record', 'src/provenance'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
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

t.test('oci, record and provenance import no hot-path code', async (t) => {
  const files = STAGES.flatMap(sources);
  t.ok(files.length > 10, `${files.length} files checked`);
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const { statement, from } of imports(text)) {
      if (!from.startsWith('.')) continue;
      const target = relative(ROOT, join(ROOT, file, '..', from));
      if (target.startsWith('src/net/') || target.startsWith('src/tls/')) t.fail(`${file} imports ${target}`);
      if (target.startsWith('src/http/')) {
        t.equal(
          target,
          'src/http/completed-exchange.js',
          `${file} may import only completed-exchange from src/http`,
        );
        const typeOnly =
          /^(import|export)\s+type\s/.test(statement) ||
          /^import\s*\{(?:\s*type\s+\w+(?:\s+as\s+\w+)?\s*,?)+\s*\}\s*from/.test(statement);
        t.ok(typeOnly, `${file}: ${statement.replace(/\s+/g, ' ')}`);
      }
    }
  }
});

t.test('the import reader sees the forms it must', async (t) => {
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
});
