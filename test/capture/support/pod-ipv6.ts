import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REGISTRY_HOSTNAME } from '../../support/pki.js';
import { type RunningProxy, startProxy } from '../../support/proxy.js';
import { configYaml } from '../../support/registry.js';
import { stopChild } from '../../support/run-command.js';
import { requireTool } from '../../support/tools.js';
import { type PodLab, PROXY_UID, TRANSPARENT_PORT, waitForRegistry } from './pod-lab.js';

/** Documentation prefix (RFC 3849), only on the lab's own veth between pod and registry. */
export const POD_IP6 = '2001:db8:10::1';
export const REGISTRY_IP6 = '2001:db8:10::2';

/**
 * IPv6 on the pod lab's pod–registry veth, a second docker-registry listening on
 * [REGISTRY_IP6]:443 over the same storage (its log beside the others, so ground truth sees
 * its requests), and the pod's /etc/hosts naming the registry by its IPv6 address only, so
 * every client in the pod reaches it over IPv6.
 */
export async function addIpv6Registry(
  lab: PodLab,
  teardown: (fn: () => Promise<void>) => void,
): Promise<void> {
  const id = lab.pod.replace(/^pp-pod-/, '');
  must(lab.inPod(['ip', '-6', 'addr', 'add', `${POD_IP6}/64`, 'dev', `ppp${id}`, 'nodad']));
  must(lab.inRegistry(['ip', '-6', 'addr', 'add', `${REGISTRY_IP6}/64`, 'dev', `ppr${id}`, 'nodad']));
  const configPath = join(lab.dir, 'registry', 'config-v6.yml');
  const config = configYaml({
    host: `[${REGISTRY_IP6}]`,
    port: 443,
    storageDir: lab.storageDir,
    ca: lab.ca,
    authYaml: '',
    relativeUrls: false,
  });
  // A bracketed address starts a YAML flow sequence: the whole value is quoted.
  await writeFile(configPath, config.replace(/^(\s*addr: )(\[.*)$/m, '$1"$2"'));
  const log = await open(join(lab.dir, 'registry', 'registry-v6.log'), 'a');
  const child = spawn(
    'ip',
    ['netns', 'exec', lab.registryNs, requireTool('docker-registry'), 'serve', configPath],
    {
      stdio: ['ignore', log.fd, log.fd],
    },
  );
  await log.close();
  teardown(() => stopChild(child));
  await waitForRegistry(lab.inRegistry, lab.ca.caCertPath, `[${REGISTRY_IP6}]`, 443);
  await writeFile(
    `/etc/netns/${lab.pod}/hosts`,
    `127.0.0.1 localhost\n${REGISTRY_IP6} ${REGISTRY_HOSTNAME}\n`,
  );
}

/**
 * Replaces the lab's proxy with one whose transparent listener is dual-stack ([::]): REDIRECT
 * sends IPv6 connections to the pod's IPv6 address, where an IPv4-only (0.0.0.0) listener
 * has nothing. Same UID, namespace and control address; its own data directory.
 */
export async function restartProxyDualStack(
  lab: PodLab,
  teardown: (fn: () => Promise<void>) => void,
): Promise<RunningProxy> {
  await lab.proxy.stop();
  const dir = join(lab.dir, 'dual-stack');
  const home = join(dir, 'proxy');
  await mkdir(join(home, 'data'), { recursive: true });
  await chmod(dir, 0o755);
  must(spawnText(['chown', '-R', `${PROXY_UID}:${PROXY_UID}`, home]));
  const proxy = await startProxy({
    dir,
    upstreamCaPath: lab.ca.caCertPath,
    spawnPrefix: [
      'ip',
      'netns',
      'exec',
      lab.pod,
      'setpriv',
      `--reuid=${PROXY_UID}`,
      `--regid=${PROXY_UID}`,
      '--clear-groups',
    ],
    controlHost: new URL(lab.proxy.controlUrl).hostname,
    extraArgs: ['--transparent-listen', `[::]:${TRANSPARENT_PORT}`],
  });
  teardown(() => proxy.stop().catch(() => undefined));
  must(spawnText(['chmod', '-R', 'a+rX', join(home, 'trust')]));
  return proxy;
}

function spawnText(args: string[]) {
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

function must(result: { status: number | null; stderr: string }): void {
  if (result.status !== 0) throw new Error(result.stderr);
}
