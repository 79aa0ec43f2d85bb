import type { OutgoingHttpHeaders } from 'node:http';
import { type ForwardProxy, type HttpsResponse, httpsRequestOnce } from './https-request.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** host:port as clients address it, e.g. registry.test:40123 */
  host: string;
  /** PEM(s) the client trusts: the test CA when direct, the proxy's CA through the proxy. */
  ca: string | string[];
  credentials?: RegistryCredentials;
  /** Send every request (token requests too) through this explicit forward proxy. */
  proxy?: ForwardProxy;
}

export interface RegistryRequest {
  method?: string;
  /** Path and query below the registry root, e.g. /v2/_catalog?n=100; or an absolute URL (Location). */
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
}

/** The registry or its token server refused credentials or answered a challenge this client cannot meet. */
export class RegistryAuthError extends Error {
  readonly code = 'ERR_TEST_REGISTRY_AUTH';
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * A minimal distribution-API client that meets auth challenges the way real clients do:
 * the first request goes without credentials; a 401 `Basic` challenge is answered with the
 * credentials, a `Bearer` challenge with a token fetched from its realm for the scope it names.
 */
export class RegistryClient {
  readonly host: string;
  private readonly options: RegistryClientOptions;
  private readonly authorizationByScope = new Map<string, string>();
  private basicChallenged = false;

  constructor(options: RegistryClientOptions) {
    this.options = options;
    this.host = options.host;
  }

  async request(request: RegistryRequest): Promise<HttpsResponse> {
    const url = new URL(request.path, `https://${this.host}`);
    const first = await this.send(url, request, this.cachedAuthorization(url));
    if (first.status !== 401) return first;
    const authorization = await this.meetChallenge(parseChallenge(first.headers['www-authenticate']));
    return this.send(url, request, authorization);
  }

  private send(
    url: URL,
    request: RegistryRequest,
    authorization: string | undefined,
  ): Promise<HttpsResponse> {
    return httpsRequestOnce({
      url,
      method: request.method ?? 'GET',
      headers: { ...request.headers, ...(authorization === undefined ? {} : { authorization }) },
      body: request.body,
      ca: this.options.ca,
      proxy: this.options.proxy,
    });
  }

  private cachedAuthorization(url: URL): string | undefined {
    if (this.basicChallenged) return this.basicAuthorization();
    return this.authorizationByScope.get(scopeForPath(url.pathname));
  }

  private async meetChallenge(challenge: Challenge | undefined): Promise<string> {
    if (challenge?.scheme === 'basic') {
      this.basicChallenged = true;
      const authorization = this.basicAuthorization();
      if (authorization === undefined) throw new RegistryAuthError(`${this.host} asks for Basic credentials`);
      return authorization;
    }
    if (challenge?.scheme === 'bearer' && challenge.params.realm !== undefined) {
      const scope = challenge.params.scope ?? '';
      const token = await this.fetchToken(challenge.params.realm, challenge.params.service, scope);
      const authorization = `Bearer ${token}`;
      this.authorizationByScope.set(scope, authorization);
      return authorization;
    }
    throw new RegistryAuthError(`${this.host} answered 401 without a usable challenge`);
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<string> {
    const url = new URL(realm);
    if (service !== undefined) url.searchParams.set('service', service);
    for (const one of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', one);
    const basic = this.basicAuthorization();
    if (this.options.credentials !== undefined)
      url.searchParams.set('account', this.options.credentials.username);
    const response = await httpsRequestOnce({
      url,
      headers: basic === undefined ? {} : { authorization: basic },
      ca: this.options.ca,
      proxy: this.options.proxy,
    });
    if (response.status !== 200)
      throw new RegistryAuthError(`token realm ${url.origin} answered ${response.status}`);
    const body = JSON.parse(response.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (token === undefined) throw new RegistryAuthError(`token realm ${url.origin} sent no token`);
    return token;
  }

  private basicAuthorization(): string | undefined {
    const credentials = this.options.credentials;
    if (credentials === undefined) return undefined;
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }
}

/** The scope a distribution registry asks for on a path, to reuse a token across requests. */
function scopeForPath(pathname: string): string {
  if (pathname === '/v2/_catalog') return 'registry:catalog:*';
  const match = /^\/v2\/(.+)\/(?:blobs|manifests|tags|referrers)\//.exec(pathname);
  return match === null ? '' : `repository:${match[1]}:pull`;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted values may contain commas). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const space = value.indexOf(' ');
  const scheme = (space === -1 ? value : value.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const rest = space === -1 ? '' : value.slice(space + 1);
  for (const match of rest.matchAll(/([a-zA-Z_]+)=(?:"([^"]*)"|([^,\s]*))/g)) {
    const key = match[1];
    if (key !== undefined) params[key.toLowerCase()] = match[2] ?? match[3] ?? '';
  }
  return { scheme, params };
}
