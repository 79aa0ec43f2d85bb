import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { REGISTRY_HOSTNAME } from '../../support/pki.js';
import type { PodLab } from './pod-lab.js';

/**
 * A nested container inside the pod, wired the way a container runtime does it: a bridge in
 * the pod's namespace, a veth from it into the container's own namespace, the container's
 * default route via the bridge, IPv4 forwarding on and MASQUERADE for the container subnet in
 * the pod. Its packets are forwarded, not sent, by the pod: only nat PREROUTING sees them.
 *
 * Addresses: 198.51.100.248/30 (the pod lab's /30 slices end at .243).
 */
export interface NestedNamespace {
  name: string;
  address: string;
  /** Runs a command in the nested namespace as its root, with a clean environment. */
  run(
    args: string[],
    env?: Record<string, string>,
  ): { status: number | null; stdout: string; stderr: string };
}

const BRIDGE_IP = '198.51.100.249';
const NESTED_IP = '198.51.100.250';
const SUBNET = '198.51.100.248/30';

export async function startNestedNamespace(
  lab: PodLab,
  home: string,
  teardown: (fn: () => Promise<void>) => void,
): Promise<NestedNamespace> {
  const id = lab.pod.replace(/^pp-pod-/, '');
  const name = `pp-nest-${id}`;
  const bridge = `ppb${id}`;
  teardown(async () => {
    sh(['ip', 'netns', 'del', name]);
    await rm(`/etc/netns/${name}`, { recursive: true, force: true });
  });
  must(['ip', 'netns', 'add', name]);
  const inPod = (args: string[]) => must(['ip', 'netns', 'exec', lab.pod, ...args]);
  const inNested = (args: string[]) => must(['ip', 'netns', 'exec', name, ...args]);
  inPod(['ip', 'link', 'add', bridge, 'type', 'bridge']);
  inPod(['ip', 'addr', 'add', `${BRIDGE_IP}/30`, 'dev', bridge]);
  inPod(['ip', 'link', 'set', bridge, 'up']);
  inPod(['ip', 'link', 'add', `ppn${id}`, 'type', 'veth', 'peer', 'name', `ppx${id}`, 'netns', name]);
  inPod(['ip', 'link', 'set', `ppn${id}`, 'master', bridge, 'up']);
  inNested(['ip', 'link', 'set', 'lo', 'up']);
  inNested(['ip', 'addr', 'add', `${NESTED_IP}/30`, 'dev', `ppx${id}`]);
  inNested(['ip', 'link', 'set', `ppx${id}`, 'up']);
  inNested(['ip', 'route', 'add', 'default', 'via', BRIDGE_IP]);
  inPod(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  inPod(['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', SUBNET, '-j', 'MASQUERADE']);
  await mkdir(`/etc/netns/${name}`, { recursive: true });
  await writeFile(
    `/etc/netns/${name}/hosts`,
    `127.0.0.1 localhost\n${lab.registryIp} ${REGISTRY_HOSTNAME}\n`,
  );
  await writeFile(`/etc/netns/${name}/resolv.conf`, `nameserver ${lab.registryIp}\n`);
  return {
    name,
    address: NESTED_IP,
    run: (args, env = {}) =>
      sh([
        'ip',
        'netns',
        'exec',
        name,
        'env',
        '-i',
        `PATH=${process.env.PATH}`,
        `HOME=${home}`,
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...args,
      ]),
  };
}

function sh(args: string[]) {
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 300_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

function must(args: string[]): string {
  const result = sh(args);
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}
