import { parseHostPattern } from '../config/host-pattern.js';
import { InjectorConfigError } from './injector-errors.js';

/**
 * What the webhook injects, from one JSON file (a ConfigMap key in a cluster). Every field
 * but `image` has a default; unknown fields are errors, so a typo never silently turns a
 * protection off.
 */
export interface InjectorConfig {
  /** The provenance-proxy image (entrypoint `provenance-proxy`). */
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * `explicit`: build containers get HTTPS_PROXY/HTTP_PROXY (a hostile build can ignore them).
   * `transparent`: a capture init container installs redirect rules with NET_ADMIN first.
   */
  mode: 'explicit' | 'transparent';
  /** The sidecar's UID; build containers may not run as it (the capture rules exempt it). */
  proxyUid: number;
  proxyPort: number;
  controlPort: number;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  /**
   * Secrets mounted into the sidecar; null leaves one out. Only the sidecar may mount them,
   * except controlReadToken (read-only views), which a report step may mount too.
   */
  secrets: {
    signingKey: string | null;
    controlToken: string | null;
    controlReadToken: string | null;
    registryCredentials: string | null;
    storeToken: string | null;
  };
  /** Where the sidecar reports its statements (the Grafeas-compatible store), or null. */
  store: { url: string; project: string } | null;
  /** Passed to the sidecar as --intercept / --tunnel. */
  policy: { intercept: string[]; tunnel: string[] };
  /** NO_PROXY in explicit mode. Whatever is listed here is not observed. */
  noProxy: string[];
  /** Registries that get a containers/image certs.d directory with the pod CA. */
  registries: string[];
  /** Arguments of the capture init container (transparent mode). */
  capture: { args: string[] };
}

const DEFAULTS: Omit<InjectorConfig, 'image'> = {
  imagePullPolicy: 'IfNotPresent',
  mode: 'explicit',
  proxyUid: 65532,
  proxyPort: 3128,
  controlPort: 9464,
  resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  secrets: {
    signingKey: 'provenance-signing-key',
    controlToken: 'provenance-control-token',
    // Opt-in: a pod whose Secret volume names a missing Secret never starts.
    controlReadToken: null,
    registryCredentials: null,
    storeToken: null,
  },
  store: null,
  policy: { intercept: [], tunnel: [] },
  noProxy: [],
  registries: [],
  capture: { args: [] },
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/;
const REGISTRY_HOST = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$/;

/** Parses and validates the file's text; throws InjectorConfigError naming the field. */
export function parseInjectorConfig(text: string): InjectorConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InjectorConfigError('(file)', `not JSON: ${(error as Error).message}`);
  }
  const root = object(raw, '(file)');
  allowOnly(root, '(file)', ['image', ...Object.keys(DEFAULTS)]);

  const image = string(root.image, 'image');
  if (image === '' || /\s/.test(image)) throw new InjectorConfigError('image', 'must be an image reference');

  const config: InjectorConfig = {
    image,
    imagePullPolicy: oneOf(
      root.imagePullPolicy,
      'imagePullPolicy',
      ['Always', 'IfNotPresent', 'Never'],
      DEFAULTS.imagePullPolicy,
    ),
    mode: oneOf(root.mode, 'mode', ['explicit', 'transparent'], DEFAULTS.mode),
    proxyUid: integer(root.proxyUid, 'proxyUid', 1, 2 ** 31 - 1, DEFAULTS.proxyUid),
    proxyPort: integer(root.proxyPort, 'proxyPort', 1, 65535, DEFAULTS.proxyPort),
    controlPort: integer(root.controlPort, 'controlPort', 1, 65535, DEFAULTS.controlPort),
    resources: resources(root.resources),
    secrets: secrets(root.secrets),
    store: store(root.store),
    policy: policy(root.policy),
    noProxy: stringList(root.noProxy, 'noProxy', DEFAULTS.noProxy),
    registries: stringList(root.registries, 'registries', DEFAULTS.registries),
    capture: capture(root.capture),
  };
  if (config.proxyPort === config.controlPort) {
    throw new InjectorConfigError('controlPort', 'must differ from proxyPort');
  }
  for (const [i, host] of config.registries.entries()) {
    if (!REGISTRY_HOST.test(host)) {
      throw new InjectorConfigError(`registries[${i}]`, `"${host}" must be a registry host[:port]`);
    }
  }
  for (const [i, entry] of config.noProxy.entries()) {
    if (entry === '' || /[\s,]/.test(entry)) {
      throw new InjectorConfigError(`noProxy[${i}]`, 'must be one host or domain, without spaces or commas');
    }
  }
  return config;
}

function resources(value: unknown): InjectorConfig['resources'] {
  if (value === undefined) return DEFAULTS.resources;
  const r = object(value, 'resources');
  allowOnly(r, 'resources', ['requests', 'limits']);
  const out: InjectorConfig['resources'] = {};
  for (const key of ['requests', 'limits'] as const) {
    if (r[key] === undefined) continue;
    const entries = object(r[key], `resources.${key}`);
    const quantities: Record<string, string> = {};
    for (const [name, q] of Object.entries(entries)) {
      const field = `resources.${key}.${name}`;
      if (!['cpu', 'memory', 'ephemeral-storage'].includes(name)) {
        throw new InjectorConfigError(field, 'only cpu, memory and ephemeral-storage are supported');
      }
      const text = string(q, field);
      if (!QUANTITY.test(text)) throw new InjectorConfigError(field, `"${text}" is not a quantity`);
      quantities[name] = text;
    }
    out[key] = quantities;
  }
  return out;
}

function secrets(value: unknown): InjectorConfig['secrets'] {
  if (value === undefined) return DEFAULTS.secrets;
  const s = object(value, 'secrets');
  const keys = Object.keys(DEFAULTS.secrets) as Array<keyof InjectorConfig['secrets']>;
  allowOnly(s, 'secrets', keys);
  const out = { ...DEFAULTS.secrets };
  for (const key of keys) {
    if (s[key] === undefined) continue;
    if (s[key] === null) {
      out[key] = null;
      continue;
    }
    const name = string(s[key], `secrets.${key}`);
    if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      throw new InjectorConfigError(`secrets.${key}`, `"${name}" is not a valid Secret name`);
    }
    out[key] = name;
  }
  return out;
}

function store(value: unknown): InjectorConfig['store'] {
  if (value === undefined || value === null) return null;
  const s = object(value, 'store');
  allowOnly(s, 'store', ['url', 'project']);
  const url = string(s.url, 'store.url');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InjectorConfigError('store.url', `"${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InjectorConfigError('store.url', 'must be http:// or https://');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new InjectorConfigError('store.url', 'must not carry credentials (use secrets.storeToken)');
  }
  const project = string(s.project, 'store.project');
  if (!/^[A-Za-z0-9._-]+$/.test(project)) {
    throw new InjectorConfigError('store.project', 'letters, digits, ".", "_" and "-" only');
  }
  return { url, project };
}

function policy(value: unknown): InjectorConfig['policy'] {
  if (value === undefined) return DEFAULTS.policy;
  const p = object(value, 'policy');
  allowOnly(p, 'policy', ['intercept', 'tunnel']);
  const out = {
    intercept: stringList(p.intercept, 'policy.intercept', []),
    tunnel: stringList(p.tunnel, 'policy.tunnel', []),
  };
  for (const key of ['intercept', 'tunnel'] as const) {
    for (const [i, pattern] of out[key].entries()) {
      try {
        parseHostPattern(`policy.${key}[${i}]`, pattern);
      } catch (error) {
        throw new InjectorConfigError(`policy.${key}[${i}]`, (error as Error).message);
      }
    }
  }
  return out;
}

function capture(value: unknown): InjectorConfig['capture'] {
  if (value === undefined) return DEFAULTS.capture;
  const c = object(value, 'capture');
  allowOnly(c, 'capture', ['args']);
  return { args: stringList(c.args, 'capture.args', []) };
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InjectorConfigError(field, 'must be an object');
  }
  return value as Record<string, unknown>;
}

function allowOnly(value: Record<string, unknown>, field: string, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new InjectorConfigError(`${field === '(file)' ? '' : `${field}.`}${key}`, 'unknown field');
    }
  }
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new InjectorConfigError(field, 'must be a string');
  return value;
}

function stringList(value: unknown, field: string, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) throw new InjectorConfigError(field, 'must be a list of strings');
  return value.map((item, i) => string(item, `${field}[${i}]`));
}

function integer(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InjectorConfigError(field, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new InjectorConfigError(field, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}
