import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type CaptureRuleSet,
  captureRuleSet,
  diffLiveRules,
  type FamilyRules,
  hookLine,
  resolversOf,
} from '../capture/capture-rules.js';
import { InvalidOptionError, ProvenanceProxyError } from '../errors.js';
import { exitStatus } from '../exit-codes.js';

const HELP = `Usage: provenance-proxy capture-rules --proxy-uid UID --transparent-port PORT [--apply] [--check]

Prints the netfilter rules that send all of the pod's TCP egress to the proxy's
--transparent-listen port (except the proxy's own UID and loopback), redirect TCP
from nested container networks, and drop UDP except DNS to the pod's resolvers.
The rules live in chains of their own (PP_OUTPUT, PP_PREROUTING, PP_FILTER), hooked
as the first rule of nat OUTPUT/PREROUTING and filter OUTPUT/FORWARD.

Run it in the capture init container (the only one with NET_ADMIN).

Options:
  --proxy-uid UID         UID the proxy runs as (its connections are not redirected)
  --transparent-port N    the proxy's transparent port
  --resolv-conf PATH      where the resolvers are read (default /etc/resolv.conf)
  --apply                 install with iptables-restore/ip6tables-restore --noflush (idempotent)
  --check                 exit 14 when the live rules differ from this rule set
  --help                  show this help

Without ip6tables, --apply disables IPv6 in the pod (sysctl) instead, and says so.
The rule-set hash printed last is what the proxy's provenance names.
`;

export async function captureRulesCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'proxy-uid': { type: 'string' },
      'transparent-port': { type: 'string' },
      'resolv-conf': { type: 'string' },
      apply: { type: 'boolean' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const proxyUid = wholeNumber('--proxy-uid', values['proxy-uid'], 0, 2 ** 31 - 1);
  const transparentPort = wholeNumber('--transparent-port', values['transparent-port'], 1, 65535);
  const resolvConfPath = values['resolv-conf'] ?? '/etc/resolv.conf';
  let resolvConf: string;
  try {
    resolvConf = readFileSync(resolvConfPath, 'utf8');
  } catch (error) {
    throw new InvalidOptionError(
      '--resolv-conf',
      `cannot read ${resolvConfPath}: ${(error as Error).message}`,
    );
  }
  const rules = captureRuleSet({ proxyUid, transparentPort, resolvers: resolversOf(resolvConf) });
  const ip6 = hasCommand('ip6tables-restore');
  if (values.apply) applyRules(rules, ip6);
  if (values.check || values.apply) {
    const problems = checkRules(rules, ip6);
    for (const problem of problems) process.stderr.write(`capture-rules: ${problem}\n`);
    process.stdout.write(`${problems.length === 0 ? 'ok' : 'differs'} ${rules.hash}\n`);
    return exitStatus(problems.length === 0 ? 'ok' : 'rulesDiffer');
  }
  process.stdout.write(
    `${rules.ipv4.restoreText}${rules.ipv6.restoreText}# hooks (first rule of each chain):\n`,
  );
  for (const hook of rules.ipv4.hooks) process.stdout.write(`#   -t ${hook.table} ${hookLine(hook)}\n`);
  process.stdout.write(`# rule-set ${rules.hash}\n`);
  return 0;
}

function applyRules(rules: CaptureRuleSet, ip6: boolean): void {
  install('iptables', rules.ipv4);
  if (ip6) install('ip6tables', rules.ipv6);
  else {
    // Without ip6tables nothing can redirect IPv6: a pod that still had it would have a way around.
    run('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    process.stderr.write('capture-rules: ip6tables is missing: IPv6 is disabled in the pod instead\n');
  }
}

/** Our chains are flushed and refilled by the restore; hooks are (re)placed first, once. */
function install(tool: 'iptables' | 'ip6tables', rules: FamilyRules): void {
  run(`${tool}-restore`, ['--noflush'], rules.restoreText);
  for (const hook of rules.hooks) {
    const spec = ['-t', hook.table];
    const jump = ['-j', hook.target];
    // Delete every copy, then insert at position 1: a rule placed ahead of ours could skip it.
    while (spawnSync(tool, [...spec, '-D', hook.chain, ...jump], { stdio: 'ignore' }).status === 0) {}
    run(tool, [...spec, '-I', hook.chain, '1', ...jump]);
  }
}

function checkRules(rules: CaptureRuleSet, ip6: boolean): string[] {
  const problems = diffLiveRules(rules.ipv4, run('iptables-save', []));
  if (ip6) problems.push(...diffLiveRules(rules.ipv6, run('ip6tables-save', [])));
  else if (readFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').trim() !== '1')
    problems.push('ip6tables is missing and IPv6 is not disabled');
  return problems;
}

function run(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8' });
  if (result.status !== 0)
    throw new CaptureRulesError(
      `${command} ${args.join(' ')} failed: ${(result.stderr || result.error?.message || '').trim()}`,
    );
  return result.stdout;
}

function hasCommand(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).error === undefined;
}

function wholeNumber(option: string, text: string | undefined, min: number, max: number): number {
  const value = text === undefined ? Number.NaN : Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new InvalidOptionError(option, `required, a whole number from ${min} to ${max}`);
  return value;
}

/** A netfilter tool failed while applying or reading the rules. */
class CaptureRulesError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_CAPTURE_RULES', message);
  }
}
