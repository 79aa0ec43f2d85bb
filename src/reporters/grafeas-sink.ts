import type http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { readTokenFile } from '../config/token-file.js';
import { parseGrafeasUrl } from '../config/urls.js';
import { InvalidOptionError, ProvenanceProxyError } from '../errors.js';
import { GrafeasClient, GrafeasNetworkError, GrafeasProtocolError } from '../grafeas/client.js';
import { formatFilter } from '../grafeas/filter.js';
import { noteName as formatNoteName, isProjectId, PROJECT_ID_RULE } from '../grafeas/names.js';
import {
  builderOf,
  buildNoteFor,
  buildOccurrenceFor,
  GrafeasMappingError,
  grafeasEnvelopeOf,
  inTotoSlsaProvenanceV1Of,
  noteIdForBuilder,
  resourceUriOf,
} from '../grafeas/provenance-mapping.js';
import type { Envelope, Occurrence } from '../grafeas/resources.js';
import { GrafeasApiError } from '../grafeas/status.js';
import { decodeBase64Strict } from '../signing/base64.js';
import { verifyEnvelope } from '../signing/dsse.js';
import { parsePublicKeyPem, type VerificationKey } from '../signing/public-key.js';
import { type ProvenanceSink, type SignedReport, SinkError } from './sink.js';

export interface GrafeasSinkOptions {
  /** `--grafeas-url`: the API root without `/v1`, e.g. `https://containeranalysis.googleapis.com`. */
  readonly url: string;
  /** `--grafeas-project`: notes and occurrences go to `projects/{project}`. */
  readonly project: string;
  /** `--grafeas-token-file`: bearer token, read again before every request (projected tokens rotate). */
  readonly tokenFile?: string | null;
  /** A ready agent (pool and trust). Exclusive with `ca`. */
  readonly agent?: http.Agent;
  /** Extra PEM roots trusted besides Node's bundled ones. Exclusive with `agent`. */
  readonly ca?: readonly string[];
  /** Deadline of one HTTP request. Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * The public key this proxy signs reports with. An occurrence already in the store counts as
   * this report only if one of its signatures verifies with it; without it, only an occurrence
   * carrying one of this report's exact signatures does.
   */
  readonly signerPublicKeyPem?: string;
  /** Occurrences per batchCreate request, 1 to 1000. Default 100. */
  readonly batchSize?: number;
  readonly logger: Logger;
}

/** The token file could not be read or is empty. Kubelet rewrites projected tokens in place, so this may pass. */
export class GrafeasTokenError extends ProvenanceProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_GRAFEAS_TOKEN', message, options);
  }
}

/** Occurrences per batchCreate request: well under the API's 1000, and a body of a few MiB at most. */
const DEFAULT_BATCH_SIZE = 100;
const MAX_BATCH_SIZE = 1000;
/**
 * Largest request body the sink sends when it can choose (batches are cut to fit): a store must
 * accept this much. One occurrence alone is below it by construction (MAX_STATEMENT_BYTES).
 */
export const REQUEST_BUDGET_BYTES = 1024 * 1024;
/** List requests in flight at once for one report: quick for a build of many images, gentle on read quotas. */
const LIST_CONCURRENCY = 4;

/**
 * Writes each signed report to a Grafeas v1 server (our store or Container Analysis): one BUILD
 * note per builder, then one BUILD occurrence per subject, carrying the statement as
 * `build.inTotoSlsaProvenanceV1` and the DSSE envelope as `envelope`.
 *
 * Exactly once: Grafeas names occurrences itself, so a retry cannot reuse a name. Before writing,
 * the sink lists the BUILD occurrences of each subject and skips those that already carry this
 * report: the same payload bytes and type, under the same note, with a signature that is this
 * report's own or verifies with this proxy's public key (an ECDSA re-signing of the same payload
 * is the same provenance). A report delivered again after a crash, a lost answer or a restart
 * therefore adds nothing. An occurrence with this payload but no such signature is a look-alike
 * (anyone with write access can copy a payload and attach junk): it does not count, the sink
 * writes its own beside it and logs the conflict as a warning with the look-alike's name.
 */
export class GrafeasSink implements ProvenanceSink {
  readonly name = 'grafeas';
  readonly #client: GrafeasClient;
  readonly #project: string;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #signerKey: VerificationKey | undefined;
  /** Notes known to exist, by name; a failed attempt is forgotten so the next delivery tries again. */
  readonly #notes = new Map<string, Promise<void>>();

  constructor(options: GrafeasSinkOptions) {
    const base = parseGrafeasUrl('--grafeas-url', options.url);
    if (!isProjectId(options.project)) {
      throw new InvalidOptionError('--grafeas-project', `"${options.project}" must be ${PROJECT_ID_RULE}`);
    }
    if (options.agent !== undefined && options.ca !== undefined) {
      throw new InvalidOptionError(
        '--grafeas-url',
        'give either a ready agent or extra CA certificates, not both',
      );
    }
    if (options.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new InvalidOptionError('grafeas timeout', 'must be a positive whole number of milliseconds');
    }
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_BATCH_SIZE)) {
      throw new InvalidOptionError(
        'grafeas batch size',
        `must be a whole number from 1 to ${MAX_BATCH_SIZE}`,
      );
    }
    this.#batchSize = batchSize;
    this.#signerKey =
      options.signerPublicKeyPem === undefined
        ? undefined
        : parsePublicKeyPem(options.signerPublicKeyPem, 'the signer public key');
    const tokenFile = options.tokenFile ?? undefined;
    if (tokenFile === '') throw new InvalidOptionError('--grafeas-token-file', 'must not be empty');
    this.#project = options.project;
    this.#logger = options.logger.child({ sink: 'grafeas' });
    const agent =
      options.agent ??
      (options.ca !== undefined && base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ca: [...rootCertificates, ...options.ca] })
        : undefined);
    this.#client = new GrafeasClient({
      baseUrl: base.href,
      ...(agent !== undefined ? { agent } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(tokenFile !== undefined ? { token: () => readToken(tokenFile) } : {}),
    });
  }

  async deliver(report: SignedReport): Promise<void> {
    try {
      await this.#deliver(report);
    } catch (error) {
      const sinkError = toSinkError(error);
      // The outbox logs every failure with its outcome (retry, auth, dead letter); this is the detail.
      this.#logger.debug(
        {
          reportId: report.reportId,
          code: sinkError.code,
          reason: sinkError.reason,
          retryable: sinkError.retryable,
        },
        `grafeas delivery failed: ${sinkError.message}`,
      );
      throw sinkError;
    }
  }

  /** Ends kept-alive connections. */
  close(): void {
    this.#client.close();
  }

  async #deliver(report: SignedReport, noteRecreated = false): Promise<void> {
    const { statement } = report;
    const builder = builderOf(statement);
    const resourceUris = [...new Set(statement.subject.map(resourceUriOf))];
    if (resourceUris.length === 0) {
      this.#logger.debug(
        { reportId: report.reportId },
        'statement has no subjects: nothing to write to grafeas',
      );
      return;
    }
    const provenance = inTotoSlsaProvenanceV1Of(statement);
    const envelope = grafeasEnvelopeOf(report.envelope);
    const noteName = formatNoteName(this.#project, noteIdForBuilder(builder.id));
    await this.#ensureNote(noteName, builder);

    const found = await mapLimited(resourceUris, LIST_CONCURRENCY, (uri) =>
      this.#alreadyWritten(uri, noteName, envelope),
    );
    const lookAlikes = found.flatMap((f) => f.lookAlikes);
    if (lookAlikes.length > 0) {
      this.#logger.warn(
        { reportId: report.reportId, noteName, lookAlikes },
        "grafeas holds occurrences with this report's payload but signatures that are not this proxy's: writing the real one beside them",
      );
    }
    const missing = resourceUris.filter((_, i) => !found[i]!.present);
    const occurrences = missing.map((uri) => buildOccurrenceFor(uri, noteName, provenance, envelope));
    let created: string[];
    try {
      created = await this.#create(occurrences);
    } catch (error) {
      if (noteRecreated || !(error instanceof GrafeasApiError && error.httpStatus === 404)) throw error;
      // The note went away since this sink saw it (an operator deleted it): make it again and start
      // over, listing again, since part of a batch may have been written.
      this.#notes.delete(noteName);
      return this.#deliver(report, true);
    }
    this.#logger.info(
      {
        reportId: report.reportId,
        kind: report.kind,
        noteName,
        created,
        alreadyPresent: resourceUris.length - missing.length,
        ...(lookAlikes.length > 0 ? { lookAlikes: lookAlikes.length } : {}),
      },
      'provenance written to grafeas',
    );
  }

  /** One request for one occurrence, batches for several. Returns the names the server gave. */
  async #create(occurrences: Occurrence[]): Promise<string[]> {
    if (occurrences.length === 0) return [];
    if (occurrences.length === 1) {
      const occurrence = await this.#client.createOccurrence(this.#project, occurrences[0]!);
      return [occurrence.name ?? ''];
    }
    const names: string[] = [];
    for (const batch of batchesOf(occurrences, this.#batchSize, REQUEST_BUDGET_BYTES)) {
      const answer = await this.#client.batchCreateOccurrences(this.#project, batch);
      names.push(...(answer.occurrences ?? []).map((o) => o.name ?? ''));
    }
    return names;
  }

  #ensureNote(noteName: string, builder: { id: string; version?: Record<string, string> }): Promise<void> {
    let pending = this.#notes.get(noteName);
    if (pending === undefined) {
      pending = this.#getOrCreateNote(noteName, builder);
      this.#notes.set(noteName, pending);
      pending.catch(() => this.#notes.delete(noteName));
    }
    return pending;
  }

  async #getOrCreateNote(
    noteName: string,
    builder: { id: string; version?: Record<string, string> },
  ): Promise<void> {
    try {
      const note = await this.#client.getNote(noteName);
      if (note.kind !== undefined && note.kind !== 'BUILD') {
        throw new GrafeasMappingError(`note ${noteName} exists but is a ${note.kind} note, not BUILD`);
      }
      return;
    } catch (error) {
      if (!(error instanceof GrafeasApiError && error.httpStatus === 404)) throw error;
    }
    const noteId = noteName.slice(noteName.lastIndexOf('/') + 1);
    try {
      await this.#client.createNote(this.#project, noteId, buildNoteFor(builder));
      this.#logger.info({ noteName, builderId: builder.id }, 'grafeas BUILD note created');
    } catch (error) {
      // Another proxy of the same builder created it first: that is the note we want.
      if (!(error instanceof GrafeasApiError && error.httpStatus === 409)) throw error;
    }
  }

  /** Whether this report is written for `resourceUri`; the names of look-alikes met on the way. */
  async #alreadyWritten(
    resourceUri: string,
    noteName: string,
    envelope: Envelope,
  ): Promise<{ present: boolean; lookAlikes: string[] }> {
    const filter = formatFilter([
      { field: 'resourceUrl', value: resourceUri },
      { field: 'kind', value: 'BUILD' },
    ]);
    const lookAlikes: string[] = [];
    for await (const occurrence of this.#client.allOccurrences(this.#project, filter)) {
      if (occurrence.noteName !== noteName || !carriesPayload(occurrence, envelope)) continue;
      if (this.#signedByUs(occurrence, envelope)) return { present: true, lookAlikes: [] };
      lookAlikes.push(occurrence.name ?? '(unnamed)');
    }
    return { present: false, lookAlikes };
  }

  /** One of the occurrence's signatures is this report's own, or verifies with this proxy's key. */
  #signedByUs(occurrence: Occurrence, envelope: Envelope): boolean {
    const ours = new Set((envelope.signatures ?? []).map((s) => s.sig));
    const theirs = occurrence.envelope?.signatures ?? [];
    if (theirs.some((s) => typeof s.sig === 'string' && ours.has(s.sig))) return true;
    if (this.#signerKey === undefined) return false;
    const verified = verifyEnvelope(
      {
        payloadType: occurrence.envelope?.payloadType,
        payload: occurrence.envelope?.payload,
        signatures: theirs.map((s) => ({ sig: s.sig, keyid: s.keyid ?? '' })),
      },
      [this.#signerKey],
    );
    return verified.ok;
  }
}

/** Consecutive batches of at most `maxCount` occurrences whose JSON stays within `maxBytes` (one alone may not). */
function batchesOf(occurrences: readonly Occurrence[], maxCount: number, maxBytes: number): Occurrence[][] {
  const batches: Occurrence[][] = [];
  let batch: Occurrence[] = [];
  let bytes = 0;
  for (const occurrence of occurrences) {
    // The comma between entries, plus the `{"occurrences":[...]}` wrapper, is in the slack.
    const size = Buffer.byteLength(JSON.stringify(occurrence), 'utf8') + 1;
    if (batch.length > 0 && (batch.length >= maxCount || bytes + size > maxBytes - 64)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(occurrence);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Same DSSE payload bytes and type: the same statement, whoever signed it when. */
function carriesPayload(occurrence: Occurrence, envelope: Envelope): boolean {
  const theirs = occurrence.envelope;
  if (theirs?.payloadType !== envelope.payloadType || typeof theirs.payload !== 'string') return false;
  try {
    return decodeBase64Strict(theirs.payload, 'payload').equals(Buffer.from(envelope.payload, 'base64'));
  } catch {
    return false;
  }
}

/** The shared token-file rule, as a GrafeasTokenError: kubelet rewrites projected tokens in place, so this may pass. */
async function readToken(path: string): Promise<string> {
  try {
    return await readTokenFile('--grafeas-token-file', path);
  } catch (error) {
    throw new GrafeasTokenError((error as Error).message, { cause: error });
  }
}

/**
 * Whether trying again can help. Only the payload itself proven unacceptable is final (and parked
 * in the dead-letter file by the outbox): a 400 whose google.rpc.Status says INVALID_ARGUMENT, a
 * 413, or a report this sink cannot map. Everything else — 5xx, 429, 401/403 (a token being
 * rotated or fixed), other 4xx (a proxy or gateway in the way) — may pass and is retried.
 * The client's other typed errors carry their own decision (network, timeout, token file, protocol:
 * retryable; an unmappable report: not).
 */
export function toSinkError(error: unknown): SinkError {
  if (error instanceof SinkError) return error;
  if (error instanceof GrafeasApiError) {
    const http = error.httpStatus;
    const auth = http === 401 || http === 403;
    const provenMalformed = http === 400 && error.stated && error.status === 'INVALID_ARGUMENT';
    return new SinkError(
      auth ? 'ERR_SINK_GRAFEAS_AUTH' : 'ERR_SINK_GRAFEAS_HTTP',
      `grafeas answered ${http} ${error.status}: ${error.message}`,
      { retryable: !(provenMalformed || http === 413), reason: `http_${http}`, auth, cause: error },
    );
  }
  if (error instanceof GrafeasNetworkError) {
    return new SinkError('ERR_SINK_GRAFEAS_NETWORK', error.message, {
      retryable: error.retryable,
      reason: error.reason,
      cause: error,
    });
  }
  if (error instanceof GrafeasTokenError) {
    return new SinkError('ERR_SINK_GRAFEAS_TOKEN', error.message, {
      retryable: error.retryable,
      reason: 'token_file',
      cause: error,
    });
  }
  if (error instanceof GrafeasMappingError) {
    return new SinkError('ERR_SINK_GRAFEAS_REPORT', error.message, {
      retryable: error.retryable,
      reason: 'invalid_report',
      cause: error,
    });
  }
  if (error instanceof GrafeasProtocolError) {
    return new SinkError('ERR_SINK_GRAFEAS_PROTOCOL', error.message, {
      retryable: error.retryable,
      reason: 'protocol',
      cause: error,
    });
  }
  return new SinkError(
    'ERR_SINK_GRAFEAS',
    `grafeas delivery failed unexpectedly: ${(error as Error)?.message ?? String(error)}`,
    { retryable: true, reason: 'internal', cause: error },
  );
}
