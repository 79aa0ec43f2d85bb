import { exitNameOf } from './error-codes.js';
import { ProvenanceProxyError } from './errors.js';

/**
 * The one table of exit statuses, shared by every command (cosign's errors/exit_codes.go is the
 * model): a status means the same thing whichever command ends with it, so a script or a Tekton
 * step can act on it without knowing the command. Statuses are stable interface; add rows, never
 * renumber. docs/errors.md lists every row; test/unit/error-catalogue.test.ts checks both.
 */
export const EXIT = {
  ok: { status: 0, meaning: 'success: verified, intact, written, done' },
  internal: { status: 1, meaning: 'unexpected failure: a bug or an error nobody foresaw (no [ERR_…] code)' },
  usage: { status: 2, meaning: 'bad command line, option or configuration; nothing was done' },
  unavailable: {
    status: 3,
    meaning:
      'something the command needs could not be read or reached: a file, key, token, journal, the store, the control server',
  },
  notFound: {
    status: 4,
    meaning: 'nothing to act on: no provenance for the image (verify), no image pushed (report)',
  },
  signature: {
    status: 5,
    meaning: 'verify: no envelope is signed by a given key (or none is well-formed DSSE)',
  },
  statement: {
    status: 6,
    meaning: 'verify: signed, but not an in-toto v1 statement with a SLSA v1 predicate',
  },
  notASubject: { status: 7, meaning: 'verify: the digest is not a subject of the statement' },
  requirement: { status: 8, meaning: 'verify: refused by --require-finished or --builder-id' },
  digestDisagreement: {
    status: 9,
    meaning: "report: the registry contradicted an output's digest; nothing written",
  },
  outputUnwritable: { status: 10, meaning: 'report: the results directory could not be written' },
  journalBroken: {
    status: 11,
    meaning:
      'journal verify: a journal is broken, tampered (anchors), unreadable or missing; run: refuses to start on it',
  },
  journalTorn: {
    status: 12,
    meaning: 'journal verify: intact except for a torn last line (a crash mid-write)',
  },
  incomplete: {
    status: 13,
    meaning: 'outbox: some dead letters were not re-sent, or some lines are unreadable',
  },
  rulesDiffer: {
    status: 14,
    meaning: 'capture-rules --check: the live netfilter rules differ from the rule set',
  },
  failed: {
    status: 15,
    meaning: 'the command stopped on a typed error (its [ERR_…] code on stderr) none of the above covers',
  },
} as const satisfies Record<string, { readonly status: number; readonly meaning: string }>;

export type ExitName = keyof typeof EXIT;

/** Shorthand for `EXIT[name].status`. */
export function exitStatus(name: ExitName): number {
  return EXIT[name].status;
}

/**
 * The status a command ends with when `error` escapes it: a typed error's code says which row
 * (error-codes.ts `exit`, default `failed`); node:util parseArgs' refusals are usage errors;
 * anything else is `internal`.
 */
export function exitStatusOf(error: unknown): number {
  if (error instanceof ProvenanceProxyError) return exitStatus(exitNameOf(error.code));
  const nodeCode = (error as { code?: unknown } | null)?.code;
  if (typeof nodeCode === 'string' && nodeCode.startsWith('ERR_PARSE_ARGS_')) return exitStatus('usage');
  return exitStatus('internal');
}
