import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  type CaptureRuleSet,
  captureRuleSet,
  diffLiveRules,
  type FamilyRules,
  hookLine,
  resolversOf,
} from '../capture/capture-rules.js';
import { CAPTURE_RULES_COMMAND } from '../config/capture-rules-table.js';
import { formatHelp, parseOptions } from '../config/option-table.js';
import { InvalidOptionError, ProvenanceProxyError } from '../errors.js';
import { exitStatus } from '../exit-codes.js';

export async function captureRulesCommand(argv: string[]): Promise<number> {
  const parsed = parseOptions(CAPTURE_RULES_COMMAND, argv);
  if (parsed === 'help') {
    process.stdout.write(formatHelp(CAPTURE_RULES_COMMAND));
    return 0;
  }
  const { proxyUid, transparentPort, resolvConf: resolvConfPath, ...values } = parsed.values;
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

/** A netfilter tool failed while applying or reading the rules. */
class CaptureRulesError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_CAPTURE_RULES', message);
  }
}
