import type { CommandOptions } from './option-table.js';

export interface CaptureRulesArguments {
  readonly proxyUid: number;
  readonly transparentPort: number;
  readonly resolvConf: string;
  readonly apply: boolean;
  readonly check: boolean;
}

export const CAPTURE_RULES_COMMAND: CommandOptions<CaptureRulesArguments> = {
  command: 'capture-rules',
  usage: ['capture-rules --proxy-uid UID --transparent-port PORT [--apply] [--check]'],
  description: `Prints the netfilter rules that send all of the pod's TCP egress to the proxy's
--transparent-listen port (except the proxy's own UID and loopback), redirect TCP
from nested container networks, and drop UDP except DNS to the pod's resolvers.
The rules live in chains of their own (PP_OUTPUT, PP_PREROUTING, PP_FILTER), hooked
as the first rule of nat OUTPUT/PREROUTING and filter OUTPUT/FORWARD.

Run it in the capture init container (the only one with NET_ADMIN).`,
  rows: [
    {
      key: 'proxyUid',
      flag: 'proxy-uid',
      kind: 'count',
      min: 0,
      max: 2 ** 31 - 1,
      value: 'UID',
      required: true,
      default: null,
      help: 'UID the proxy runs as (its connections are not redirected)',
    },
    {
      key: 'transparentPort',
      flag: 'transparent-port',
      kind: 'count',
      min: 1,
      max: 65535,
      value: 'PORT',
      required: true,
      default: null,
      help: "the proxy's transparent port",
    },
    {
      key: 'resolvConf',
      flag: 'resolv-conf',
      kind: 'path',
      default: '/etc/resolv.conf',
      help: 'where the resolvers are read',
    },
    {
      key: 'apply',
      flag: 'apply',
      kind: 'switch',
      default: 'false',
      help: 'install with iptables-restore/ip6tables-restore --noflush (idempotent)',
    },
    {
      key: 'check',
      flag: 'check',
      kind: 'switch',
      default: 'false',
      help: 'exit 14 when the live rules differ from this rule set',
    },
  ],
  epilogue: `Without ip6tables, --apply disables IPv6 in the pod (sysctl) instead, and says so.
The rule-set hash printed last is what the proxy's provenance names.`,
};
