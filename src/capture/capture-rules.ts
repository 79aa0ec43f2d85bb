import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

export interface CaptureRuleInput {
  /** The proxy's UID: its own upstream connections must not be redirected back into it. */
  readonly proxyUid: number;
  /** Where REDIRECT sends TCP: the proxy's `--transparent-listen` port. */
  readonly transparentPort: number;
  /** The pod's resolvers (from /etc/resolv.conf): the only UDP that may leave. */
  readonly resolvers: readonly string[];
}

/** One address family's rules, in the exact form `iptables-save` prints them back. */
export interface FamilyRules {
  readonly family: 4 | 6;
  /** `iptables-restore --noflush` input: declaring our chains flushes and refills only them. */
  readonly restoreText: string;
  /** Jumps from the built-in chains into ours, each required as the chain's FIRST rule. */
  readonly hooks: readonly Hook[];
  /** Every `-A` line of our chains, per table, in order: what `--check` compares. */
  readonly expected: Readonly<Record<'nat' | 'filter', readonly string[]>>;
}

export interface Hook {
  readonly table: 'nat' | 'filter';
  readonly chain: 'OUTPUT' | 'PREROUTING' | 'FORWARD';
  readonly target: string;
}

export interface CaptureRuleSet {
  readonly ipv4: FamilyRules;
  readonly ipv6: FamilyRules;
  /** sha256 over both families' expected lines and hooks: names the rule set in provenance. */
  readonly hash: string;
  /** Where the proxy sends its canary: redirected only while this very rule set is live. */
  readonly canary: CaptureCanary;
}

/**
 * The canary destination: a TEST-NET-1 address (never routed on the internet) and a port
 * derived from the rest of the rule set's hash. Its rule sits AHEAD of the proxy UID's
 * exemption, so the proxy itself can send the canary through the rules; a rule set made for
 * another UID, port or resolvers redirects another port, and the proxy's canary goes nowhere.
 */
export interface CaptureCanary {
  readonly address: string;
  readonly port: number;
}

export const CANARY_ADDRESS = '192.0.2.254';

export const CHAIN = { output: 'PP_OUTPUT', prerouting: 'PP_PREROUTING', filter: 'PP_FILTER' } as const;

const HOOKS: readonly Hook[] = [
  { table: 'nat', chain: 'OUTPUT', target: CHAIN.output },
  { table: 'nat', chain: 'PREROUTING', target: CHAIN.prerouting },
  { table: 'filter', chain: 'OUTPUT', target: CHAIN.filter },
  { table: 'filter', chain: 'FORWARD', target: CHAIN.filter },
];

/**
 * The capture rule set, pure: same input, same text, same hash.
 *
 * nat OUTPUT: every TCP connection the pod makes goes to the transparent port, except the
 * proxy's own (by UID) and loopback. nat PREROUTING: TCP that would be forwarded through
 * the pod (nested containers behind a bridge: their packets are not local, so OUTPUT never
 * sees them) is redirected too. filter: UDP may only reach the resolvers on port 53 — QUIC
 * and any other datagram egress would go around a TCP proxy.
 */
export function captureRuleSet(input: CaptureRuleInput): CaptureRuleSet {
  const base = rulesHash(familyRules(4, input, null), familyRules(6, input, null));
  const canary = { address: CANARY_ADDRESS, port: 1024 + (Number.parseInt(base.slice(0, 8), 16) % 64_000) };
  const ipv4 = familyRules(4, input, canary);
  const ipv6 = familyRules(6, input, null);
  return { ipv4, ipv6, hash: `sha256:${rulesHash(ipv4, ipv6)}`, canary };
}

function rulesHash(ipv4: FamilyRules, ipv6: FamilyRules): string {
  return createHash('sha256')
    .update(
      JSON.stringify([ipv4.expected, ipv6.expected, HOOKS.map((h) => `${h.table}:${h.chain}:${h.target}`)]),
    )
    .digest('hex');
}

function familyRules(family: 4 | 6, input: CaptureRuleInput, canary: CaptureCanary | null): FamilyRules {
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  const hostBits = family === 4 ? 32 : 128;
  const resolvers = input.resolvers.filter((r) => (family === 4 ? isIPv4(r) : isIPv6(r)));
  const redirect = `-j REDIRECT --to-ports ${input.transparentPort}`;
  const nat = [
    `-A ${CHAIN.output} -o lo -j RETURN`,
    `-A ${CHAIN.output} -d ${loopback} -j RETURN`,
    // Ahead of the exemption: the proxy's own canary must go through the rules.
    ...(canary === null
      ? []
      : [`-A ${CHAIN.output} -d ${canary.address}/32 -p tcp -m tcp --dport ${canary.port} ${redirect}`]),
    `-A ${CHAIN.output} -m owner --uid-owner ${input.proxyUid} -j RETURN`,
    `-A ${CHAIN.output} -p tcp ${redirect}`,
    `-A ${CHAIN.prerouting} -p tcp -m addrtype ! --dst-type LOCAL ${redirect}`,
  ];
  const filter = [
    `-A ${CHAIN.filter} -o lo -j RETURN`,
    ...resolvers.map((r) => `-A ${CHAIN.filter} -d ${r}/${hostBits} -p udp -m udp --dport 53 -j RETURN`),
    `-A ${CHAIN.filter} -p udp -j DROP`,
  ];
  const restoreText = [
    `# provenance-proxy capture rules (IPv${family})`,
    '*nat',
    `:${CHAIN.output} - [0:0]`,
    `:${CHAIN.prerouting} - [0:0]`,
    ...nat,
    'COMMIT',
    '*filter',
    `:${CHAIN.filter} - [0:0]`,
    ...filter,
    'COMMIT',
    '',
  ].join('\n');
  return { family, restoreText, hooks: HOOKS, expected: { nat, filter } };
}

/** The hook line as `iptables-save` prints it. */
export function hookLine(hook: Hook): string {
  return `-A ${hook.chain} -j ${hook.target}`;
}

/**
 * What differs between the live tables (`iptables-save` output of one family) and the rule
 * set: our chains must hold exactly the expected lines in order, and each hook must be the
 * first rule of its built-in chain (a rule placed ahead of it could ACCEPT or RETURN first).
 */
export function diffLiveRules(rules: FamilyRules, saved: string): string[] {
  const tables = parseSave(saved);
  const problems: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const lines = tables.get(table) ?? [];
    const ours = lines.filter((l) => /^-A PP_[A-Z]+ /.test(l));
    const expected = rules.expected[table];
    if (ours.join('\n') !== expected.join('\n'))
      problems.push(
        `IPv${rules.family} ${table}: our chains hold ${ours.length} rule(s) that differ from the ${expected.length} expected`,
      );
  }
  for (const hook of rules.hooks) {
    const first = (tables.get(hook.table) ?? []).find((l) => l.startsWith(`-A ${hook.chain} `));
    if (first !== hookLine(hook))
      problems.push(
        `IPv${rules.family} ${hook.table} ${hook.chain}: the first rule is not "${hookLine(hook)}"`,
      );
  }
  return problems;
}

function parseSave(saved: string): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) {
      current = [];
      tables.set(line.slice(1).trim(), current);
    } else if (line.startsWith('-A ') && current) current.push(line.trim());
  }
  return tables;
}

/** `nameserver` addresses of a resolv.conf text (scoped IPv6 zone ids dropped). */
export function resolversOf(resolvConf: string): string[] {
  const found: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const address = match?.[1]?.replace(/%.*$/, '');
    if (address && (isIPv4(address) || isIPv6(address)) && !found.includes(address)) found.push(address);
  }
  return found;
}
