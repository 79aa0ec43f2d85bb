import type { EnvelopeCandidate } from './envelope-candidate.js';
import { EnvelopeSourceError } from './verify-errors.js';

/** The part of WHATWG fetch this module uses; the global `fetch` fits, and so can another team's client. */
export type FetchLike = (
  url: string,
  init: { method: 'GET'; headers: Record<string, string>; signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export interface GrafeasOccurrenceQuery {
  /** Base URL of the store, e.g. `https://containeranalysis.googleapis.com` or `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  readonly project: string;
  /** The `resourceUri` the occurrences carry: `https://<registry>/<repository>@sha256:<hex>`. */
  readonly resourceUrl: string;
  /** Bearer token; sent only in the Authorization header, never in messages. */
  readonly token?: string;
  readonly fetch: FetchLike;
  readonly timeoutMs?: number;
  readonly pageSize?: number;
  /** Stops a store that keeps returning page tokens from looping forever. */
  readonly maxPages?: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A Grafeas v1 `Envelope` in proto3 JSON (`payload` and `signatures[].sig` are base64 bytes) as a
 * DSSE envelope. The bytes are carried over as the same base64 text: nothing is decoded and re-encoded
 * on the way, so verification sees exactly what the store returned.
 */
export function envelopeFromGrafeas(envelope: Record<string, unknown>): unknown {
  const signatures = envelope.signatures;
  return {
    payloadType: envelope.payloadType ?? envelope.payload_type,
    payload: envelope.payload,
    signatures: Array.isArray(signatures)
      ? signatures.map((entry: unknown) =>
          isRecord(entry) ? { keyid: entry.keyid ?? '', sig: entry.sig } : entry,
        )
      : signatures,
  };
}

/** The store's own error message from a Grafeas/Google-style error body, shortened and printable. */
function storeMessage(body: string): string {
  let message = body;
  try {
    const parsed: unknown = JSON.parse(body);
    if (isRecord(parsed) && isRecord(parsed.error) && typeof parsed.error.message === 'string') {
      message = parsed.error.message;
    }
  } catch {
    // Not JSON: use the text as it is.
  }
  return message
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim()
    .slice(0, 200);
}

/**
 * Lists the occurrences about one image (`filter=resourceUrl="…"`, every page) and returns the DSSE
 * envelope of each occurrence that has one.
 */
export async function fetchGrafeasEnvelopes(query: GrafeasOccurrenceQuery): Promise<EnvelopeCandidate[]> {
  const base = query.baseUrl.replace(/\/+$/, '');
  const candidates: EnvelopeCandidate[] = [];
  const headers: Record<string, string> = { accept: 'application/json' };
  if (query.token !== undefined) headers.authorization = `Bearer ${query.token}`;
  let pageToken = '';
  for (let page = 0; page < (query.maxPages ?? 100); page++) {
    const params = new URLSearchParams({ filter: `resourceUrl="${query.resourceUrl}"` });
    params.set('pageSize', String(query.pageSize ?? 100));
    if (pageToken !== '') params.set('pageToken', pageToken);
    const url = `${base}/v1/projects/${encodeURIComponent(query.project)}/occurrences?${params}`;
    let status: number;
    let body: string;
    try {
      const response = await query.fetch(url, {
        method: 'GET',
        headers,
        signal: AbortSignal.timeout(query.timeoutMs ?? 30_000),
      });
      status = response.status;
      body = await response.text();
    } catch (error) {
      const why = (error as Error).name === 'TimeoutError' ? 'timed out' : (error as Error).message;
      throw new EnvelopeSourceError(
        'ERR_VERIFY_SOURCE_GRAFEAS',
        `Grafeas store ${base} unreachable: ${why}`,
        {
          cause: error,
        },
      );
    }
    if (status < 200 || status > 299) {
      throw new EnvelopeSourceError(
        'ERR_VERIFY_SOURCE_GRAFEAS',
        `Grafeas store answered HTTP ${status} listing occurrences: ${storeMessage(body)}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (error) {
      throw new EnvelopeSourceError('ERR_VERIFY_SOURCE_GRAFEAS', 'Grafeas store answered with invalid JSON', {
        cause: error,
      });
    }
    if (!isRecord(parsed)) {
      throw new EnvelopeSourceError('ERR_VERIFY_SOURCE_GRAFEAS', 'Grafeas store answered with a non-object');
    }
    const occurrences = Array.isArray(parsed.occurrences) ? parsed.occurrences : [];
    for (const [index, occurrence] of occurrences.entries()) {
      if (!isRecord(occurrence) || !isRecord(occurrence.envelope)) continue;
      // Stores other than ours may ignore or loosely apply the filter: keep only this image's.
      if (occurrence.resourceUri !== undefined && occurrence.resourceUri !== query.resourceUrl) continue;
      const source = typeof occurrence.name === 'string' ? occurrence.name : `occurrence #${page}.${index}`;
      candidates.push({ source, envelope: envelopeFromGrafeas(occurrence.envelope) });
    }
    pageToken = typeof parsed.nextPageToken === 'string' ? parsed.nextPageToken : '';
    if (pageToken === '') return candidates;
  }
  throw new EnvelopeSourceError(
    'ERR_VERIFY_SOURCE_GRAFEAS',
    'Grafeas store kept returning page tokens; gave up',
  );
}
