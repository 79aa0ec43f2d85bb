import { access, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { JOURNAL_VERIFY_COMMAND, type JournalVerifyArguments } from '../config/journal-table.js';
import { formatHelp, parseOptions } from '../config/option-table.js';
import { InvalidOptionError } from '../errors.js';
import { exitStatus } from '../exit-codes.js';
import { parsePublicKeyPem, type VerificationKey } from '../signing/public-key.js';
import { type AnchorReport, verifyAnchors } from './journal-anchor.js';
import { KNOWN_JOURNALS, OBSERVATIONS_JOURNAL } from './journal-names.js';
import { type JournalVerifyReport, verifyJournalFile } from './journal-verify.js';

const USAGE = formatHelp(JOURNAL_VERIFY_COMMAND);

type VerifyArgs = JournalVerifyArguments;

/** A journal's report, with its anchors when a key was given. */
type CheckedJournal = JournalVerifyReport & { readonly anchors?: AnchorReport };

export async function runJournalVerify(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  let parsed: ReturnType<typeof parseOptions<VerifyArgs>>;
  try {
    parsed = parseOptions(JOURNAL_VERIFY_COMMAND, argv);
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    out.write(`${err.message}\n${USAGE}`);
    return exitStatus('usage');
  }
  if (parsed === 'help') {
    out.write(USAGE);
    return exitStatus('ok');
  }
  const args = parsed.values;
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

async function pathsToCheck(args: VerifyArgs): Promise<string[]> {
  if (args.dataDir === null) return [...args.files];
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
