import { ProvenanceProxyError } from '../errors.js';
import { attempts, type EgressDecisionsSummary } from './egress-decisions.js';
import {
  addCounts,
  type EgressHost,
  type EgressSummary,
  hostBytes,
  NO_EGRESS,
  tunnelBytes,
  type UnobservedTunnel,
} from './egress-summary.js';
import type { InTotoStatement, ResourceDescriptor } from './statement-types.js';

/**
 * The largest statement the proxy signs, in bytes of its JSON (the DSSE payload). A Grafeas
 * occurrence carries it twice (as JSON and base64 in the envelope), so one occurrence stays under
 * about 2.4 times this plus a few KiB: well inside the 1 MiB request the sink sends at most
 * (REPORT_REQUEST_BUDGET_BYTES) and any store limit of that size or more.
 */
export const MAX_STATEMENT_BYTES = 128 * 1024;

/** The URN of the byproduct that says what a statement left out to stay within MAX_STATEMENT_BYTES. */
export const OMITTED_URN = 'urn:provenance-proxy:byproduct:omitted';
const EGRESS_URN = 'urn:provenance-proxy:byproduct:egress-summary';

/** Caps of one level: how many entries each list keeps, and how long a string may be. */
interface Caps {
  readonly subjects: number;
  readonly dependencies: number;
  readonly byproducts: number;
  /** Lists inside annotations (tags, children, blobs, anomalies, disagreements...). */
  readonly nested: number;
  /** Egress hosts and tunnels listed by name (the rest are summed into otherHosts/otherTunnels). */
  readonly egress: number;
  readonly stringChars: number;
}

/**
 * Tried in order until the statement fits. Every list a build can grow is capped at every level
 * and the last level keeps no build-controlled list but the subjects, each at most 1024
 * characters long, so only the operator's own configuration (builder id, policy, labels) can make
 * it too large; then StatementTooLargeError is thrown, and the caller logs and counts it.
 */
const LEVELS: readonly Caps[] = [
  { subjects: 100, dependencies: 400, byproducts: 100, nested: 32, egress: 50, stringChars: 2048 },
  { subjects: 50, dependencies: 200, byproducts: 50, nested: 16, egress: 25, stringChars: 1024 },
  { subjects: 20, dependencies: 50, byproducts: 20, nested: 8, egress: 10, stringChars: 512 },
  { subjects: 5, dependencies: 10, byproducts: 5, nested: 2, egress: 3, stringChars: 256 },
  { subjects: 1, dependencies: 0, byproducts: 0, nested: 0, egress: 0, stringChars: 256 },
];
/** Subject names are identities: shortened only past this (no registry accepts such names). */
const MAX_SUBJECT_NAME = 1024;

/** Even the smallest form of a statement exceeds the budget: the operator's configuration is too large. */
export class StatementTooLargeError extends ProvenanceProxyError {
  constructor(bytes: number, budget: number) {
    super(
      'ERR_PROVENANCE_TOO_LARGE',
      `a statement needs ${bytes} bytes even with every build-controlled list omitted; the limit is ${budget} (shorten --builder-id, the policy patterns or the build labels)`,
    );
  }
}

interface Omissions {
  subjects: number;
  resolvedDependencies: number;
  byproducts: number;
  listEntries: number;
  truncatedStrings: number;
  egressHosts: number;
  egressTunnels: number;
  egressPolicyDestinations: number;
}

/**
 * Returns `statement` unchanged when its JSON fits `budget` bytes, else the first level of caps
 * under which it fits, with an `omitted` byproduct counting what was left out (and every capped
 * list carrying a `<name>Omitted` count beside it). The full record stays in the journal.
 */
export function boundStatement(statement: InTotoStatement, budget = MAX_STATEMENT_BYTES): InTotoStatement {
  let size = byteLength(statement);
  if (size <= budget) return statement;
  for (const caps of LEVELS) {
    const bounded = applyCaps(statement, caps);
    size = byteLength(bounded);
    if (size <= budget) return bounded;
  }
  throw new StatementTooLargeError(size, budget);
}

export function statementBytes(statement: InTotoStatement): number {
  return byteLength(statement);
}

function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

function applyCaps(statement: InTotoStatement, caps: Caps): InTotoStatement {
  const omitted: Omissions = {
    subjects: 0,
    resolvedDependencies: 0,
    byproducts: 0,
    listEntries: 0,
    truncatedStrings: 0,
    egressHosts: 0,
    egressTunnels: 0,
    egressPolicyDestinations: 0,
  };
  const shorten = (text: string, max: number): string => {
    if (text.length <= max) return text;
    omitted.truncatedStrings += 1;
    return `${text.slice(0, max)}…[${text.length - max} characters omitted]`;
  };
  const capList = <T>(list: readonly T[], max: number): { kept: T[]; dropped: number } => ({
    kept: list.slice(0, max),
    dropped: Math.max(0, list.length - max),
  });
  /** Caps the lists and strings inside annotations, down to a small depth. */
  const capValue = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return shorten(value, caps.stringChars);
    if (Array.isArray(value)) {
      const { kept } = capList(value, caps.nested);
      return kept.map((v) => capValue(v, depth + 1));
    }
    if (value !== null && typeof value === 'object' && depth < 4) {
      const out: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(value)) {
        out[key] = capValue(inner, depth + 1);
        if (Array.isArray(inner) && inner.length > caps.nested) {
          omitted.listEntries += inner.length - caps.nested;
          out[`${key}Omitted`] = inner.length - caps.nested;
        }
      }
      return out;
    }
    return value;
  };
  const capDescriptor = (d: ResourceDescriptor): ResourceDescriptor => ({
    ...d,
    ...(d.name !== undefined ? { name: shorten(d.name, caps.stringChars) } : {}),
    ...(d.uri !== undefined ? { uri: shorten(d.uri, caps.stringChars) } : {}),
    ...(d.mediaType !== undefined ? { mediaType: shorten(d.mediaType, caps.stringChars) } : {}),
    ...(d.annotations !== undefined
      ? { annotations: capValue(d.annotations, 0) as Record<string, unknown> }
      : {}),
  });

  const subjects = capList(statement.subject, caps.subjects);
  omitted.subjects = subjects.dropped;
  const subject = subjects.kept.map((s) => ({
    ...capDescriptor(s),
    ...(s.name !== undefined ? { name: shorten(s.name, MAX_SUBJECT_NAME) } : {}),
  }));

  const { buildDefinition, runDetails } = statement.predicate;
  const dependencies = capList(buildDefinition.resolvedDependencies ?? [], caps.dependencies);
  omitted.resolvedDependencies = dependencies.dropped;

  const all = runDetails.byproducts ?? [];
  const egress = all.find((b) => b.uri === EGRESS_URN);
  const others = capList(
    all.filter((b) => b !== egress && b.uri !== OMITTED_URN),
    caps.byproducts,
  );
  omitted.byproducts = others.dropped;
  const byproducts: ResourceDescriptor[] = [];
  if (egress !== undefined) byproducts.push(capEgress(egress, caps.egress, omitted));
  byproducts.push(...others.kept.map(capDescriptor));
  byproducts.push({
    name: 'omitted',
    uri: OMITTED_URN,
    annotations: {
      ...omitted,
      budgetBytes: MAX_STATEMENT_BYTES,
      seeJournal: 'the complete record is in the proxy journal (observations.jsonl, GET /v1/observations)',
    },
  });

  return {
    ...statement,
    subject,
    predicate: {
      buildDefinition: {
        ...buildDefinition,
        resolvedDependencies: dependencies.kept.map(capDescriptor),
      },
      runDetails: { ...runDetails, byproducts },
    },
  };
}

/** Keeps the `max` egress hosts and tunnels with the most bytes, summing the others in. */
function capEgress(egress: ResourceDescriptor, max: number, omitted: Omissions): ResourceDescriptor {
  const a = egress.annotations ?? {};
  const hosts = capByBytes<EgressHost, EgressSummary['otherHosts']>(
    a['hosts'],
    a['otherHosts'],
    max,
    hostBytes,
    NO_EGRESS.otherHosts,
  );
  const tunnels = capByBytes<UnobservedTunnel, EgressSummary['otherTunnels']>(
    a['unobservedTunnels'],
    a['otherTunnels'],
    max,
    tunnelBytes,
    NO_EGRESS.otherTunnels,
  );
  omitted.egressHosts = hosts.dropped;
  omitted.egressTunnels = tunnels.dropped;
  const decisions = capDecisions(a['policyDecisions'], max);
  omitted.egressPolicyDestinations = decisions?.dropped ?? 0;
  return {
    ...egress,
    annotations: {
      ...a,
      hosts: hosts.kept,
      otherHosts: hosts.rest,
      unobservedTunnels: tunnels.kept,
      otherTunnels: tunnels.rest,
      ...(decisions === null ? {} : { policyDecisions: decisions.value }),
    },
  };
}

/** Keeps the `max` policy destinations with the most attempts, folding the others into `otherDestinations`. */
function capDecisions(
  value: unknown,
  max: number,
): { value: EgressDecisionsSummary; dropped: number } | null {
  if (value === undefined || value === null) return null;
  const summary = value as EgressDecisionsSummary;
  const all = [...summary.destinations].sort((x, y) => attempts(y) - attempts(x));
  const kept = all.slice(0, max).map((e) => ({ ...e, destination: shortAuthority(e.destination) }));
  const dropped = all.slice(max);
  return {
    value: {
      ...summary,
      destinations: kept,
      otherDestinations: {
        count: summary.otherDestinations.count + dropped.length,
        attempts: summary.otherDestinations.attempts + dropped.reduce((sum, e) => sum + attempts(e), 0),
      },
    },
    dropped: dropped.length,
  };
}

function capByBytes<T extends { authority: string }, R extends { count: number }>(
  listed: unknown,
  rest: unknown,
  max: number,
  bytes: (entry: T) => number,
  zero: R,
): { kept: T[]; rest: R; dropped: number } {
  const all = [...((listed ?? []) as T[])].sort((x, y) => bytes(y) - bytes(x));
  const kept = all.slice(0, max).map((entry) => ({ ...entry, authority: shortAuthority(entry.authority) }));
  let sum = (rest ?? zero) as R;
  for (const entry of all.slice(max)) sum = addCounts(sum, { ...entry, count: 1 });
  return { kept, rest: sum, dropped: all.length - kept.length };
}

/** DNS names are at most 253 characters; anything longer is shortened, not trusted. */
function shortAuthority(authority: string): string {
  return authority.length <= 300 ? authority : `${authority.slice(0, 300)}…`;
}
