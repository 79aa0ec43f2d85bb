import { InvalidOptionError } from '../errors.js';

/** Limits of the OCI stage. Validated once; everything downstream trusts them. */
export interface InterpreterOptions {
  /** Manifest bodies up to this many bytes are captured and parsed; larger ones are recorded unparsed. */
  readonly manifestCaptureLimit: number;
  /** An upload session with no completed request for this long is forgotten. */
  readonly sessionIdleMs: number;
  readonly maxSessions: number;
  /** A redirect to storage not followed within this time is forgotten. */
  readonly redirectTtlMs: number;
  readonly maxPendingRedirects: number;
  /** Longest redirect chain followed from a registry to the bytes. */
  readonly maxRedirectHops: number;
}

export const DEFAULT_INTERPRETER_OPTIONS: InterpreterOptions = Object.freeze({
  manifestCaptureLimit: 4 * 1024 * 1024,
  // Generous: a single PATCH of a multi-GiB layer completes long after the POST that opened it.
  sessionIdleMs: 6 * 60 * 60 * 1000,
  maxSessions: 4096,
  redirectTtlMs: 10 * 60 * 1000,
  maxPendingRedirects: 1024,
  maxRedirectHops: 5,
});

/** 64 MiB: far above any manifest a registry accepts (distribution caps them at 4 MiB). */
const MAX_CAPTURE_LIMIT = 64 * 1024 * 1024;

export function resolveInterpreterOptions(overrides: Partial<InterpreterOptions> = {}): InterpreterOptions {
  const options = { ...DEFAULT_INTERPRETER_OPTIONS, ...overrides };
  requireInteger('manifestCaptureLimit', options.manifestCaptureLimit, 0, MAX_CAPTURE_LIMIT);
  requireInteger('sessionIdleMs', options.sessionIdleMs, 1, Number.MAX_SAFE_INTEGER);
  requireInteger('maxSessions', options.maxSessions, 1, 1_000_000);
  requireInteger('redirectTtlMs', options.redirectTtlMs, 1, Number.MAX_SAFE_INTEGER);
  requireInteger('maxPendingRedirects', options.maxPendingRedirects, 0, 1_000_000);
  requireInteger('maxRedirectHops', options.maxRedirectHops, 0, 20);
  return Object.freeze(options);
}

function requireInteger(option: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `must be an integer from ${min} to ${max}`);
  }
}
