import http from 'node:http';
import https from 'node:https';
import { ProvenanceProxyError } from '../errors.js';
import { isPlainObject } from './json-codec.js';
import { projectName } from './names.js';
import type {
  BatchCreateNotesResponse,
  BatchCreateOccurrencesResponse,
  ListNotesResponse,
  ListOccurrencesResponse,
  ListOptions,
  Note,
  Occurrence,
} from './resources.js';
import { errorFromResponse } from './status.js';

/** The server could not be reached, or did not answer in time. */
export class GrafeasNetworkError extends ProvenanceProxyError {
  readonly reason: 'network' | 'timeout';
  constructor(reason: 'network' | 'timeout', message: string, options?: { cause?: unknown }) {
    super(reason === 'timeout' ? 'ERR_GRAFEAS_TIMEOUT' : 'ERR_GRAFEAS_NETWORK', message, options);
    this.reason = reason;
  }
}

/** The server answered 2xx with something that is not a JSON object. */
export class GrafeasProtocolError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_GRAFEAS_PROTOCOL', message);
  }
}

export interface GrafeasClientOptions {
  /** Where the API lives, without `/v1`: `https://containeranalysis.googleapis.com`, `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** Called before every request; a rotating token is picked up at its next use. undefined: no Authorization header. */
  readonly token?: () => Promise<string | undefined>;
  /** Connection pool and trust (an https.Agent with an extra CA). Default: a keep-alive agent with the system roots. */
  readonly agent?: http.Agent;
  /** Deadline for one request, connection to last byte. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Grafeas v1 over REST, with nothing but node:http(s): the routes of grafeas.proto's HTTP
 * annotations. Non-2xx answers reject with GrafeasApiError (status, HTTP status, the server's
 * message); transport failures with GrafeasNetworkError.
 */
export class GrafeasClient {
  readonly #base: URL;
  readonly #token: (() => Promise<string | undefined>) | undefined;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;

  constructor(options: GrafeasClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`Grafeas base URL must be http or https, not ${base.protocol}`);
    }
    this.#base = base;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#agent =
      options.agent ??
      (base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true })
        : new http.Agent({ keepAlive: true }));
  }

  getNote(name: string): Promise<Note> {
    return this.#call<Note>('GET', name);
  }

  createNote(project: string, noteId: string, note: Note): Promise<Note> {
    return this.#call<Note>('POST', `${projectName(project)}/notes`, {
      query: { noteId },
      body: note,
    });
  }

  batchCreateNotes(project: string, notes: Record<string, Note>): Promise<BatchCreateNotesResponse> {
    return this.#call('POST', `${projectName(project)}/notes:batchCreate`, { body: { notes } });
  }

  listNotes(project: string, options: ListOptions = {}): Promise<ListNotesResponse> {
    return this.#call('GET', `${projectName(project)}/notes`, { query: listQuery(options) });
  }

  createOccurrence(project: string, occurrence: Occurrence): Promise<Occurrence> {
    return this.#call<Occurrence>('POST', `${projectName(project)}/occurrences`, {
      body: occurrence,
    });
  }

  batchCreateOccurrences(
    project: string,
    occurrences: Occurrence[],
  ): Promise<BatchCreateOccurrencesResponse> {
    return this.#call('POST', `${projectName(project)}/occurrences:batchCreate`, { body: { occurrences } });
  }

  getOccurrence(name: string): Promise<Occurrence> {
    return this.#call<Occurrence>('GET', name);
  }

  getOccurrenceNote(name: string): Promise<Note> {
    return this.#call<Note>('GET', `${name}/notes`);
  }

  listOccurrences(project: string, options: ListOptions = {}): Promise<ListOccurrencesResponse> {
    return this.#call('GET', `${projectName(project)}/occurrences`, { query: listQuery(options) });
  }

  /** Every occurrence matching `filter`, following page tokens. */
  async *allOccurrences(project: string, filter: string, pageSize = 100): AsyncGenerator<Occurrence> {
    let pageToken: string | undefined;
    do {
      const page = await this.listOccurrences(project, {
        filter,
        pageSize,
        ...(pageToken ? { pageToken } : {}),
      });
      yield* page.occurrences ?? [];
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  async deleteOccurrence(name: string): Promise<void> {
    await this.#call('DELETE', name);
  }

  /** Ends kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  async #call<T = Record<string, unknown>>(
    method: string,
    resourcePath: string,
    request: { query?: Record<string, string | undefined>; body?: unknown } = {},
  ): Promise<T> {
    const url = new URL(this.#base.href);
    const prefix = url.pathname.replace(/\/+$/, '');
    url.pathname = `${prefix}/v1/${resourcePath.split('/').map(encodePathSegment).join('/')}`;
    for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.#token === undefined ? undefined : await this.#token();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let body: Buffer | undefined;
    if (request.body !== undefined) {
      body = Buffer.from(JSON.stringify(request.body), 'utf8');
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = String(body.length);
    }
    const { status, text } = await this.#send(method, url, headers, body);
    if (status < 200 || status > 299) throw errorFromResponse(status, text);
    if (text.trim() === '') return {} as T;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new GrafeasProtocolError(
        `${method} ${url.pathname} answered ${status} with a body that is not JSON`,
      );
    }
    if (!isPlainObject(parsed)) {
      throw new GrafeasProtocolError(
        `${method} ${url.pathname} answered ${status} with JSON that is not an object`,
      );
    }
    // The shape is the server's promise; callers check what they rely on (envelope bytes, names).
    return parsed as T;
  }

  #send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<{ status: number; text: string }> {
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.#agent });
      const deadline = setTimeout(() => {
        req.destroy(
          new GrafeasNetworkError(
            'timeout',
            `${method} ${url.pathname}: no complete answer within ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(deadline);
        reject(
          error instanceof GrafeasNetworkError
            ? error
            : new GrafeasNetworkError('network', `${method} ${url.host}${url.pathname}: ${error.message}`, {
                cause: error,
              }),
        );
      };
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(
              new GrafeasNetworkError(
                'network',
                `${method} ${url.pathname}: answer exceeds ${MAX_RESPONSE_BYTES} bytes`,
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(body);
    });
  }
}

/** Colons are legal in path segments and carry the custom method (`occurrences:batchCreate`). */
function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%3A/gi, ':');
}

function listQuery(options: ListOptions): Record<string, string | undefined> {
  return {
    filter: options.filter === '' ? undefined : options.filter,
    pageSize: options.pageSize === undefined ? undefined : String(options.pageSize),
    pageToken: options.pageToken === '' ? undefined : options.pageToken,
  };
}
