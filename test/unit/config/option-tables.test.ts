// Every option of every command, driven from the tables themselves: each row is given good and bad
// values of its kind (from argv and, where it has one, from its environment variable), its default
// must obey its own rule, and --help must show it. A row added to any table is covered here
// without a line of test; a kind added without samples does not compile.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { type KindName, LOG_LEVELS } from '../../../src/config/option-kinds.js';
import {
  type CommandOptions,
  envVariable,
  formatHelp,
  type OptionRow,
  parseOptions,
  readOptions,
} from '../../../src/config/option-table.js';
import { InvalidOptionError } from '../../../src/errors.js';

type AnyCommand = CommandOptions<Record<string, unknown>>;

interface Samples {
  readonly good: readonly string[];
  readonly bad: readonly string[];
}

function bounds(row: OptionRow, min: number, max: number): [number, number] {
  return [row.min ?? min, row.max ?? max];
}

/** Per kind, values its rule must accept and refuse; bounded kinds test their own bounds. */
const SAMPLES: Record<KindName, (row: OptionRow) => Samples> = {
  string: () => ({ good: ['x', 'a value'], bad: ['', '  '] }),
  list: () => ({ good: ['a', '/etc/x.pem'], bad: [''] }),
  path: () => ({ good: ['/tmp/x', 'relative/dir'], bad: ['', ' '] }),
  'file-names': () => ({ good: ['observations.jsonl', 'a.b'], bad: ['a/b', '..', '.', ''] }),
  address: () => ({
    good: ['127.0.0.1:3128', '[::1]:80', 'localhost:0', '0.0.0.0:65535'],
    bad: ['nonsense', '127.0.0.1:99999', '::1:80', '[::1]', ':80', 'host:'],
  }),
  duration: () => ({ good: ['500ms', '30s', '1.5m', '1h'], bad: ['soon', '30', '-1s', '1d', ''] }),
  seconds: (row) => {
    const [, max] = bounds(row, 0, 3600);
    return { good: ['30', '0.5', String(max)], bad: ['0', '-1', String(max + 1), 'x', '30s'] };
  },
  bytes: (row) => {
    const [min] = bounds(row, 1, Number.MAX_SAFE_INTEGER);
    return {
      good: [String(min), `${Math.ceil(min / 1024 ** 2) + 1}MiB`],
      bad: [String(min - 1), '4 MiB', 'x', '1TiB', '-1'],
    };
  },
  count: (row) => {
    const [min, max] = bounds(row, 1, Number.MAX_SAFE_INTEGER);
    const tooHigh = max === Number.MAX_SAFE_INTEGER ? '99999999999999999999' : String(max + 1);
    return {
      good: [String(min), String(Math.min(max, min + 1000))],
      bad: [String(min - 1), tooHigh, '1.5', 'x'],
    };
  },
  url: () => ({
    good: ['http://127.0.0.1:9464', 'https://x.test/base/'],
    bad: ['ftp://x.test', 'not a url', 'http://user:secret@x.test', ''],
  }),
  'grafeas-url': () => ({
    good: ['http://127.0.0.1:8080', 'https://grafeas.test/api/'],
    bad: [
      'ftp://x.test',
      'http://u:p@x.test',
      'http://x.test/?a=b',
      'http://x.test/#f',
      'http://x.test/v1',
      'x',
    ],
  }),
  'postgres-url': () => ({
    good: ['postgres://u:p@h.test:5432/db', 'postgresql://h.test/db'],
    bad: ['mysql://x.test/db', 'postgres://', ''],
  }),
  'project-id': () => ({
    good: ['p', 'example.com:build', 'my-project_1.x'],
    bad: ['', '.p', 'a/b', 'x'.repeat(129), 'p q'],
  }),
  level: () => ({ good: [...LOG_LEVELS], bad: ['chatty', 'INFO', ''] }),
  choice: (row) => ({ good: [...(row.choices ?? [])], bad: ['nope', ''] }),
  patterns: () => ({
    good: ['*', 'example.com', '*.example.com', 'example.com:443', '[::1]:443', '10.0.0.1'],
    bad: ['bad host!', 'example.com:99999', ''],
  }),
  cidrs: () => ({ good: ['10.0.0.0/8', '::1/128', '127.0.0.1'], bad: ['10.0.0.0/33', 'nope', ''] }),
  'push-rules': () => ({
    good: ['r.test:5000/team/**', 'ghcr.io/org/*'],
    bad: ['no-repository', 'r.test:99999/a', ''],
  }),
  // argv gives a switch without a value; the environment spells it out.
  switch: () => ({ good: ['true', 'false'], bad: ['yes', '1'] }),
};

/** Every CommandOptions exported by src/config/, found by shape: a new table is picked up by itself. */
async function commandTables(): Promise<AnyCommand[]> {
  const dir = join(import.meta.dirname, '../../../src/config');
  const tables: AnyCommand[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const module = (await import(join(dir, file))) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      const candidate = value as Partial<AnyCommand> | null;
      if (
        typeof candidate === 'object' &&
        candidate !== null &&
        Array.isArray(candidate.rows) &&
        candidate.command
      )
        tables.push(candidate as AnyCommand);
    }
  }
  return tables;
}

const tables = await commandTables();
const exercised = new Set<string>();
const id = (spec: AnyCommand, row: OptionRow) => `${spec.command} --${row.flag}`;

function argvFor(row: OptionRow, value: string): string[] {
  if (row.kind === 'switch') return value === 'true' ? [`--${row.flag}`] : [];
  return [`--${row.flag}`, value];
}

function refusal(fn: () => unknown): InvalidOptionError | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
}

t.test('the tables cover every command', async (t) => {
  t.same(tables.map((spec) => spec.command).sort(), [
    'ca',
    'capture-rules',
    'inject',
    'journal verify',
    'outbox list',
    'outbox resend',
    'report',
    'run',
    'store',
    'verify',
  ]);
});

for (const spec of tables) {
  t.test(`${spec.command}: every option takes its kind's good values and refuses its bad ones`, async (t) => {
    const defaults = readOptions(spec, [], {});
    t.not(defaults, 'help', 'the defaults parse: every default obeys its own rule');
    const flags = new Set<string>();
    for (const row of spec.rows) {
      t.notOk(flags.has(row.flag), `${id(spec, row)} declared once`);
      flags.add(row.flag);
      const samples = SAMPLES[row.kind](row);
      t.ok(samples.good.length > 0 && samples.bad.length > 0, `${id(spec, row)} has samples`);
      const variable = envVariable(row, spec.envPrefix);
      for (const value of samples.good) {
        if (row.kind !== 'switch' || value === 'true') {
          const parsed = readOptions(spec, argvFor(row, value), {});
          if (parsed === 'help') throw new Error('help');
          t.not(parsed.values[row.key], null, `${id(spec, row)} ${JSON.stringify(value)} accepted`);
        }
        if (variable !== null) {
          const parsed = readOptions(spec, [], { [variable]: value });
          if (parsed === 'help') throw new Error('help');
          t.not(parsed.values[row.key], null, `${variable}=${JSON.stringify(value)} accepted`);
        }
      }
      for (const value of samples.bad) {
        const attempts: [string, () => unknown][] = [];
        if (row.kind !== 'switch')
          attempts.push([
            `${id(spec, row)} ${JSON.stringify(value)}`,
            () => readOptions(spec, argvFor(row, value), {}),
          ]);
        // An empty variable counts as unset (run's convention); every other bad value is refused.
        if (variable !== null && value !== '')
          attempts.push([
            `${variable}=${JSON.stringify(value)}`,
            () => readOptions(spec, [], { [variable]: value }),
          ]);
        for (const [label, attempt] of attempts) {
          const error = refusal(attempt);
          t.ok(error, `${label} refused`);
          t.equal(error?.option, `--${row.flag}`, `${label}: the error names the flag`);
          t.match(error?.message, new RegExp(`^invalid option --${row.flag}: \\S`), `${label}: and the rule`);
          t.notMatch(error?.message ?? '', /secret/, `${label}: never echoes a credential`);
        }
      }
      if (KIND_MULTIPLE(row)) {
        const [a, b] = [samples.good[0]!, samples.good.at(-1)!];
        const parsed = readOptions(spec, [...argvFor(row, a), ...argvFor(row, b)], {});
        if (parsed === 'help') throw new Error('help');
        t.equal((parsed.values[row.key] as unknown[]).length, 2, `${id(spec, row)} is repeatable`);
      }
      exercised.add(id(spec, row));
    }
  });

  t.test(`${spec.command}: --help is generated from the table`, async (t) => {
    t.equal(readOptions(spec, ['--help'], {}), 'help');
    t.equal(readOptions(spec, ['-h'], {}), 'help');
    const help = formatHelp(spec);
    t.match(help, /^Usage: provenance-proxy /);
    for (const row of spec.rows) {
      t.match(help, `--${row.flag}`, `help shows --${row.flag}`);
      const variable = envVariable(row, spec.envPrefix);
      if (variable !== null) t.match(help, `env ${variable}`, `help names ${variable}`);
      if (typeof row.default === 'string' && row.kind !== 'switch')
        t.match(help, `default: ${row.default}`, `help shows the default of --${row.flag}`);
    }
  });

  t.test(`${spec.command}: unknown options and missing required ones name the flag`, async (t) => {
    t.match(
      refusal(() => readOptions(spec, ['--no-such-option'], {})),
      {
        option: '--no-such-option',
        message: /Unknown option/,
      },
    );
    const required = spec.rows.filter((row) => row.required === true);
    for (const row of required) {
      const others = required
        .filter((r) => r !== row)
        .flatMap((r) => argvFor(r, SAMPLES[r.kind](r).good[0]!));
      t.match(
        refusal(() => parseOptions(spec, others, {})),
        { option: `--${row.flag}`, message: /required/ },
      );
    }
  });
}

function KIND_MULTIPLE(row: OptionRow): boolean {
  return ['list', 'patterns', 'cidrs', 'push-rules', 'file-names'].includes(row.kind);
}

t.test('every row of every table was exercised', async (t) => {
  const all = tables.flatMap((spec) => spec.rows.map((row) => id(spec, row)));
  t.ok(all.length > 60, `${all.length} options`);
  t.same([...exercised].sort(), [...all].sort());
});
