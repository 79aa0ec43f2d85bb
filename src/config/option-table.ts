import { parseArgs } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import { KINDS, type KindName } from './option-kinds.js';

/**
 * One option of one command: everything the parser, the environment, `--help` and the tests need.
 * `key` is the property of the command's options object; `default` is the text (or list) parsed
 * when neither argv nor the environment gives one; null means the option is simply absent (null).
 */
export interface OptionRow<Key extends string = string> {
  readonly key: Key;
  readonly flag: string;
  readonly kind: KindName;
  readonly default: string | readonly string[] | null;
  readonly help: string;
  /** Environment variable read when argv lacks the flag; default: the table's envPrefix + FLAG, if any. */
  readonly env?: string;
  /** Must be given (from argv or the environment). */
  readonly required?: boolean;
  /** Bounds of a `count`, `bytes` or `seconds`. */
  readonly min?: number;
  readonly max?: number;
  /** The values of a `choice`. */
  readonly choices?: readonly string[];
  /** --help placeholder instead of the kind's. */
  readonly value?: string;
}

/** A command's options: its table, the prose around the generated option list, and the rules across options. */
export interface CommandOptions<Values> {
  /** `run`, `outbox resend`, … as typed after `provenance-proxy`. */
  readonly command: string;
  /** The synopsis after `Usage: provenance-proxy `; more lines for alternatives. */
  readonly usage: readonly string[];
  readonly description: string;
  readonly rows: readonly OptionRow<keyof Values & string>[];
  /** Every row without `env` reads PREFIX + FLAG in upper case with `_` (run's convention). */
  readonly envPrefix?: string;
  /** Positional arguments allowed (verify's image reference); default none. */
  readonly positionals?: boolean;
  /** After the options in --help: exit codes, examples. */
  readonly epilogue?: string;
  /** Rules across options; throws InvalidOptionError naming the flag to change. */
  readonly check?: (values: Values) => void;
}

export interface ParsedOptions<Values> {
  readonly values: Values;
  readonly positionals: readonly string[];
}

export function envVariable(row: OptionRow, prefix: string | undefined): string | null {
  if (row.env !== undefined) return row.env;
  return prefix === undefined ? null : `${prefix}${row.flag.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Reads argv, then the environment (argv wins), then the defaults, and converts every value by its
 * kind's rule. `help` when `--help`/`-h` is given. Rules across options and `required` are not
 * checked here (see parseOptions): each row can be exercised alone.
 */
export function readOptions<Values>(
  spec: CommandOptions<Values>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ParsedOptions<Values> | 'help' {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(
          spec.rows.map((row) => {
            const kind = KINDS[row.kind];
            return kind.switch
              ? [row.flag, { type: 'boolean' as const }]
              : [row.flag, { type: 'string' as const, multiple: kind.multiple === true }];
          }),
        ),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: spec.positionals === true,
    });
  } catch (error) {
    const message = (error as Error).message;
    const flag = /'(--?[a-zA-Z0-9-]+)/.exec(message)?.[1] ?? 'arguments';
    throw new InvalidOptionError(flag, message.replace(/\. To specify.*$/s, ''));
  }
  if (parsed.values.help === true) return 'help';
  const values: Record<string, unknown> = {};
  for (const row of spec.rows) {
    const kind = KINDS[row.kind];
    const given = parsed.values[row.flag] as string | string[] | boolean | undefined;
    const variable = envVariable(row, spec.envPrefix);
    const fromEnv = variable === null ? undefined : env[variable];
    let raw: string | readonly string[] | null = row.default;
    if (given !== undefined) raw = typeof given === 'boolean' ? String(given) : given;
    else if (fromEnv !== undefined && fromEnv !== '') raw = kind.multiple ? splitList(fromEnv) : fromEnv;
    const option = `--${row.flag}`;
    if (raw === null) values[row.key] = null;
    else if (typeof raw === 'string') values[row.key] = kind.parse(option, raw, row);
    else values[row.key] = raw.map((item) => kind.parse(option, item, row));
  }
  return { values: values as Values, positionals: parsed.positionals };
}

/** readOptions, then `required` and the command's rules across options. */
export function parseOptions<Values>(
  spec: CommandOptions<Values>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
): ParsedOptions<Values> | 'help' {
  const parsed = readOptions(spec, argv, env);
  if (parsed === 'help') return parsed;
  for (const row of spec.rows) {
    const value = (parsed.values as Record<string, unknown>)[row.key];
    if (row.required === true && (value === null || (Array.isArray(value) && value.length === 0)))
      throw new InvalidOptionError(`--${row.flag}`, 'is required');
  }
  spec.check?.(parsed.values);
  return parsed;
}

/** When `a` is given, `b` must be too, and the other way round. */
export function together(a: string, aValue: unknown, b: string, bValue: unknown): void {
  if ((aValue === null) !== (bValue === null))
    throw new InvalidOptionError(aValue === null ? a : b, `${a} and ${b} go together`);
}

/** `--help` of a command, from its table: flag, placeholder, help, default and environment variable. */
export function formatHelp<Values>(spec: CommandOptions<Values>): string {
  // A line starting with a space continues the one before; any other is an alternative synopsis.
  const usage = spec.usage.map((line, i) =>
    line.startsWith(' ')
      ? `${' '.repeat(24)}${line.trimStart()}`
      : `${i === 0 ? 'Usage: ' : '       '}provenance-proxy ${line}`,
  );
  const options = spec.rows.map((row) => {
    const value = row.value ?? KINDS[row.kind].value;
    const flag = `--${row.flag}${value === '' ? '' : ` ${value}`}`;
    const shown = row.default !== null && row.kind !== 'switch' && row.default.length > 0;
    const notes = [
      ...(KINDS[row.kind].multiple && !row.help.includes('repeatable') ? ['repeatable'] : []),
      ...(row.required === true ? ['required'] : []),
      ...(shown ? [`default: ${formatDefault(row.default!)}`] : []),
    ];
    const variable = envVariable(row, spec.envPrefix);
    const lines = [`  ${flag.padEnd(28)} ${row.help}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`];
    if (variable !== null) lines.push(`  ${''.padEnd(28)} env ${variable}`);
    return lines.join('\n');
  });
  return [
    usage.join('\n'),
    '',
    spec.description.trimEnd(),
    '',
    'Options:',
    ...options,
    `  ${'-h, --help'.padEnd(28)} show this help`,
    ...(spec.epilogue === undefined ? [] : ['', spec.epilogue.trimEnd()]),
    '',
  ].join('\n');
}

function formatDefault(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.join(',');
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
