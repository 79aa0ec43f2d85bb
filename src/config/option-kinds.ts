import { InvalidOptionError } from '../errors.js';
import { isProjectId, PROJECT_ID_RULE } from '../grafeas/names.js';
import { parseCidr } from './cidr.js';
import { parseHostPattern } from './host-pattern.js';
import { parsePushRule } from './push-rule.js';
import { parseGrafeasUrl, parseHttpUrl } from './urls.js';

/**
 * The shared rules: every option of every command names one of these kinds, so a duration, a
 * size, an address, a URL or a log level means the same thing whichever command reads it.
 */
export type KindName =
  | 'string'
  | 'list'
  | 'path'
  | 'file-names'
  | 'address'
  | 'duration'
  | 'seconds'
  | 'bytes'
  | 'count'
  | 'url'
  | 'grafeas-url'
  | 'postgres-url'
  | 'project-id'
  | 'level'
  | 'choice'
  | 'patterns'
  | 'cidrs'
  | 'push-rules'
  | 'switch';

/** The row fields a kind may read (bounds and choices); see OptionRow. */
export interface KindParameters {
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

export interface OptionKind {
  /** Placeholder in --help, e.g. DURATION. */
  readonly value: string;
  /** Repeatable on the command line; a comma list in the environment. */
  readonly multiple?: true;
  /** A flag without a value (`true`/`false` in the environment). */
  readonly switch?: true;
  /** Converts one value; throws InvalidOptionError naming `option` and the rule broken. */
  parse(option: string, text: string, row: KindParameters): unknown;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const KINDS: Record<KindName, OptionKind> = {
  string: { value: 'TEXT', parse: nonEmpty },
  list: { value: 'TEXT', multiple: true, parse: nonEmpty },
  path: { value: 'PATH', parse: nonEmpty },
  'file-names': {
    value: 'FILE',
    multiple: true,
    parse: (option, text) => {
      if (text === '' || text.includes('/') || text === '.' || text === '..')
        throw new InvalidOptionError(option, `"${text}" must be a file name (no "/", not "." or "..")`);
      return text;
    },
  },
  address: { value: 'HOST:PORT', parse: (option, text) => parseListenAddress(option, text) },
  duration: { value: 'DURATION', parse: (option, text) => parseDuration(option, text) },
  seconds: {
    value: 'SECONDS',
    parse: (option, text, { max = 3600 }) => {
      const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
      if (!(seconds > 0 && seconds <= max))
        throw new InvalidOptionError(option, `"${text}" must be a number of seconds from 0 to ${max}`);
      return Math.round(seconds * 1000);
    },
  },
  bytes: {
    value: 'SIZE',
    parse: (option, text, { min = 1 }) => {
      const bytes = parseByteSize(option, text);
      if (bytes < min) throw new InvalidOptionError(option, `must be a size >= ${min} bytes`);
      return bytes;
    },
  },
  count: {
    value: 'N',
    parse: (option, text, { min = 1, max = Number.MAX_SAFE_INTEGER }) => {
      const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
      if (!(value >= min && value <= max)) {
        const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
        throw new InvalidOptionError(option, `"${text}" must be a whole number ${range}`);
      }
      return value;
    },
  },
  url: {
    value: 'URL',
    parse: (option, text) => {
      parseHttpUrl(option, text);
      return text.replace(/\/+$/, '');
    },
  },
  'grafeas-url': {
    value: 'URL',
    parse: (option, text) => {
      parseGrafeasUrl(option, text);
      return text.replace(/\/+$/, '');
    },
  },
  'postgres-url': {
    value: 'URL',
    parse: (option, text) => {
      if (!/^postgres(?:ql)?:\/\/[^\s]+$/.test(text))
        throw new InvalidOptionError(option, 'must be a postgres:// or postgresql:// URL');
      return text;
    },
  },
  'project-id': {
    value: 'PROJECT',
    parse: (option, text) => {
      if (!isProjectId(text)) throw new InvalidOptionError(option, `"${text}" must be ${PROJECT_ID_RULE}`);
      return text;
    },
  },
  level: {
    value: 'LEVEL',
    parse: (option, text) => oneOf(option, text, LOG_LEVELS),
  },
  choice: { value: 'CHOICE', parse: (option, text, { choices = [] }) => oneOf(option, text, choices) },
  patterns: { value: 'PATTERN', multiple: true, parse: (option, text) => parseHostPattern(option, text) },
  cidrs: {
    value: 'CIDR',
    multiple: true,
    parse: (option, text) => {
      const cidr = parseCidr(text);
      if (cidr === null)
        throw new InvalidOptionError(option, `"${text}" must be an IP address or CIDR like 10.0.0.0/8`);
      return cidr;
    },
  },
  'push-rules': { value: 'RULE', multiple: true, parse: (option, text) => parsePushRule(option, text) },
  switch: {
    value: '',
    switch: true,
    parse: (option, text) => {
      if (text !== 'true' && text !== 'false') throw new InvalidOptionError(option, 'must be true or false');
      return text === 'true';
    },
  },
};

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

function nonEmpty(option: string, text: string): string {
  if (text.trim() === '') throw new InvalidOptionError(option, 'must not be empty');
  return text;
}

function oneOf(option: string, text: string, choices: readonly string[]): string {
  if (!choices.includes(text)) throw new InvalidOptionError(option, `must be one of ${choices.join(', ')}`);
  return text;
}

/** HOST:PORT, the host a name or an IPv4 literal, or an IPv6 literal in brackets (`[::1]:80`). */
export function parseListenAddress(option: string, text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535) {
    throw new InvalidOptionError(option, `"${text}" must be HOST:PORT (port 0-65535, IPv6 in brackets)`);
  }
  return { host: match[1] ?? match[2]!, port };
}

export function parseDuration(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) throw new InvalidOptionError(option, `"${text}" must be a duration like 500ms, 30s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}

export function parseByteSize(option: string, text: string): number {
  const match = /^(\d+)(B|KiB|MiB|GiB)?$/.exec(text);
  if (!match) throw new InvalidOptionError(option, `"${text}" must be a size like 4194304, 512KiB or 4MiB`);
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[(match[2] ?? 'B') as 'B'];
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new InvalidOptionError(option, `"${text}" is too large`);
  if (bytes < 1) throw new InvalidOptionError(option, 'must be at least 1 byte');
  return bytes;
}
