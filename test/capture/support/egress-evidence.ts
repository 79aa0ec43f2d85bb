import type { InTotoStatement } from '../../../src/provenance/statement-types.js';

/** What the proxy's control accessors expose; both launchers (CLI and pod lab) have it. */
interface ControlReader {
  control(path: string): Promise<{ status: number; body: string }>;
  metrics(): Promise<string>;
}

/** The data of every journal entry of `kind` (paged through /v1/observations). */
export async function journalKinds(proxy: ControlReader, kind: string): Promise<unknown[]> {
  const found: unknown[] = [];
  let after = 0;
  for (;;) {
    const { status, body } = await proxy.control(`/v1/observations?after=${after}&limit=1000`);
    if (status !== 200) throw new Error(`/v1/observations answered ${status}: ${body.slice(0, 300)}`);
    const page = JSON.parse(body) as {
      entries: { kind: string; data: unknown }[];
      next: number;
      hasMore: boolean;
    };
    for (const entry of page.entries) if (entry.kind === kind) found.push(entry.data);
    if (!page.hasMore) return found;
    after = page.next;
  }
}

/** provenance_proxy_egress_policy_decisions_total for one verdict and capture path. */
export async function policyDecisionCount(
  proxy: ControlReader,
  verdict: 'refuse' | 'flag',
  capturedBy: string,
): Promise<number> {
  const line = (await proxy.metrics())
    .split('\n')
    .find(
      (l) =>
        l.startsWith('provenance_proxy_egress_policy_decisions_total{') &&
        l.includes(`verdict="${verdict}"`) &&
        l.includes(`captured_by="${capturedBy}"`),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** The annotations of the statement's egress-summary byproduct. */
export function egressAnnotations(statement: InTotoStatement): Record<string, unknown> {
  const egress = statement.predicate.runDetails.byproducts?.find(
    (b) => b.uri === 'urn:provenance-proxy:byproduct:egress-summary',
  );
  if (egress?.annotations === undefined) throw new Error('the statement has no egress summary');
  return egress.annotations;
}
