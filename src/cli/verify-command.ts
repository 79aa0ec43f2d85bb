import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ProvenanceProxyError } from '../errors.js';
import { formatImageReference } from '../oci/reference.js';
import { parsePublicKeyPem, type VerificationKey } from '../signing/public-key.js';
import type { EnvelopeCandidate } from '../verify/envelope-candidate.js';
import { readEnvelopeFile } from '../verify/envelope-file.js';
import { type FetchLike, fetchGrafeasEnvelopes } from '../verify/grafeas-occurrences.js';
import { formatSummary, summariseVerified } from '../verify/provenance-summary.js';
import {
  type ProvenanceFailureReason,
  type StatementRequirements,
  verifyProvenance,
} from '../verify/verify-provenance.js';
import { grafeasResourceUrl, parseVerifyTarget, type VerifyTarget } from '../verify/verify-target.js';

/** Exit codes of `provenance-proxy verify`; documented in docs/verification.md and --help. */
export const VERIFY_EXIT = {
  verified: 0,
  /** Reserved for unexpected internal errors (Node's own code for an uncaught exception). */
  internal: 1,
  usage: 2,
  /** The envelope file, a public key or the Grafeas store could not be read. */
  inputUnavailable: 3,
  /** The source holds no provenance for this image. */
  noProvenance: 4,
  /** No envelope is signed by a given public key (or none is a well-formed DSSE envelope). */
  signature: 5,
  /** Signed, but not an in-toto v1 statement with a SLSA v1 predicate. */
  statement: 6,
  /** Signed and well-formed, but the digest is not a subject of the statement. */
  notASubject: 7,
  /** Signed and about this image, but refused by --require-finished or --builder-id. */
  requirement: 8,
} as const;

const EXIT_BY_REASON: Record<ProvenanceFailureReason, number> = {
  no_provenance: VERIFY_EXIT.noProvenance,
  malformed_envelope: VERIFY_EXIT.signature,
  no_signatures: VERIFY_EXIT.signature,
  no_matching_key: VERIFY_EXIT.signature,
  payload_type: VERIFY_EXIT.statement,
  not_json: VERIFY_EXIT.statement,
  statement_type: VERIFY_EXIT.statement,
  predicate_type: VERIFY_EXIT.statement,
  predicate_invalid: VERIFY_EXIT.statement,
  not_a_subject: VERIFY_EXIT.notASubject,
  builder_mismatch: VERIFY_EXIT.requirement,
  not_finished: VERIFY_EXIT.requirement,
};

export const VERIFY_USAGE = `Usage: provenance-proxy verify <registry>/<repository>@sha256:<hex> --public-key PATH
         (--envelope FILE | --grafeas-url URL --grafeas-project P [--grafeas-token-file F])
         [--require-finished] [--builder-id ID] [--json]

Verifies the provenance of one image: a DSSE signature by a trusted key over the payload bytes as
received, an in-toto v1 statement with a SLSA v1 predicate, and the digest among its subjects.

  --public-key PATH         PEM public key (ECDSA P-256 or Ed25519) to trust; repeat for several
  --envelope FILE           a DSSE envelope (JSON) or an .intoto.jsonl file with one per line
  --grafeas-url URL         a Grafeas v1 store (ours, or Container Analysis)
  --grafeas-project P       the project holding the occurrences
  --grafeas-token-file F    bearer token for the store, read when used
  --require-finished        accept only the statement of a finished build (finishedOn set at
                            finalize); refuse image statements and snapshots of a running build
  --builder-id ID           accept only statements whose runDetails.builder.id is exactly ID
  --json                    print the result as JSON on stdout
  -h, --help                this text

Exit codes: 0 verified, 2 usage, 3 input unavailable (file, key or store), 4 no provenance for the
image, 5 no envelope signed by a given key, 6 not an in-toto v1 / SLSA v1 statement, 7 the digest is not
a subject, 8 refused by --require-finished or --builder-id. On failure a line 'verify: FAILED: <reason>' goes to stderr.
`;

export interface OutputStream {
  write(text: string): unknown;
}

export interface VerifyCommandDependencies {
  /** Replaces the global fetch for Grafeas requests. */
  readonly fetch?: FetchLike;
}

interface VerifyOptions {
  readonly target: VerifyTarget;
  readonly publicKeyPaths: readonly string[];
  readonly envelopePath?: string;
  readonly grafeas?: { readonly url: string; readonly project: string; readonly tokenFile?: string };
  readonly requirements: StatementRequirements;
  readonly json: boolean;
}

class UsageError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_VERIFY_USAGE', message);
  }
}

/** Ends a run with an exit code and a reason line. */
class VerifyFailure extends Error {
  constructor(
    readonly exitCode: number,
    readonly reason: string,
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const OPTIONS = {
  'public-key': { type: 'string', multiple: true },
  envelope: { type: 'string' },
  'grafeas-url': { type: 'string' },
  'grafeas-project': { type: 'string' },
  'grafeas-token-file': { type: 'string' },
  'require-finished': { type: 'boolean' },
  'builder-id': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseGrafeasSource(url: string, project: string | undefined, tokenFile: string | undefined) {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new UsageError('--grafeas-url must be an http:// or https:// URL');
  }
  if (project === undefined || !PROJECT_ID.test(project)) {
    throw new UsageError('--grafeas-project is required with --grafeas-url (letters, digits, . _ -)');
  }
  return { url, project, ...(tokenFile !== undefined ? { tokenFile } : {}) };
}

function parseVerifyArgs(argv: readonly string[]): VerifyOptions | 'help' {
  const { values, positionals } = parseCommandLine(argv);
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError('give exactly one <registry>/<repository>@sha256:<hex>');
  let target: VerifyTarget;
  try {
    target = parseVerifyTarget(positionals[0]!);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const publicKeyPaths = values['public-key'] ?? [];
  if (publicKeyPaths.length === 0) {
    throw new UsageError('--public-key is required: verification needs a key to trust');
  }
  const envelopePath = values.envelope;
  const url = values['grafeas-url'];
  const project = values['grafeas-project'];
  const tokenFile = values['grafeas-token-file'];
  const builderId = values['builder-id'];
  if (builderId !== undefined && builderId.trim() === '')
    throw new UsageError('--builder-id must not be empty');
  const requirements: StatementRequirements = {
    ...(values['require-finished'] === true ? { finished: true } : {}),
    ...(builderId !== undefined ? { builderId } : {}),
  };
  if ((envelopePath === undefined) === (url === undefined)) {
    throw new UsageError('give either --envelope FILE or --grafeas-url URL (exactly one)');
  }
  if (url === undefined) {
    if (project !== undefined || tokenFile !== undefined) {
      throw new UsageError('--grafeas-project and --grafeas-token-file need --grafeas-url');
    }
    return { target, publicKeyPaths, envelopePath: envelopePath!, requirements, json: values.json ?? false };
  }
  return {
    target,
    publicKeyPaths,
    grafeas: parseGrafeasSource(url, project, tokenFile),
    requirements,
    json: values.json ?? false,
  };
}

async function loadPublicKeys(paths: readonly string[]): Promise<VerificationKey[]> {
  const keys: VerificationKey[] = [];
  for (const path of paths) {
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new VerifyFailure(
        VERIFY_EXIT.inputUnavailable,
        'public_key',
        `cannot read public key ${path} (${code})`,
      );
    }
    try {
      keys.push(parsePublicKeyPem(pem, path));
    } catch (error) {
      throw new VerifyFailure(VERIFY_EXIT.inputUnavailable, 'public_key', (error as Error).message);
    }
  }
  return keys;
}

async function readToken(path: string): Promise<string> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token === '')
      throw new VerifyFailure(VERIFY_EXIT.inputUnavailable, 'source', `token file ${path} is empty`);
    return token;
  } catch (error) {
    if (error instanceof VerifyFailure) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new VerifyFailure(
      VERIFY_EXIT.inputUnavailable,
      'source',
      `cannot read token file ${path} (${code})`,
    );
  }
}

async function collectEnvelopes(options: VerifyOptions, fetch: FetchLike): Promise<EnvelopeCandidate[]> {
  try {
    if (options.envelopePath !== undefined) return await readEnvelopeFile(options.envelopePath);
    const grafeas = options.grafeas!;
    const token = grafeas.tokenFile !== undefined ? await readToken(grafeas.tokenFile) : undefined;
    return await fetchGrafeasEnvelopes({
      baseUrl: grafeas.url,
      project: grafeas.project,
      resourceUrl: grafeasResourceUrl(options.target),
      fetch,
      ...(token !== undefined ? { token } : {}),
    });
  } catch (error) {
    if (error instanceof VerifyFailure) throw error;
    throw new VerifyFailure(VERIFY_EXIT.inputUnavailable, 'source', (error as Error).message);
  }
}

/**
 * `provenance-proxy verify`. `argv` is what follows the subcommand. Resolves to the exit code; writes
 * the summary (or JSON) to `out` and a `verify: FAILED: <reason>` line to `err` on failure.
 */
export async function runVerifyCommand(
  argv: readonly string[],
  out: OutputStream,
  err: OutputStream,
  dependencies: VerifyCommandDependencies = {},
): Promise<number> {
  let options: VerifyOptions | 'help';
  try {
    options = parseVerifyArgs(argv);
  } catch (error) {
    err.write(`verify: ${(error as Error).message}\n\n${VERIFY_USAGE}`);
    return VERIFY_EXIT.usage;
  }
  if (options === 'help') {
    out.write(VERIFY_USAGE);
    return VERIFY_EXIT.verified;
  }
  const { target, json } = options;
  try {
    const keys = await loadPublicKeys(options.publicKeyPaths);
    const candidates = await collectEnvelopes(options, dependencies.fetch ?? (globalThis.fetch as FetchLike));
    const result = verifyProvenance(target, candidates, keys, options.requirements);
    if (!result.ok)
      throw new VerifyFailure(EXIT_BY_REASON[result.reason], result.reason, result.message, result.details);
    const summaries = result.verified.map((verified) => summariseVerified(verified, target));
    if (json) {
      out.write(
        `${JSON.stringify({ verified: true, reference: formatImageReference(target), statements: summaries }, null, 2)}\n`,
      );
    } else {
      out.write(summaries.map((summary) => formatSummary(summary, target)).join('\n'));
    }
    return VERIFY_EXIT.verified;
  } catch (error) {
    const failure =
      error instanceof VerifyFailure
        ? error
        : new VerifyFailure(VERIFY_EXIT.internal, 'internal', (error as Error).message);
    if (json) {
      const report = {
        verified: false,
        reference: formatImageReference(target),
        reason: failure.reason,
        message: failure.message,
        exitCode: failure.exitCode,
        details: failure.details,
      };
      out.write(`${JSON.stringify(report, null, 2)}\n`);
    }
    for (const detail of failure.details.length > 1 ? failure.details : [])
      err.write(`verify:   ${detail}\n`);
    err.write(`verify: FAILED: ${failure.message}\n`);
    return failure.exitCode;
  }
}
