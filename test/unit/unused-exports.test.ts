import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * No dead code: every symbol exported from src/ is used, by an import in src/, test/ or bench/ or
 * inside its own file (an exported options type that names a parameter of an exported function is
 * API, not dead). Read with the TypeScript compiler over the project's own tsconfig, so aliases and
 * re-exports resolve to the symbol they name.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Loaded by name, not imported: the bin entry point. */
const ENTRY_POINTS = new Set(['src/cli/main.ts']);

function projectProgram(root: string): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (config === undefined) throw new Error('tsconfig.json could not be read');
  return ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true } });
}

/**
 * Every symbol the project's identifiers refer to, other than where each is declared: imports (through
 * their aliases), `namespace.member`, `(await import(...)).member`, type references, local uses.
 */
function usedSymbols(program: ts.Program, root: string): Set<ts.Symbol> {
  const checker = program.getTypeChecker();
  const used = new Set<ts.Symbol>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && !isDeclarationName(node)) {
      const symbol = checker.getSymbolAtLocation(node);
      if (symbol !== undefined)
        used.add(symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
    }
    ts.forEachChild(node, visit);
  };
  for (const file of program.getSourceFiles()) {
    if (!file.isDeclarationFile && !relative(root, file.fileName).startsWith('..')) visit(file);
  }
  return used;
}

function isDeclarationName(node: ts.Identifier): boolean {
  const parent = node.parent as ts.Node & { name?: ts.Node };
  return ts.isDeclarationStatement(parent) || ts.isVariableDeclaration(parent) ? parent.name === node : false;
}

/** `src/file.ts: name` for each export of src/ that nothing uses, not even its own file. */
function unusedExports(program: ts.Program, root: string): string[] {
  const checker = program.getTypeChecker();
  const used = usedSymbols(program, root);
  const unused: string[] = [];
  for (const file of program.getSourceFiles()) {
    const path = relative(root, file.fileName);
    if (file.isDeclarationFile || !path.startsWith('src/') || ENTRY_POINTS.has(path)) continue;
    const module = checker.getSymbolAtLocation(file);
    if (module === undefined) continue;
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      if (!used.has(target)) unused.push(`${path}: ${symbol.name}`);
    }
  }
  return unused.sort();
}

t.test(
  'every export of src/ is used: imported by src/, test/ or bench/, or used in its own file',
  async (t) => {
    const program = projectProgram(ROOT);
    const files = program.getSourceFiles().filter((file) => relative(ROOT, file.fileName).startsWith('src/'));
    t.ok(files.length > 100, `${files.length} files of src/ read`);
    const unused = unusedExports(program, ROOT);
    t.same(unused, [], `exports used nowhere (delete them):\n  ${unused.join('\n  ')}`);
  },
);

t.test('the reader counts every way of using an export, and only those', async (t) => {
  const dir = await makeTempDir('unused-exports');
  t.teardown(() => dir.remove());
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true },
      include: ['src', 'test'],
    }),
    'package.json': '{"type":"module"}',
    'src/a.ts': [
      'export const named = 1;',
      'export type OnlyAType = string;',
      'export function viaNamespace(): void {}',
      'export function viaDynamic(): void {}',
      'export interface LocalApi { x: number }',
      'export function api(options: LocalApi): number { return options.x; }',
      'export function dead(): void {}',
      'export const alsoDead = 2;',
    ].join('\n'),
    'src/b.ts':
      "import { named, type OnlyAType } from './a.js';\nexport const b: OnlyAType = String(named);\nexport { api as renamed } from './a.js';",
    'src/c.ts':
      "import * as a from './a.js';\nexport const c = (): void => a.viaNamespace();\nexport const d = async () => (await import('./a.js')).viaDynamic;",
    'test/t.ts':
      "import { b } from '../src/b.js';\nimport { renamed } from '../src/b.js';\nimport { c, d } from '../src/c.js';\nexport const all = [b, renamed, c, d];",
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir.path, name)), { recursive: true });
    writeFileSync(join(dir.path, name), text);
  }
  t.same(unusedExports(projectProgram(dir.path), dir.path), ['src/a.ts: alsoDead', 'src/a.ts: dead']);
});
