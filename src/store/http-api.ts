import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { GrafeasApiError, invalidArgument, notFound, unimplemented } from '../grafeas/status.js';
import type { GrafeasService } from './grafeas-service.js';
import { matchRoute, type Route } from './routes.js';
import { permits, type StoreCredentials, type StorePrincipal } from './store-credentials.js';

/** Errors after which the connection is closed instead of reading the rest of the request. */
const CLOSE_AFTER_ANSWER = new WeakSet<Error>();

export interface StoreHttpOptions {
  /** Bearer tokens, their roles and projects; undefined: no authentication (loopback only, start-store.ts). */
  readonly credentials?: StoreCredentials;
  readonly logger: Logger;
  /** Largest request body accepted. */
  readonly maxBodyBytes: number;
  /** Answers /healthz: resolves when the database answers. */
  readonly healthCheck: () => Promise<void>;
}

/**
 * The store's HTTP front: authentication, routing, query and body parsing, and Google-style
 * JSON errors (`{"error":{"code","message","status"}}`) for every failure.
 */
export function createStoreRequestHandler(
  service: GrafeasService,
  options: StoreHttpOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { credentials } = options;
  return (req, res) => {
    const started = process.hrtime.bigint();
    const url = parseTarget(req.url);
    let rpc = '-';
    let caller: StorePrincipal | undefined;
    handle()
      .catch((error: unknown) => {
        const apiError = asApiError(error);
        if (apiError.status === 'INTERNAL' || apiError.status === 'UNAVAILABLE') {
          options.logger.error({ err: error, rpc, path: url.pathname }, 'store request failed');
        }
        if (apiError.status === 'UNAUTHENTICATED')
          res.setHeader('www-authenticate', 'Bearer realm="grafeas"');
        // The rest of the body is not read: answer, then drop the connection.
        if (CLOSE_AFTER_ANSWER.has(apiError)) res.setHeader('connection', 'close');
        send(res, apiError.httpStatus, apiError.toBody());
      })
      .finally(() => {
        options.logger.debug(
          {
            method: req.method,
            path: url.pathname,
            rpc,
            caller: caller?.name,
            status: res.statusCode,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'store request',
        );
      });

    async function handle(): Promise<void> {
      if (url.hostname !== TARGET_BASE.hostname) {
        drain(req);
        throw invalidArgument('the request target must be a path (origin-form)');
      }
      if (url.pathname === '/healthz' && req.method === 'GET') {
        try {
          await options.healthCheck();
        } catch (error) {
          throw new GrafeasApiError('UNAVAILABLE', 'the database does not answer', { cause: error });
        }
        send(res, 200, { status: 'ok' });
        return;
      }
      if (credentials !== undefined) {
        caller = credentials.authenticate(req.headers.authorization);
        // Not reading a stranger's body: answer and close.
        if (caller === undefined)
          throw closing(new GrafeasApiError('UNAUTHENTICATED', 'a valid bearer token is required'));
      }
      const match = matchRoute(req.method ?? 'GET', url.pathname);
      if (match.route === undefined) {
        drain(req);
        throw match.allowed.length > 0
          ? notFound(
              `${req.method} is not defined for ${url.pathname} (it takes ${match.allowed.join(', ')})`,
            )
          : notFound(`no Grafeas v1 resource at ${url.pathname}`);
      }
      const { route } = match;
      rpc = route.rpc;
      const params = match.params.map((p) => decodePathParam(p));
      if (caller !== undefined && !permits(caller, route.access, params[0]!)) {
        throw closing(
          new GrafeasApiError(
            'PERMISSION_DENIED',
            `${caller.role} "${caller.name}" may not ${route.access} in project ${params[0]} (${route.rpc})`,
          ),
        );
      }
      if (route.run === undefined) {
        drain(req);
        throw unimplemented(
          route.method === 'PATCH'
            ? `${route.rpc} is not supported: stored provenance cannot be changed`
            : `${route.rpc} is not supported by this store`,
        );
      }
      const query = readQuery(url.searchParams, route);
      if (!route.body) drain(req);
      const body = route.body ? await readJsonBody(req, options.maxBodyBytes) : undefined;
      const answer = await route.run(service, { params, query, body });
      send(res, 200, answer);
    }
  };
}

const TARGET_BASE = new URL('http://store.invalid/');

/** The request target against a fixed base; anything unparseable or absolute shows up as another host. */
function parseTarget(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', TARGET_BASE);
  } catch {
    return new URL('http://unparseable.invalid/');
  }
}

function readQuery(search: URLSearchParams, route: Route): Record<string, string | undefined> {
  const query: Record<string, string | undefined> = {};
  for (const key of new Set(search.keys())) {
    const canonical = Object.entries(route.query).find(([json, proto]) => key === json || key === proto)?.[0];
    if (canonical === undefined) {
      throw invalidArgument(`unknown query parameter "${key}" for ${route.rpc}`);
    }
    if (query[canonical] !== undefined || search.getAll(key).length > 1) {
      throw invalidArgument(`query parameter "${canonical}" given more than once`);
    }
    query[canonical] = search.get(key) ?? undefined;
  }
  return query;
}

function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidArgument(`path segment "${raw}" is not valid percent-encoding`);
  }
}

async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    drain(req);
    throw invalidArgument(`the request body must be application/json, not ${type}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      throw closing(invalidArgument(`the request body exceeds ${maxBytes} bytes`));
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw invalidArgument('the request body is empty; a JSON object is required');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalidArgument(`Invalid JSON payload received. ${(error as Error).message}`);
  }
}

/** Reads and discards the rest of a body we will not use, so the connection can carry the answer and stay open. */
function drain(req: IncomingMessage): void {
  req.resume();
}

/** Marks an error after which the connection is closed, the rest of the body unread. */
function closing(error: GrafeasApiError): GrafeasApiError {
  CLOSE_AFTER_ANSWER.add(error);
  return error;
}

function asApiError(error: unknown): GrafeasApiError {
  if (error instanceof GrafeasApiError) return error;
  return new GrafeasApiError('INTERNAL', 'internal error', { cause: error });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(payload.length),
    'cache-control': 'no-store',
  });
  res.end(payload);
}
