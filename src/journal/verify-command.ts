import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { KNOWN_JOURNALS } from './journal-names.js';
import { type JournalVerifyReport, verifyJournalFile } from './journal-verify.js';

/**
 * Exit codes of `provenance-proxy journal verify`:
 * - 0: every journal checked is intact;
 * - 1: a journal is broken (bad line or broken chain before the end), unreadable, or none was found:
 *      the proxy would refuse to start on it;
 * - 2: intact except for a torn last line (an unfinished write from a crash): the proxy would save
 *      it aside, cut it off and start;
 * - 64: bad command line (EX_USAGE).
 */
export const VERIFY_EXIT = { ok: 0, broken: 1, torn: 2, usage: 64 } as const;

const USAGE = `usage: provenance-proxy journal verify (--data-dir DIR [--name FILE]... | --file PATH...) [--json]

Checks every line's hash and the chain of a journal, read-only.
  --data-dir DIR   check ${KNOWN_JOURNALS.join(' and ')} in DIR (those present)
  --name FILE      with --data-dir: check DIR/FILE instead (repeatable)
  --file PATH      check this journal file (repeatable)
  --json           print {"journals":[report...]} instead of a summary
Exit: 0 intact, 1 broken or missing, 2 torn last line only, 64 usage.
`;

interface VerifyArgs {
  readonly dataDir: string | null;
  readonly names: string[];
  readonly files: string[];
  readonly json: boolean;
}

class UsageError extends Error {}

export async function runJournalVerify(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  let args: VerifyArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.write(err.message === '' ? USAGE : `${err.message}\n${USAGE}`);
    return err.message === '' ? VERIFY_EXIT.ok : VERIFY_EXIT.usage;
  }
  const paths = await pathsToCheck(args);
  if (paths.length === 0) {
    out.write(
      args.json
        ? `${JSON.stringify({ journals: [], error: 'no journal found' })}\n`
        : `no journal found in ${args.dataDir}\n`,
    );
    return VERIFY_EXIT.broken;
  }
  const reports: JournalVerifyReport[] = [];
  for (const path of paths) reports.push(await verifyJournalFile(path));
  out.write(
    args.json ? `${JSON.stringify({ journals: reports }, null, 2)}\n` : reports.map(summarise).join(''),
  );
  if (reports.some((r) => r.error !== null)) return VERIFY_EXIT.broken;
  if (reports.some((r) => r.torn !== null)) return VERIFY_EXIT.torn;
  return VERIFY_EXIT.ok;
}

function parseArgs(argv: string[]): VerifyArgs {
  let dataDir: string | null = null;
  const names: string[] = [];
  const files: string[] = [];
  let json = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? splitOnce(arg) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--data-dir':
        dataDir = value();
        break;
      case '--name':
        names.push(value());
        break;
      case '--file':
        files.push(value());
        break;
      case '--json':
        json = true;
        break;
      case '--help':
      case '-h':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  if ((dataDir === null) === (files.length === 0)) throw new UsageError('give either --data-dir or --file');
  if (names.length > 0 && dataDir === null) throw new UsageError('--name needs --data-dir');
  if (names.some((n) => n.includes('/') || n === '..' || n === '.')) {
    throw new UsageError('--name takes a file name');
  }
  return { dataDir, names, files, json };
}

function splitOnce(arg: string): [string, string] {
  const at = arg.indexOf('=');
  return [arg.slice(0, at), arg.slice(at + 1)];
}

async function pathsToCheck(args: VerifyArgs): Promise<string[]> {
  if (args.dataDir === null) return args.files;
  const dir = args.dataDir;
  // Names asked for explicitly are reported even when missing; default ones only when present.
  if (args.names.length > 0) return args.names.map((n) => join(dir, n));
  const present: string[] = [];
  for (const name of KNOWN_JOURNALS) {
    const path = join(dir, name);
    if (await exists(path)) present.push(path);
  }
  return present;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function summarise(report: JournalVerifyReport): string {
  const upTo =
    report.lastHash === null
      ? 'no entries'
      : `${report.entries} entries, last seq ${report.lastSeq} ${report.lastHash}`;
  if (report.error !== null) {
    const where = report.error.line > 0 ? ` at line ${report.error.line}` : '';
    return `${report.path}: BROKEN${where} (${report.error.code}): ${report.error.message}; intact before it: ${upTo}\n`;
  }
  if (report.torn !== null) {
    return (
      `${report.path}: TORN last line (${report.torn.reason}): ${report.torn.bytes} bytes at offset ${report.torn.offset}; ` +
      `intact before it: ${upTo}. On start the proxy saves these bytes aside and cuts them off.\n`
    );
  }
  return `${report.path}: ok, ${upTo}\n`;
}
