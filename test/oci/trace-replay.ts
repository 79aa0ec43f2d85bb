import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CompletedExchange } from '../../src/http/completed-exchange.js';

/**
 * Turns the recorded mitmdump traces (one JSON line per exchange, see
 * ../shared/oci-flows.md) into CompletedExchanges, as the hot path would have made them.
 * Traces carry per-body sha256 only, so `continuedHash` is always null: that is the
 * fallback path the interpreter must support.
 */
export interface TraceLine {
  readonly ts: number;
  readonly label: string;
  readonly http_version: string;
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly query: readonly (readonly [string, string])[];
  readonly req_headers: Record<string, string | string[]>;
  readonly req_body_size: number;
  readonly req_body_sha256: string;
  readonly req_body_b64?: string;
  readonly status: number;
  readonly resp_headers: Record<string, string | string[]>;
  readonly resp_body_size: number;
  readonly resp_body_sha256: string;
  readonly resp_body_b64?: string;
  readonly duration_ms: number;
}

export interface ExpectedRun {
  readonly flows: readonly ExpectedFlow[];
}

export interface ExpectedManifest {
  readonly ref: string;
  readonly digest: string;
  readonly docker_content_digest: string;
  readonly media_type: string;
  readonly kind: string;
  readonly subject?: { readonly digest: string };
  readonly children?: readonly {
    readonly digest: string;
    readonly descriptor: { readonly platform?: Record<string, string> };
  }[];
}

export interface ExpectedFlow {
  readonly id: string;
  readonly kind: 'push' | 'pull';
  readonly registry: string;
  readonly repository: string;
  readonly tags: readonly string[];
  readonly digest_refs: readonly string[];
  readonly manifest_digest: string;
  readonly manifests: readonly ExpectedManifest[];
  readonly registry_observed: {
    readonly blobs_uploaded: readonly { repo: string; digest: string }[];
    readonly blobs_mounted: readonly { repo: string; digest: string; from: string; status: number }[];
    readonly blobs_already_present: readonly string[];
    readonly manifest_reads: readonly { repo: string; ref: string; method: string }[];
    readonly blob_reads: readonly { repo: string; digest: string }[];
  };
}

const TRACES = fileURLToPath(new URL('../traces/', import.meta.url));

export function loadTrace(file = 'run-mitmdump.jsonl'): TraceLine[] {
  return readFileSync(`${TRACES}${file}`, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as TraceLine);
}

export function loadExpected(file = 'expected.example.json'): ExpectedRun {
  return JSON.parse(readFileSync(`${TRACES}${file}`, 'utf8')) as ExpectedRun;
}

export function traceToExchange(line: TraceLine, index: number): CompletedExchange {
  const query = new URLSearchParams(line.query.map(([k, v]) => [k, v] as [string, string])).toString();
  const finishedAt = Math.round(line.ts * 1000 + line.duration_ms);
  return {
    id: `${line.label}-${index}`,
    connectionId: `${line.label}`,
    scheme: line.scheme,
    authority: `${line.host}:${line.port}`,
    method: line.method,
    target: query.length > 0 ? `${line.path}?${query}` : line.path,
    httpVersion: line.http_version.replace(/^HTTP\//, ''),
    requestHeaders: line.req_headers,
    status: line.status,
    responseHeaders: line.resp_headers,
    request: body(line.req_body_size, line.req_body_sha256, line.req_body_b64),
    response: body(line.resp_body_size, line.resp_body_sha256, line.resp_body_b64 ?? tokenStandIn(line)),
    startedAt: Math.round(line.ts * 1000),
    finishedAt,
    failure: null,
    synthesized: false,
    requestRelayed: true,
    clientLeft: false,
  };
}

/**
 * The recording kept no token answers (they are credentials). The proxy captures them to tell a
 * token from a download (token-realms.ts), so a replay stands in the answer's shape, as the
 * lab's token server sends it; size and sha256 stay the recorded ones.
 */
function tokenStandIn(line: TraceLine): string | undefined {
  if (line.status !== 200 || !/\/token$/.test(line.path)) return undefined;
  const answer = { token: 'recorded-token', access_token: 'recorded-token', expires_in: 300, issued_at: '' };
  return Buffer.from(JSON.stringify(answer)).toString('base64');
}

function body(size: number, sha256: string, b64: string | undefined) {
  return {
    size,
    sha256,
    complete: true,
    captured: b64 === undefined ? null : Buffer.from(b64, 'base64'),
    captureOverflow: false,
    continuedHash: null,
  };
}

/** Exchanges grouped by flow label, in recording order. */
export function exchangesByFlow(lines: readonly TraceLine[]): Map<string, CompletedExchange[]> {
  const flows = new Map<string, CompletedExchange[]>();
  lines.forEach((line, index) => {
    const list = flows.get(line.label) ?? [];
    list.push(traceToExchange(line, index));
    flows.set(line.label, list);
  });
  return flows;
}
