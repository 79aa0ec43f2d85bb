import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { REGISTRY_HOSTNAME, type TestCa } from './pki.js';
import type { RegistryCredentials } from './registry-client.js';

/** A scope a client asked for or was granted: `repository:lab/multi:pull,push`. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** What the token server was asked and what it granted; never the credentials or the token. */
export interface TokenRequestRecord {
  method: string;
  service: string | null;
  scopes: string[];
  /** Whether the request carried credentials (Basic header, OAuth2 password or refresh-token grant). */
  withCredentials: boolean;
  /** The OAuth2 grant of a POST (`password`, `refresh_token`); null for GET. */
  grant: string | null;
  authenticated: boolean;
  status: number;
  granted: AccessEntry[];
}

export interface StartTokenServerOptions {
  ca: TestCa;
  /** Credentials that earn every requested action; anyone else gets `pull` only. */
  credentials: RegistryCredentials;
  /** The JWT `iss`; the registry's `auth.token.issuer` must equal it. */
  issuer: string;
  /**
   * An OAuth2 refresh token (what `docker login` keeps as `identitytoken`) that also earns every
   * action as `credentials`' user, with `POST /token` grant_type=refresh_token.
   */
  refreshToken?: string;
}

export interface RunningTokenServer {
  /** https://registry.test:<port>/token — the registry's `auth.token.realm`. */
  realm: string;
  host: string;
  issuer: string;
  requests: TokenRequestRecord[];
  /**
   * Every token issued, kept in memory only so a test can check that none of them leaked into
   * the proxy's logs or journal.
   */
  issuedTokens: string[];
  /** The scopes asked for, token by token (same order as issuedTokens): what each token was minted for. */
  mintedScopes: string[][];
  close(): Promise<void>;
}

const TOKEN_LIFETIME_SECONDS = 300;

/**
 * The token server of distribution's token auth (docker/distribution docs/spec/auth/token.md),
 * over HTTPS with the test CA: `GET /token?service=&scope=` with optional Basic credentials, and
 * the OAuth2 form `POST /token` (grant_type=password, or refresh_token with `refreshToken`). Issues RS256 JWTs whose `x5c` chains to the
 * test CA, which the registry trusts as `rootcertbundle`.
 */
export async function startTokenServer(options: StartTokenServerOptions): Promise<RunningTokenServer> {
  const signingKey = createPrivateKey(options.ca.tokenSigningKeyPem);
  const x5c = [new X509Certificate(options.ca.tokenSigningCertPem).raw.toString('base64')];
  const requests: TokenRequestRecord[] = [];
  const issuedTokens: string[] = [];
  const mintedScopes: string[][] = [];

  const server: Server = createServer(
    { cert: options.ca.serverCertPem, key: options.ca.serverKeyPem },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
      });
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://token.invalid');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      res.writeHead(404).end();
      return;
    }
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const service = form.get('service');
    const scopes =
      req.method === 'POST' ? (form.get('scope') ?? '').split(' ').filter(Boolean) : form.getAll('scope');
    const grantType = req.method === 'POST' ? form.get('grant_type') : null;
    const refreshToken = grantType === 'refresh_token' ? form.get('refresh_token') : null;
    const presented =
      refreshToken !== null
        ? { refreshToken }
        : req.method === 'POST'
          ? passwordGrant(form)
          : basicCredentials(req.headers.authorization);
    const authenticated =
      presented !== undefined &&
      ('refreshToken' in presented
        ? options.refreshToken !== undefined && presented.refreshToken === options.refreshToken
        : presented.username === options.credentials.username &&
          presented.password === options.credentials.password);
    const record: TokenRequestRecord = {
      method: req.method,
      service,
      scopes,
      withCredentials: presented !== undefined,
      grant: grantType,
      authenticated,
      status: 200,
      granted: [],
    };
    requests.push(record);
    if (presented !== undefined && !authenticated) {
      record.status = 401;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
      return;
    }
    record.granted = scopes.map(parseScope).flatMap((scope) => grant(scope, authenticated));
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(
      { alg: 'RS256', typ: 'JWT', x5c },
      {
        iss: options.issuer,
        sub: authenticated ? options.credentials.username : '',
        aud: service ?? '',
        exp: now + TOKEN_LIFETIME_SECONDS,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access: record.granted,
      },
      signingKey,
    );
    issuedTokens.push(token);
    mintedScopes.push([...scopes]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: TOKEN_LIFETIME_SECONDS,
        issued_at: new Date(now * 1000).toISOString(),
      }),
    );
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const host = `${REGISTRY_HOSTNAME}:${port}`;
  return {
    realm: `https://${host}/token`,
    host,
    issuer: options.issuer,
    requests,
    issuedTokens,
    mintedScopes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `repository:name/with/parts:pull,push` → the name is everything between the first and last colon. */
export function parseScope(scope: string): AccessEntry {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first === -1 || last === first) return { type: scope, name: '', actions: [] };
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function grant(scope: AccessEntry, authenticated: boolean): AccessEntry[] {
  if (authenticated) return [scope];
  const actions = scope.type === 'repository' ? scope.actions.filter((action) => action === 'pull') : [];
  return actions.length === 0 ? [] : [{ ...scope, actions }];
}

function signJwt(header: object, claims: object, key: ReturnType<typeof createPrivateKey>): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), key);
  return `${signingInput}.${signature.toString('base64url')}`;
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function basicCredentials(header: string | undefined): RegistryCredentials | undefined {
  if (header === undefined || !header.toLowerCase().startsWith('basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function passwordGrant(form: URLSearchParams): RegistryCredentials | undefined {
  const username = form.get('username');
  const password = form.get('password');
  if (form.get('grant_type') !== 'password' || username === null || password === null) return undefined;
  return { username, password };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
