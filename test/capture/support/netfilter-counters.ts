/** How a namespace's command runner answers (PodLab.inPod, PodLab.inRegistry). */
type Runner = (args: string[]) => { status: number | null; stdout: string; stderr: string };

/**
 * Packet counts of a table's rules as `iptables-save -c` prints them, keyed by the rule text
 * (`-A CHAIN …`). In the nat table a rule's count is the number of connections that reached
 * it (only a connection's first packet traverses nat).
 */
export function ruleCounters(run: Runner, table: 'nat' | 'filter', family: 4 | 6 = 4): Map<string, number> {
  const saved = run([family === 4 ? 'iptables-save' : 'ip6tables-save', '-c', '-t', table]);
  if (saved.status !== 0) throw new Error(`iptables-save -c -t ${table}: ${saved.stderr}`);
  const counters = new Map<string, number>();
  for (const line of saved.stdout.split('\n')) {
    const match = /^\[(\d+):\d+\] (-A .*)$/.exec(line.trim());
    if (match) counters.set(match[2]!, Number(match[1]));
  }
  return counters;
}

/** The count of the one rule whose text contains `fragment` (throws unless exactly one does). */
export function counterOf(counters: Map<string, number>, fragment: string): number {
  const found = [...counters].filter(([rule]) => rule.includes(fragment));
  if (found.length !== 1)
    throw new Error(`${found.length} rules contain "${fragment}": ${[...counters.keys()].join(' | ')}`);
  return found[0]![1];
}
