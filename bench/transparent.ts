/**
 * The transparent path beside the explicit one and direct, in the same run and the same
 * network: a throw-away "pod" namespace with the proxy (as its own UID, capture rules applied
 * by the CLI) and an "origin" namespace with bench/origin-server.ts on 192.0.2.254:443, one
 * veth between them. Each scenario alternates the three legs, all curl in the pod:
 *   direct       as the proxy's UID (exempt from the rules: the only way around them)
 *   explicit     as the build's UID with --proxy (the explicit port, on loopback)
 *   transparent  as the build's UID with no proxy at all (REDIRECTed)
 * Prints ratios against direct and against the explicit proxy. Needs root (namespaces,
 * iptables, setpriv); sends nothing outside its own namespaces (TEST-NET-1 addresses).
 *
 *   npm run bench:transparent
 *   BENCH_GIB=0.25 BENCH_ROUNDS=1 npm run bench:transparent   # a quick look
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpSocketOwner } from '../src/net/peer-owner.js';
import { startCommand, stopChild } from '../test/support/run-command.js';
import { cpuSeconds, fmt, median, peakRssDuring, percentile } from './lib.js';

const ROOT = new URL('..', import.meta.url).pathname;
const GiB = 1024 ** 3;
const uploadBytes = Math.round(Number(process.env.BENCH_GIB ?? 1) * GiB);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const PROXY_UID = 65532;
const BUILD_UID = 1000;
const TRANSPARENT_PORT = 15001;
const EXPLICIT_PORT = 18080;
const POD_IP = '192.0.2.253';
const ORIGIN_IP = '192.0.2.254';
const ORIGIN = 'origin.bench.test';
const NEW_HOSTS = Number(process.env.BENCH_NEW_HOSTS ?? 100);
const SMALL_REQUESTS = Number(process.env.BENCH_SMALL_REQUESTS ?? 500);

type LegName = 'direct' | 'explicit' | 'transparent';
const LEGS: readonly LegName[] = ['direct', 'explicit', 'transparent'];

const id = randomBytes(3).toString('hex');
const pod = `ppbench-pod-${id}`;
const originNs = `ppbench-org-${id}`;
const work = mkdtempSync(join(tmpdir(), 'pp-bench-transparent-'));
chmodSync(work, 0o755);
const results: Record<string, string> = {};
const children: ChildProcess[] = [];

function must(args: string[], input?: string): string {
  const result = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}
const inPod = (args: string[]) => must(['ip', 'netns', 'exec', pod, ...args]);
const inOrigin = (args: string[]) => must(['ip', 'netns', 'exec', originNs, ...args]);

function makePki(): { caPath: string; key: string; cert: string } {
  const sh = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
  sh('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  sh('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=bench-ca', '-days', '1', '-out', 'ca.pem');
  sh('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key');
  sh('req', '-new', '-key', 'leaf.key', '-subj', `/CN=${ORIGIN}`, '-out', 'leaf.csr');
  writeFileSync(join(work, 'leaf.ext'), `subjectAltName=DNS:${ORIGIN},DNS:*.bench.test\n`);
  sh(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-days',
    '1',
    '-out',
    'leaf.pem',
    '-extfile',
    'leaf.ext',
  );
  chmodSync(join(work, 'ca.pem'), 0o644);
  return {
    caPath: join(work, 'ca.pem'),
    key: readFileSync(join(work, 'leaf.key'), 'utf8'),
    cert: readFileSync(join(work, 'leaf.pem'), 'utf8'),
  };
}

/** Two namespaces, one veth, names in the pod's hosts file (the origin and the new hosts). */
function makeNetwork(): void {
  must(['ip', 'netns', 'add', pod]);
  must(['ip', 'netns', 'add', originNs]);
  must([
    'ip',
    'link',
    'add',
    `ppbp${id}`,
    'netns',
    pod,
    'type',
    'veth',
    'peer',
    'name',
    `ppbo${id}`,
    'netns',
    originNs,
  ]);
  inPod(['ip', 'link', 'set', 'lo', 'up']);
  inPod(['ip', 'addr', 'add', `${POD_IP}/30`, 'dev', `ppbp${id}`]);
  inPod(['ip', 'link', 'set', `ppbp${id}`, 'up']);
  inOrigin(['ip', 'link', 'set', 'lo', 'up']);
  inOrigin(['ip', 'addr', 'add', `${ORIGIN_IP}/30`, 'dev', `ppbo${id}`]);
  inOrigin(['ip', 'link', 'set', `ppbo${id}`, 'up']);
  mkdirSync(`/etc/netns/${pod}`, { recursive: true });
  const names = [ORIGIN];
  for (const leg of LEGS) for (let i = 0; i < NEW_HOSTS; i++) names.push(newHost(leg, i));
  writeFileSync(
    `/etc/netns/${pod}/hosts`,
    `127.0.0.1 localhost\n${names.map((name) => `${ORIGIN_IP} ${name}`).join('\n')}\n`,
  );
  writeFileSync(`/etc/netns/${pod}/resolv.conf`, `nameserver ${ORIGIN_IP}\n`);
}

const newHost = (leg: LegName, i: number) => `host-${leg}-${i}.bench.test`;

function teardown(): void {
  spawnSync('ip', ['netns', 'del', pod]);
  spawnSync('ip', ['netns', 'del', originNs]);
  rmSync(`/etc/netns/${pod}`, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}

async function startOrigin(pki: { key: string; cert: string }): Promise<ChildProcess> {
  const origin = startCommand(
    'ip',
    ['netns', 'exec', originNs, process.execPath, '--import', 'tsx', join(ROOT, 'bench/origin-server.ts')],
    {
      env: { ...process.env, BENCH_KEY: pki.key, BENCH_CERT: pki.cert, BENCH_PORT: '443' },
      timeoutMs: null,
    },
  );
  children.push(origin.child);
  await origin.waitForOutput(/listening (\d+)/);
  return origin.child;
}

async function startProxy(upstreamCa: string): Promise<{ child: ChildProcess; caPath: string; pid: number }> {
  const data = join(work, 'proxy-data');
  mkdirSync(data, { recursive: true });
  must(['chown', '-R', `${PROXY_UID}:${PROXY_UID}`, data]);
  inPod([
    process.execPath,
    join(ROOT, 'dist/cli/main.js'),
    'capture-rules',
    '--proxy-uid',
    String(PROXY_UID),
    '--transparent-port',
    String(TRANSPARENT_PORT),
    '--apply',
  ]);
  const proxy = startCommand(
    'ip',
    [
      'netns',
      'exec',
      pod,
      'setpriv',
      `--reuid=${PROXY_UID}`,
      `--regid=${PROXY_UID}`,
      '--clear-groups',
      process.execPath,
      '--max-semi-space-size=1',
      join(ROOT, 'dist/cli/main.js'),
      'run',
      '--listen',
      `127.0.0.1:${EXPLICIT_PORT}`,
      '--control-listen',
      '127.0.0.1:0',
      '--transparent-listen',
      `[::]:${TRANSPARENT_PORT}`,
      // No canary checks: their connections would run beside the measured ones.
      '--capture-check-interval',
      '0s',
      '--data-dir',
      data,
      '--upstream-ca',
      upstreamCa,
      '--log-level',
      'warn',
    ],
    { timeoutMs: null },
  );
  const child = proxy.child;
  children.push(child);
  await proxy.waitForOutput(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 'stderr');
  // The node process itself (ip and setpriv exec into it, so the pid is the same).
  const caPath = join(data, 'ca.pem');
  must(['chmod', 'a+r', caPath]);
  return { child, caPath, pid: child.pid! };
}

/** curl in the pod as the leg's UID; `args` after the leg's own (proxy and CA). */
function curlArgs(leg: LegName, proxyCa: string, originCa: string, args: string[]): string[] {
  const uid = leg === 'direct' ? PROXY_UID : BUILD_UID;
  const route =
    leg === 'direct'
      ? ['--cacert', originCa]
      : leg === 'explicit'
        ? ['--proxy', `http://127.0.0.1:${EXPLICIT_PORT}`, '--cacert', proxyCa]
        : ['--cacert', proxyCa];
  return [
    'ip',
    'netns',
    'exec',
    pod,
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    'env',
    '-i',
    `PATH=${process.env.PATH}`,
    'curl',
    '-sS',
    ...route,
    ...args,
  ];
}

/** Runs a curl command; resolves with its stdout and wall seconds. */
function runCurl(args: string[]): Promise<{ stdout: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`${args.slice(-3).join(' ')} exited ${code}: ${stderr}`));
      else resolve({ stdout, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
    });
  });
}

interface Context {
  proxyCa: string;
  originCa: string;
  proxyPid: number;
}

async function uploadScenario(ctx: Context): Promise<void> {
  const file = join(work, 'upload.bin');
  execFileSync('truncate', ['-s', String(uploadBytes), file]);
  chmodSync(file, 0o644);
  const seconds: Record<LegName, number[]> = { direct: [], explicit: [], transparent: [] };
  const cpu: Record<LegName, number[]> = { direct: [], explicit: [], transparent: [] };
  let peak = 0;
  for (let round = 0; round < rounds; round++) {
    for (const leg of LEGS) {
      const before = cpuSeconds(ctx.proxyPid);
      const { result, peakMiB } = await peakRssDuring(ctx.proxyPid, () =>
        runCurl(
          curlArgs(leg, ctx.proxyCa, ctx.originCa, [
            '-o',
            '/dev/null',
            '-T',
            file,
            `https://${ORIGIN}/upload`,
          ]),
        ),
      );
      seconds[leg].push(result.seconds);
      cpu[leg].push(cpuSeconds(ctx.proxyPid) - before);
      if (leg !== 'direct') peak = Math.max(peak, peakMiB);
    }
  }
  const gib = uploadBytes / GiB;
  const throughput = (leg: LegName) => gib / median(seconds[leg]);
  results['upload size, rounds'] =
    `${fmt(gib)} GiB × ${rounds} per leg (TLS both legs, veth between namespaces)`;
  results['upload throughput direct / explicit / transparent'] =
    LEGS.map((l) => `${fmt(throughput(l))}`).join(' / ') + ' GiB/s';
  results['upload vs direct: explicit / transparent'] =
    `${fmt(throughput('explicit') / throughput('direct'))}× / ${fmt(throughput('transparent') / throughput('direct'))}×`;
  results['upload transparent vs explicit'] = `${fmt(throughput('transparent') / throughput('explicit'))}×`;
  results['proxy CPU per GiB explicit / transparent'] =
    `${fmt(median(cpu.explicit) / gib)} / ${fmt(median(cpu.transparent) / gib)} s`;
  results['proxy peak RSS during uploads'] = `${fmt(peak, 0)} MiB`;
}

/** Keep-alive GETs on one connection per curl run (a URL glob), per-request time from curl itself. */
async function smallRequestScenario(ctx: Context): Promise<void> {
  const samples: Record<LegName, number[]> = { direct: [], explicit: [], transparent: [] };
  const rate: Record<LegName, number[]> = { direct: [], explicit: [], transparent: [] };
  // The first round warms JIT, leaf cache and connections on every side; it is not counted.
  for (let round = 0; round <= rounds; round++) {
    for (const leg of LEGS) {
      const { stdout, seconds } = await runCurl(
        curlArgs(leg, ctx.proxyCa, ctx.originCa, [
          '-o',
          '/dev/null',
          '-w',
          '%{time_total}\\n',
          `https://${ORIGIN}/small?n=[1-${SMALL_REQUESTS}]`,
        ]),
      );
      if (round === 0) continue;
      samples[leg].push(
        ...stdout
          .trim()
          .split('\n')
          .map((line) => Number(line) * 1000),
      );
      rate[leg].push(SMALL_REQUESTS / seconds);
    }
  }
  const p = (leg: LegName, q: number) => percentile(samples[leg], q);
  const line = (q: number) => LEGS.map((leg) => fmt(p(leg, q), 3)).join(' / ');
  results['small GET p50 direct / explicit / transparent'] = `${line(50)} ms`;
  results['small GET p99 direct / explicit / transparent'] = `${line(99)} ms`;
  results['small GET p50 vs direct: explicit / transparent'] =
    `+${fmt(p('explicit', 50) - p('direct', 50), 3)} / +${fmt(p('transparent', 50) - p('direct', 50), 3)} ms`;
  results['small GET p50, p99 transparent vs explicit'] =
    `${fmt(p('transparent', 50) / p('explicit', 50))}×, ${fmt(p('transparent', 99) / p('explicit', 99))}×`;
  results['requests/s direct / explicit / transparent'] =
    `${LEGS.map((leg) => fmt(median(rate[leg]), 0)).join(' / ')} (one curl per ${SMALL_REQUESTS}, process start included)`;
}

/** One new connection per new host name (fresh TLS; through the proxy a leaf is minted for each). */
async function newHostScenario(ctx: Context): Promise<void> {
  const times: Record<LegName, number[]> = { direct: [], explicit: [], transparent: [] };
  const cpu: Record<LegName, number> = { direct: 0, explicit: 0, transparent: 0 };
  const batch = 10;
  for (let start = 0; start < NEW_HOSTS; start += batch) {
    for (const leg of LEGS) {
      const config = join(work, `hosts-${leg}-${start}.curlrc`);
      const lines: string[] = [];
      for (let i = start; i < Math.min(NEW_HOSTS, start + batch); i++)
        lines.push(`url = "https://${newHost(leg, i)}/small-close"`, 'output = "/dev/null"');
      writeFileSync(config, `${lines.join('\n')}\n`);
      chmodSync(config, 0o644);
      const before = cpuSeconds(ctx.proxyPid);
      const { stdout } = await runCurl(
        curlArgs(leg, ctx.proxyCa, ctx.originCa, ['-w', '%{time_total}\\n', '-K', config]),
      );
      cpu[leg] += cpuSeconds(ctx.proxyPid) - before;
      times[leg].push(
        ...stdout
          .trim()
          .split('\n')
          .map((line) => Number(line) * 1000),
      );
    }
  }
  const m = (leg: LegName) => median(times[leg]);
  results['first connection to a new host, median direct / explicit / transparent'] =
    `${LEGS.map((leg) => fmt(m(leg), 2)).join(' / ')} ms (${NEW_HOSTS} hosts per leg)`;
  results['new host vs direct: explicit / transparent'] =
    `${fmt(m('explicit') / m('direct'))}× / ${fmt(m('transparent') / m('direct'))}×`;
  results['new host transparent vs explicit'] = `${fmt(m('transparent') / m('explicit'))}×`;
  results['proxy CPU per new host explicit / transparent'] =
    `${fmt((cpu.explicit / NEW_HOSTS) * 1000)} / ${fmt((cpu.transparent / NEW_HOSTS) * 1000)} ms`;
}

/** What the self-loop check adds per accepted connection: one sock_diag lookup (loopback pair here). */
async function peerOwnerCost(): Promise<void> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port });
  await once(client, 'connect');
  const local = { address: client.localAddress!, port: client.localPort! };
  const micros: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const start = process.hrtime.bigint();
    tcpSocketOwner(local, { address: '127.0.0.1', port });
    micros.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  client.destroy();
  server.close();
  results['self-loop check (sock_diag lookup) p50 / p99'] =
    `${fmt(percentile(micros, 50))} / ${fmt(percentile(micros, 99))} µs per accepted connection`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('bench/transparent.ts needs root (network namespaces, iptables)');
  const pki = makePki();
  makeNetwork();
  try {
    await startOrigin(pki);
    const proxy = await startProxy(pki.caPath);
    const ctx: Context = { proxyCa: proxy.caPath, originCa: pki.caPath, proxyPid: proxy.pid };
    const scenario = process.env.BENCH_ONLY;
    if (!scenario || scenario === 'upload') await uploadScenario(ctx);
    if (!scenario || scenario === 'latency') await smallRequestScenario(ctx);
    if (!scenario || scenario === 'hosts') await newHostScenario(ctx);
    await peerOwnerCost();
    const redirected = inPod(['iptables-save', '-c', '-t', 'nat'])
      .split('\n')
      .find((l) => l.includes('-A PP_OUTPUT -p tcp -j REDIRECT'));
    results['connections REDIRECTed (nat counter)'] = /^\[(\d+):/.exec(redirected ?? '')?.[1] ?? '?';
  } finally {
    for (const child of children.reverse()) await stopChild(child).catch(() => undefined);
    teardown();
  }
  const width = Math.max(...Object.keys(results).map((k) => k.length));
  process.stdout.write(
    `\nprovenance-proxy transparent vs explicit vs direct, ${new Date().toISOString()}, node ${process.version}\n`,
  );
  for (const [k, v] of Object.entries(results)) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
