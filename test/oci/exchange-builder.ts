import { createHash, type Hash } from 'node:crypto';
import type { CompletedExchange, ExchangePlan, RequestHead } from '../../src/http/completed-exchange.js';
import type { OciEvent } from '../../src/oci/events.js';
import type { OciStage } from '../../src/oci/oci-stage.js';

/**
 * Builds CompletedExchanges the way the hot path does: the stage's planner is asked at the
 * request head, then bodies are hashed, captured and (when planned) fed into a *copy* of the
 * session's hash state. Only the registry is imaginary; the hashing is real.
 */
export interface ExchangeSpec {
  readonly method: string;
  readonly target: string;
  readonly authority?: string;
  readonly scheme?: 'http' | 'https';
  readonly requestHeaders?: Record<string, string | string[]>;
  readonly requestBody?: Buffer | string;
  readonly status: number | null;
  readonly responseHeaders?: Record<string, string | string[]>;
  readonly responseBody?: Buffer | string;
  /** The request body was cut short (client abort, reset). */
  readonly requestIncomplete?: boolean;
  readonly synthesized?: boolean;
  readonly failure?: { code: string; message: string } | null;
  /** Default: the whole request went upstream unless it was cut or the proxy answered itself. */
  readonly requestRelayed?: boolean;
  readonly clientLeft?: boolean;
}

export const REGISTRY = 'registry.test:5000';

let counter = 0;
let clock = 1_800_000_000_000;

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Plans with the stage's planner, then makes the exchange the hot path would have produced. */
export function exchange(stage: OciStage, spec: ExchangeSpec): CompletedExchange {
  const authority = spec.authority ?? REGISTRY;
  const scheme = spec.scheme ?? 'https';
  const head: RequestHead = {
    scheme,
    authority,
    method: spec.method,
    target: spec.target,
    headers: spec.requestHeaders ?? {},
  };
  const plan = stage.planner(head);
  return build(spec, plan);
}

/** Same, with an explicit plan (as if the planner had decided otherwise). */
export function build(spec: ExchangeSpec, plan: ExchangePlan): CompletedExchange {
  const requestBody = toBuffer(spec.requestBody);
  const responseBody = toBuffer(spec.responseBody);
  const id = `t-${++counter}`;
  clock += 10;
  const startedAt = clock;
  clock += 5;
  const finishedAt = clock;
  return {
    id,
    connectionId: 'c-1',
    scheme: spec.scheme ?? 'https',
    authority: spec.authority ?? REGISTRY,
    method: spec.method,
    target: spec.target,
    httpVersion: '1.1',
    requestHeaders: spec.requestHeaders ?? {},
    status: spec.status,
    responseHeaders: spec.responseHeaders ?? {},
    request: {
      ...bodyRecord(requestBody, plan.captureRequestBytes),
      complete: !spec.requestIncomplete,
      continuedHash: continued(plan.continueRequestHash, requestBody),
    },
    response: { ...bodyRecord(responseBody, plan.captureResponseBytes), complete: true, continuedHash: null },
    startedAt,
    finishedAt,
    failure: spec.failure ?? null,
    synthesized: spec.synthesized ?? false,
    requestRelayed: spec.requestRelayed ?? (!spec.requestIncomplete && !spec.synthesized),
    clientLeft: spec.clientLeft ?? false,
  };
}

/** Plan, build and interpret in one go; returns the events. */
export function run(stage: OciStage, spec: ExchangeSpec): readonly OciEvent[] {
  return stage.accept(exchange(stage, spec));
}

function bodyRecord(body: Buffer, captureLimit: number) {
  const wanted = captureLimit > 0;
  const fits = body.length <= captureLimit;
  return {
    size: body.length,
    sha256: sha256(body),
    captured: wanted && fits ? Buffer.from(body) : null,
    captureOverflow: wanted && !fits,
  };
}

/** What the hot path does with `continueRequestHash`: copy the state (never feed it), then feed the body. */
function continued(seed: Hash | 'fresh' | null, body: Buffer): Hash | null {
  if (seed === null) return null;
  const hash = seed === 'fresh' ? createHash('sha256') : seed.copy();
  return hash.update(body);
}

function toBuffer(body: Buffer | string | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  return typeof body === 'string' ? Buffer.from(body) : body;
}

/** Response headers of a registry accepting an upload step. */
export function uploadAccepted(location: string, uuid: string, range: string): Record<string, string> {
  return { location, 'docker-upload-uuid': uuid, range };
}

export function ofType<T extends OciEvent['type']>(
  events: readonly OciEvent[],
  type: T,
): Extract<OciEvent, { type: T }>[] {
  return events.filter((event): event is Extract<OciEvent, { type: T }> => event.type === type);
}
