import { access, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../errors.js';
import { exitStatus } from '../exit-codes.js';
import { parsePublicKeyPem, type VerificationKey } from '../signing/public-key.js';
import { type AnchorReport, verifyAnchors } from './journal-anchor.js';
import { KNOWN_JOURNALS, OBSERVATIONS_JOURNAL } from './journal-names.js';
import { type JournalVerifyReport, verifyJournalFile } from './journal-verify.js';

const USAGE = `usage: provenance-proxy journal verify (--data-dir DIR [--name FILE]... | --file PATH...)
                                      [--public-key PEM... [--require-sealed]] [--json]

Checks every line's hash and the chain of a journal, read-only.
  --data-dir DIR      check ${KNOWN_JOURNALS.join(' and ')} in DIR (those present)
  --name FILE         with --data-dir: check DIR/FILE instead (repeatable)
  --file PATH         check this journal file (repeatable)
  --public-key PEM    also check the journal's signed anchors with this key (repeatable); applies to
                      ${OBSERVATIONS_JOURNAL} and to every --file
  --require-sealed    with --public-key: the journal must end with an anchor of all before it
                      (written at finalize and at a clean stop); detects a cut tail
  --json              print {"journals":[report...]} instead of a summary
Exit (docs/errors.md): 0 intact, 11 broken, tampered or missing, 12 torn last line only, 2 usage.
`;

interface VerifyArgs {
  readonly dataDir: string | null;
  readonly names: string[];
  readonly files: string[];
  readonly publicKeys: string[];
  readonly requireSealed: boolean;
  readonly json: boolean;
}

/** A journal's report, with its anchors when a key was given. */
type CheckedJournal = JournalVerifyReport & { readonly anchors?: AnchorReport };

export async function runJournalVerify(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  let args: VerifyArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.write(err.message === '' ? USAGE : `${err.message}\n${USAGE}`);
    return err.message === '' ? exitStatus('ok') : exitStatus('usage');
  }
  const paths = await pathsToCheck(args);
  if (paths.length === 0) {
    out.write(
      args.json
        ? `${JSON.stringify({ journals: [], error: 'no journal found' })}\n`
        : `no journal found in ${args.dataDir}\n`,
    );
    return exitStatus('journalBroken');
  }
  let keys: VerificationKey[];
  try {
    keys = await Promise.all(args.publicKeys.map(async (p) => parsePublicKeyPem(await readFile(p), p)));
  } catch (err) {
    out.write(`${(err as Error).message}\n${USAGE}`);
    return exitStatus('usage');
  }
  const reports: CheckedJournal[] = [];
  for (const path of paths) {
    const report = await verifyJournalFile(path);
    const anchored = keys.length > 0 && (args.dataDir === null || basename(path) === OBSERVATIONS_JOURNAL);
    reports.push(anchored ? { ...report, anchors: await verifyAnchors(path, keys, report.entries) } : report);
  }
  out.write(
    args.json
      ? `${JSON.stringify({ journals: reports }, null, 2)}\n`
      : reports.map((r) => summarise(r, args.requireSealed)).join(''),
  );
  if (reports.some((r) => r.error !== null || anchorFailure(r, args.requireSealed) !== null))
    return exitStatus('journalBroken');
  if (reports.some((r) => r.torn !== null)) return exitStatus('journalTorn');
  return exitStatus('ok');
}

function parseArgs(argv: string[]): VerifyArgs {
  let dataDir: string | null = null;
  const names: string[] = [];
  const files: string[] = [];
  const publicKeys: string[] = [];
  let requireSealed = false;
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
      case '--public-key':
        publicKeys.push(value());
        break;
      case '--require-sealed':
        requireSealed = true;
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
  if (requireSealed && publicKeys.length === 0) throw new UsageError('--require-sealed needs --public-key');
  return { dataDir, names, files, publicKeys, requireSealed, json };
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

/** Why the anchors make this journal untrustworthy, or null. */
function anchorFailure(report: CheckedJournal, requireSealed: boolean): string | null {
  const anchors = report.anchors;
  if (anchors === undefined || report.error !== null) return null;
  const first = anchors.problems[0];
  if (first !== undefined) return `anchor at line ${first.line}: ${first.message}`;
  if (report.entries > 0 && anchors.anchoredThrough === null)
    return 'no anchor verifies with the given keys: nothing proves who wrote this journal';
  if (requireSealed && !anchors.sealed)
    return `not sealed: ${anchors.unanchored} entries after seq ${anchors.anchoredThrough} are not covered by an anchor (a cut or unfinished journal)`;
  return null;
}

function describeAnchors(report: CheckedJournal, requireSealed: boolean): string {
  const anchors = report.anchors;
  if (anchors === undefined || report.error !== null) return '';
  const failure = anchorFailure(report, requireSealed);
  if (failure !== null) return `${report.path}: ANCHORS BROKEN: ${failure}\n`;
  if (report.entries === 0) return '';
  const sealed = anchors.sealed
    ? 'sealed (ends with an anchor of everything before it)'
    : `${anchors.unanchored} entries after it are not signed (a live or killed proxy, or a cut tail)`;
  return `${report.path}: ${anchors.anchors} anchors verify, signed through seq ${anchors.anchoredThrough}; ${sealed}\n`;
}

function summarise(report: CheckedJournal, requireSealed: boolean): string {
  return summariseChain(report) + describeAnchors(report, requireSealed);
}

function summariseChain(report: JournalVerifyReport): string {
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
