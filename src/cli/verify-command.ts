import { readFile } from 'node:fs/promises';
import { formatHelp, parseOptions } from '../config/option-table.js';
import { readTokenFile } from '../config/token-file.js';
import { VERIFY_COMMAND } from '../config/verify-table.js';
import { InvalidOptionError, ProvenanceProxyError } from '../errors.js';
import { type ExitName, exitStatus } from '../exit-codes.js';
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

/** Which row of the exit table (docs/errors.md) each refusal ends `verify` with. */
const EXIT_BY_REASON: Record<ProvenanceFailureReason, ExitName> = {
  no_provenance: 'notFound',
  malformed_envelope: 'signature',
  no_signatures: 'signature',
  no_matching_key: 'signature',
  payload_type: 'statement',
  not_json: 'statement',
  statement_type: 'statement',
  predicate_type: 'statement',
  predicate_invalid: 'statement',
  not_a_subject: 'notASubject',
  builder_mismatch: 'requirement',
  not_finished: 'requirement',
};

export const VERIFY_USAGE = formatHelp(VERIFY_COMMAND);

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

/** Ends a run with a row of the exit table and a reason line. */
class VerifyFailure extends ProvenanceProxyError {
  constructor(
    readonly exit: ExitName,
    readonly reason: string,
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super('ERR_VERIFY', message);
  }
}

/** The command line, checked by VERIFY_COMMAND's table, plus the image reference; 'help' for --help. */
export function parseVerifyArgs(argv: readonly string[]): VerifyOptions | 'help' {
  const parsed = parseOptions(VERIFY_COMMAND, argv);
  if (parsed === 'help') return 'help';
  const { values, positionals } = parsed;
  if (positionals.length !== 1)
    throw new InvalidOptionError('<image>', 'give exactly one <registry>/<repository>@sha256:<hex>');
  let target: VerifyTarget;
  try {
    target = parseVerifyTarget(positionals[0]!);
  } catch (error) {
    throw new InvalidOptionError('<image>', (error as Error).message);
  }
  const requirements: StatementRequirements = {
    ...(values.requireFinished ? { finished: true } : {}),
    ...(values.builderId !== null ? { builderId: values.builderId } : {}),
  };
  const common = { target, publicKeyPaths: values.publicKeys, requirements, json: values.json };
  if (values.grafeasUrl === null) return { ...common, envelopePath: values.envelope! };
  const tokenFile = values.grafeasTokenFile ?? undefined;
  return {
    ...common,
    grafeas: { url: values.grafeasUrl, project: values.grafeasProject!, ...(tokenFile ? { tokenFile } : {}) },
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
      throw new VerifyFailure('unavailable', 'public_key', `cannot read public key ${path} (${code})`);
    }
    try {
      keys.push(parsePublicKeyPem(pem, path));
    } catch (error) {
      throw new VerifyFailure('unavailable', 'public_key', (error as Error).message);
    }
  }
  return keys;
}

async function collectEnvelopes(options: VerifyOptions, fetch: FetchLike): Promise<EnvelopeCandidate[]> {
  try {
    if (options.envelopePath !== undefined) return await readEnvelopeFile(options.envelopePath);
    const grafeas = options.grafeas!;
    const token =
      grafeas.tokenFile !== undefined
        ? await readTokenFile('--grafeas-token-file', grafeas.tokenFile)
        : undefined;
    return await fetchGrafeasEnvelopes({
      baseUrl: grafeas.url,
      project: grafeas.project,
      resourceUrl: grafeasResourceUrl(options.target),
      fetch,
      ...(token !== undefined ? { token } : {}),
    });
  } catch (error) {
    if (error instanceof VerifyFailure) throw error;
    throw new VerifyFailure('unavailable', 'source', (error as Error).message);
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
    return exitStatus('usage');
  }
  if (options === 'help') {
    out.write(VERIFY_USAGE);
    return exitStatus('ok');
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
    return exitStatus('ok');
  } catch (error) {
    const failure =
      error instanceof VerifyFailure
        ? error
        : new VerifyFailure('internal', 'internal', (error as Error).message);
    if (json) {
      const report = {
        verified: false,
        reference: formatImageReference(target),
        reason: failure.reason,
        message: failure.message,
        exitCode: exitStatus(failure.exit),
        details: failure.details,
      };
      out.write(`${JSON.stringify(report, null, 2)}\n`);
    }
    for (const detail of failure.details.length > 1 ? failure.details : [])
      err.write(`verify:   ${detail}\n`);
    err.write(`verify: FAILED: ${failure.message}\n`);
    return exitStatus(failure.exit);
  }
}
