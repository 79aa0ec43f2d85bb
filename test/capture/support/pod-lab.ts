import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestCa, REGISTRY_HOSTNAME, type TestCa } from '../../support/pki.js';
import { type RunningProxy, startProxy } from '../../support/proxy.js';
import { configYaml } from '../../support/registry.js';
import { stopChild } from '../../support/run-command.js';
import { makeTempDir } from '../../support/temp-dir.js';
import { PROJECT_ROOT, requireTool } from '../../support/tools.js';
import { waitUntil } from '../../support/wait-until.js';

export const PROXY_UID = 65532;
export const BUILD_UID = 1000;
export const TRANSPARENT_PORT = 15001;

/**
 * A "pod" network namespace with the proxy (as PROXY_UID, transparent port, capture rules
 * applied by the real CLI) and a "registry" namespace with Debian's docker-registry on TLS
 * port 443 and on 5443, joined by a veth pair on 192.0.2.0/30 slices. A second veth
 * (198.51.100.0/30 slices) joins the pod to the test's namespace so the launcher's control
 * accessors work. /etc/netns/POD/hosts names the registry. Everything goes in teardown.
 */
export interface PodLab {
  pod: string;
  registryNs: string;
  registryIp: string;
  podIp: string;
  ca: TestCa;
  proxy: RunningProxy;
  storageDir: string;
  dir: string;
  /** Runs a command in the pod as the build UID with a clean environment (no proxy variables). */
  build(
    args: string[],
    env?: Record<string, string>,
  ): { status: number | null; stdout: string; stderr: string };
  /** Runs a command in the registry namespace as root. */
  inRegistry(args: string[]): { status: number | null; stdout: string; stderr: string };
  inPod(args: string[]): { status: number | null; stdout: string; stderr: string };
}

/**
 * Waits until Debian's registry answers `/v2/` over TLS at `address` (an IPv6 literal in brackets),
 * asked from inside the registry namespace.
 */
export async function waitForRegistry(
  inRegistry: PodLab['inRegistry'],
  caCertPath: string,
  address: string,
  port: number,
): Promise<void> {
  const authority = port === 443 ? REGISTRY_HOSTNAME : `${REGISTRY_HOSTNAME}:${port}`;
  await waitUntil(
    async () =>
      inRegistry([
        'curl',
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        caCertPath,
        '--resolve',
        `${REGISTRY_HOSTNAME}:${port}:${address}`,
        `https://${authority}/v2/`,
      ]).stdout === '200',
    { what: `docker-registry on ${address}:${port}`, attempts: 100, intervalMs: 100 },
  );
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function sh(args: string[], input?: string) {
  const result = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

function must(args: string[]): string {
  const result = sh(args);
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

export interface PodLabOptions {
  /** More `run` arguments for the proxy (after --transparent-listen). */
  readonly proxyArgs?: readonly string[];
}

/**
 * Where the proxy's capture canary goes (capture-rules.ts CANARY_ADDRESS). The pod routes it to
 * the registry namespace, which does not forward: without the rules a canary goes nowhere, as
 * it would in a real pod, instead of failing at once for want of a route.
 */
export const CANARY_ADDRESS = '192.0.2.254';

export async function startPodLab(
  name: string,
  teardown: (fn: () => Promise<void>) => void,
  options: PodLabOptions = {},
): Promise<PodLab> {
  const id = randomBytes(3).toString('hex');
  const slice = 4 * (1 + (randomBytes(1)[0]! % 60));
  const pod = `pp-pod-${id}`;
  const reg = `pp-reg-${id}`;
  const podIp = `192.0.2.${slice + 1}`;
  const registryIp = `192.0.2.${slice + 2}`;
  const hostSide = `198.51.100.${slice + 1}`;
  const podControlIp = `198.51.100.${slice + 2}`;
  const temp = await makeTempDir(name);
  const children: ChildProcess[] = [];
  let proxy: RunningProxy | undefined;
  teardown(async () => {
    await proxy?.stop().catch(() => undefined);
    for (const child of children) await stopChild(child).catch(() => undefined);
    sh(['ip', 'link', 'del', `pph${id}`]);
    sh(['ip', 'netns', 'del', pod]);
    sh(['ip', 'netns', 'del', reg]);
    await rm(`/etc/netns/${pod}`, { recursive: true, force: true });
    await temp.remove();
  });
  must(['ip', 'netns', 'add', pod]);
  must(['ip', 'netns', 'add', reg]);
  const inPod = (args: string[]) => sh(['ip', 'netns', 'exec', pod, ...args]);
  const inRegistry = (args: string[]) => sh(['ip', 'netns', 'exec', reg, ...args]);
  must([
    'ip',
    'link',
    'add',
    `ppp${id}`,
    'netns',
    pod,
    'type',
    'veth',
    'peer',
    'name',
    `ppr${id}`,
    'netns',
    reg,
  ]);
  must(['ip', 'link', 'add', `pph${id}`, 'type', 'veth', 'peer', 'name', `ppc${id}`, 'netns', pod]);
  for (const [ns, commands] of [
    [
      pod,
      [
        ['ip', 'link', 'set', 'lo', 'up'],
        ['ip', 'addr', 'add', `${podIp}/30`, 'dev', `ppp${id}`],
        ['ip', 'link', 'set', `ppp${id}`, 'up'],
        ['ip', 'addr', 'add', `${podControlIp}/30`, 'dev', `ppc${id}`],
        ['ip', 'link', 'set', `ppc${id}`, 'up'],
      ],
    ],
    [
      reg,
      [
        ['ip', 'link', 'set', 'lo', 'up'],
        ['ip', 'addr', 'add', `${registryIp}/30`, 'dev', `ppr${id}`],
        ['ip', 'link', 'set', `ppr${id}`, 'up'],
      ],
    ],
  ] as const) {
    for (const command of commands) must(['ip', 'netns', 'exec', ns, ...command]);
  }
  must(['ip', 'netns', 'exec', pod, 'ip', 'route', 'add', `${CANARY_ADDRESS}/32`, 'via', registryIp]);
  must(['ip', 'addr', 'add', `${hostSide}/30`, 'dev', `pph${id}`]);
  must(['ip', 'link', 'set', `pph${id}`, 'up']);
  await mkdir(`/etc/netns/${pod}`, { recursive: true });
  await writeFile(`/etc/netns/${pod}/hosts`, `127.0.0.1 localhost\n${registryIp} ${REGISTRY_HOSTNAME}\n`);
  await writeFile(`/etc/netns/${pod}/resolv.conf`, `nameserver ${registryIp}\n`);

  // Readable by the proxy's and the build's UIDs; the proxy's home writable by its UID.
  await chmod(temp.path, 0o755);
  const ca = await createTestCa(join(temp.path, 'ca'));
  must(['chmod', '-R', 'a+rX', join(temp.path, 'ca')]);
  const storageDir = join(temp.path, 'registry', 'storage');
  await mkdir(storageDir, { recursive: true });
  for (const port of [443, 5443]) {
    const configPath = join(temp.path, 'registry', `config-${port}.yml`);
    await writeFile(
      configPath,
      configYaml({ host: registryIp, port, storageDir, ca, authYaml: '', relativeUrls: false }),
    );
    const log = await open(join(temp.path, 'registry', `registry-${port}.log`), 'a');
    children.push(
      spawn('ip', ['netns', 'exec', reg, requireTool('docker-registry'), 'serve', configPath], {
        stdio: ['ignore', log.fd, log.fd],
      }),
    );
    await log.close();
    await waitForRegistry(inRegistry, ca.caCertPath, registryIp, port);
  }

  // The capture rules, applied by the real CLI in the pod, before the proxy starts.
  const cli = join(PROJECT_ROOT, 'dist/cli/main.js');
  const applied = inPod([
    process.execPath,
    cli,
    'capture-rules',
    '--proxy-uid',
    String(PROXY_UID),
    '--transparent-port',
    String(TRANSPARENT_PORT),
    '--apply',
  ]);
  if (applied.status !== 0) throw new Error(`capture-rules --apply failed: ${applied.stderr}`);

  const proxyHome = join(temp.path, 'proxy');
  await mkdir(join(proxyHome, 'data'), { recursive: true, mode: 0o777 });
  must(['chown', '-R', `${PROXY_UID}:${PROXY_UID}`, proxyHome]);
  proxy = await startProxy({
    dir: temp.path,
    upstreamCaPath: ca.caCertPath,
    spawnPrefix: [
      'ip',
      'netns',
      'exec',
      pod,
      'setpriv',
      `--reuid=${PROXY_UID}`,
      `--regid=${PROXY_UID}`,
      '--clear-groups',
    ],
    controlHost: podControlIp,
    extraArgs: ['--transparent-listen', `0.0.0.0:${TRANSPARENT_PORT}`, ...(options.proxyArgs ?? [])],
  });
  must(['chmod', '-R', 'a+rX', join(proxyHome, 'trust')]);
  const build = (args: string[], env: Record<string, string> = {}) =>
    inPod([
      'setpriv',
      `--reuid=${BUILD_UID}`,
      `--regid=${BUILD_UID}`,
      '--clear-groups',
      'env',
      '-i',
      `PATH=${process.env.PATH}`,
      `HOME=${join(temp.path, 'home')}`,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...args,
    ]);
  await mkdir(join(temp.path, 'home'), { recursive: true, mode: 0o777 });
  await chmod(join(temp.path, 'home'), 0o777);
  return {
    pod,
    registryNs: reg,
    registryIp,
    podIp,
    ca,
    proxy,
    storageDir,
    dir: temp.path,
    build,
    inRegistry,
    inPod,
  };
}
