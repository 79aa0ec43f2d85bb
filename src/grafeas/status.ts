import { ProvenanceProxyError } from '../errors.js';

/**
 * The google.rpc.Code names Grafeas answers with, and the HTTP status each maps to
 * (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto).
 * The JSON error body carries both, so a client can act on either.
 */
export const HTTP_STATUS_OF = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UNKNOWN: 500,
  DATA_LOSS: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
} as const;

export type GrafeasStatus = keyof typeof HTTP_STATUS_OF;

/** `{"error":{"code":400,"message":"…","status":"INVALID_ARGUMENT"}}`, as Google APIs answer errors. */
export interface GrafeasErrorBody {
  error: { code: number; message: string; status: string };
}

/**
 * A Grafeas API error: raised by the store to answer a request, and by the client when a
 * server answered one. `status` is the canonical name; `httpStatus` what went over the wire.
 */
export class GrafeasApiError extends ProvenanceProxyError {
  readonly status: string;
  readonly httpStatus: number;
  /** A client read `status` from the server's google.rpc.Status body, rather than guessing it from the HTTP status. */
  readonly stated: boolean;
  /** `status` is a GrafeasStatus when we raise it; a client keeps whatever name a server sent. */
  constructor(
    status: GrafeasStatus | string,
    message: string,
    options: { httpStatus?: number; cause?: unknown; stated?: boolean } = {},
  ) {
    // A name a server made up gets UNKNOWN's code: codes are a closed set (metrics labels, alerts).
    const known = Object.hasOwn(HTTP_STATUS_OF, status) ? (status as GrafeasStatus) : 'UNKNOWN';
    super(`ERR_GRAFEAS_${known}`, message, options);
    this.status = status;
    this.httpStatus = options.httpStatus ?? HTTP_STATUS_OF[status as GrafeasStatus] ?? 500;
    this.stated = options.stated ?? false;
  }

  toBody(): GrafeasErrorBody {
    return { error: { code: this.httpStatus, message: this.message, status: this.status } };
  }
}

export function invalidArgument(message: string): GrafeasApiError {
  return new GrafeasApiError('INVALID_ARGUMENT', message);
}

export function unimplemented(message: string): GrafeasApiError {
  return new GrafeasApiError('UNIMPLEMENTED', message);
}

export function notFound(message: string): GrafeasApiError {
  return new GrafeasApiError('NOT_FOUND', message);
}

/** The canonical status name for an HTTP status, for servers (or proxies in front of them) that answer without a JSON error body. */
export function statusOfHttp(httpStatus: number): GrafeasStatus {
  switch (httpStatus) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'ALREADY_EXISTS';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 501:
      return 'UNIMPLEMENTED';
    case 503:
      return 'UNAVAILABLE';
    case 504:
      return 'DEADLINE_EXCEEDED';
    default:
      return httpStatus >= 500 ? 'INTERNAL' : 'UNKNOWN';
  }
}

const MAX_MESSAGE_CHARS = 1000;

/**
 * Reads a server's error answer. Google-style bodies give status and message; anything else
 * (an HTML page from a load balancer, plain text) is kept, shortened, as the message.
 */
export function errorFromResponse(httpStatus: number, bodyText: string): GrafeasApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (typeof error === 'object' && error !== null) {
    const { message, status } = error as { message?: unknown; status?: unknown };
    if (typeof message === 'string') {
      const stated = typeof status === 'string' && status !== '';
      const name = stated ? status : statusOfHttp(httpStatus);
      return new GrafeasApiError(name, message.slice(0, MAX_MESSAGE_CHARS), { httpStatus, stated });
    }
  }
  const text = bodyText.trim().slice(0, MAX_MESSAGE_CHARS);
  return new GrafeasApiError(statusOfHttp(httpStatus), text === '' ? `HTTP ${httpStatus}` : text, {
    httpStatus,
  });
}
