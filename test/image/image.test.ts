// The image (issue 12): the repository's Containerfile built with buildah against a Node.js 20
// base made here from Debian packages, run from its mounted root filesystem as its own user with
// a read-only root, then pushed *through the proxy it contains* to the local registry, and the
// provenance that proxy recorded verified with `provenance-proxy verify`.
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { readManifest } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import { startProxy } from '../support/proxy.js';
import { runChecked, runCommand } from '../support/run-command.js';
import { settleProxy } from '../support/settle-barrier.js';
import { findTool, PROJECT_ROOT, type ToolName } from '../support/tools.js';
import { ensureDebianNodeBase } from './support/debian-base.js';
import { storageReference } from './support/image-storage.js';
import {
  buildImage,
  gitRevision,
  IMAGE_UNDER_TEST,
  imageConfig,
  mountImage,
  projectVersion,
  storedSize,
} from './support/image-under-test.js';

const NEEDED: ToolName[] = ['buildah', 'mmdebstrap', 'skopeo', 'unshare', 'docker-registry', 'openssl'];
const missing = NEEDED.filter((tool) => findTool(tool) === undefined);
const CLI = join(PROJECT_ROOT, 'dist/cli/main.js');

const timings: Record<string, string> = {};
async function timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[phase] = `${((Date.now() - started) / 1000).toFixed(1)}s`;
  }
}

if (missing.length > 0 || process.getuid?.() !== 0) {
  t.plan(
    0,
    `skipped: needs root and ${missing.join(', ') || 'nothing else'} (scripts/install-test-deps.sh installs them)`,
  );
} else {
  const base = await timed('base image', ensureDebianNodeBase);
  t.comment(`base ${base.image}: ${base.made}`);
  const revision = await gitRevision();
  await timed('build', () => buildImage(base.image, revision));
  const config = await imageConfig(IMAGE_UNDER_TEST);
  const version = await projectVersion();
  const image = await mountImage(IMAGE_UNDER_TEST, config);
  t.teardown(() => image.remove());
  const entrypoint = config.Entrypoint ?? [];

  t.test('configuration: non-root user, entrypoint, OCI labels, a data volume', async (t) => {
    t.equal(config.User, '65532:65532');
    t.same(entrypoint, ['/usr/local/bin/provenance-proxy']);
    t.same(config.Cmd, ['run']);
    t.match(config.Labels ?? {}, {
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.source': /^https:\/\//,
    });
    t.ok(config.Env?.includes('PROVENANCE_PROXY_DATA_DIR=/var/lib/provenance-proxy'));
    t.comment(`image size in storage: ${await storedSize(IMAGE_UNDER_TEST)}`);
  });

  t.test('contents: production dependencies only, no build secret', async (t) => {
    const app = join(image.rootfs, 'opt/provenance-proxy');
    t.ok(await exists(join(app, 'dist/cli/main.js')), 'the compiled CLI');
    t.ok(await exists(join(app, 'node_modules/prom-client')), 'a production dependency');
    for (const dev of ['typescript', 'tap', '@biomejs/biome', 'tsx']) {
      t.notOk(await exists(join(app, 'node_modules', dev)), `no dev dependency ${dev}`);
    }
    t.notOk(
      await exists(join(image.rootfs, 'run/secrets/ca-certificates')),
      'the CA secret is not in a layer',
    );
    // The host's own CAs (e.g. a re-signing egress proxy's) reached npm only through the secret.
    const imageBundle = await readFile(join(image.rootfs, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
    for (const name of await readdir('/usr/local/share/ca-certificates').catch(() => [])) {
      const pem = await readFile(join('/usr/local/share/ca-certificates', name), 'utf8').catch(() => '');
      const body = pem.split('\n').slice(1, 4).join('\n');
      if (body.length > 0) t.notOk(imageBundle.includes(body), `host CA ${name} is not trusted by the image`);
    }
  });

  t.test('the entrypoint runs as 65532 from a read-only root: --help', async (t) => {
    const result = await image.run([...entrypoint, '--help']);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, /Usage: provenance-proxy <command>/);
    t.equal((await image.run(['/usr/bin/id', '-u'])).stdout.trim(), '65532');
    const write = await image.run(['/bin/sh', '-c', 'echo x > /opt/provenance-proxy/written']);
    t.not(write.code, 0, 'the root filesystem refuses writes');
    t.match(write.stderr, /Read-only file system/);
  });

  t.test('the image proxies, intercepts, and records its own push; verify accepts it', async (t) => {
    const lab = await startLab({
      name: 'image',
      teardown: (fn) => t.teardown(fn),
      registries: ['open'],
      withProxy: false,
    });
    const registry = lab.registry('open');
    // The one volume the proxy writes to, as an emptyDir would be; keys and the upstream CA in it.
    const volume = join(lab.dir, 'image-proxy');
    await mkdir(join(volume, 'keys'), { recursive: true });
    await copyFile(lab.ca.caCertPath, join(volume, 'upstream-ca.pem'));
    const signingKey = join(volume, 'keys', 'signing-key.pem');
    const publicKey = join(lab.dir, 'signing-pub.pem');
    await runChecked('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      signingKey,
    ]);
    await runChecked('openssl', ['pkey', '-in', signingKey, '-pubout', '-out', publicKey]);
    const provenanceDir = join(volume, 'provenance');

    const proxy = await timed('proxy start', () =>
      startProxy({
        dir: volume,
        upstreamCaPath: join(volume, 'upstream-ca.pem'),
        command: image.command([volume], entrypoint),
        extraArgs: ['--signing-key', signingKey, '--provenance-dir', provenanceDir],
      }),
    );
    t.teardown(() => proxy.stop());

    // One intercepted request: curl trusts only the proxy's CA, so success means the proxy
    // terminated TLS and verified the registry's certificate (the test CA) itself.
    const curl = await runChecked('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--proxy',
      proxy.url,
      '--cacert',
      join(proxy.trust.certDir, 'ca.crt'),
      `https://${registry.host}/v2/`,
    ]);
    t.equal(curl.stdout, '200', "curl through the image's proxy reached the registry");
    t.match(
      await proxy.metrics(),
      /provenance_proxy_bytes_total\{direction="out",mode="intercepted"\} [1-9]/,
    );

    const clients = lab.clients.withRoute({
      proxyUrl: proxy.url,
      get trust() {
        return proxy.trust;
      },
    });
    const pushed = await timed('push through the proxy', () =>
      clients.skopeoCopy(
        storageReference(IMAGE_UNDER_TEST),
        `docker://${registry.host}/provenance-proxy:${version}`,
      ),
    );
    const stored = await readManifest(registry.directClient(), 'provenance-proxy', version);
    t.equal(pushed.digest, stored.digest, 'skopeo and the registry agree on the digest');
    const layers = (stored.body.layers ?? []) as { size?: number }[];
    const compressed = layers.reduce((sum, layer) => sum + (layer.size ?? 0), 0);
    t.comment(
      `image size in the registry (compressed layers): ${(compressed / 1e6).toFixed(1)} MB in ${layers.length} layers`,
    );
    await settleProxy(proxy, registry);

    // Tekton's image swap, or any pod stop: SIGTERM seals and writes the build statement.
    await proxy.stop();
    const files = await readdir(provenanceDir);
    const build = files.find((name) => name.startsWith('build-') && name.endsWith('.intoto.jsonl'));
    t.ok(build, `a build statement among ${files.join(', ')}`);
    const reference = `${registry.host}/provenance-proxy@${stored.digest}`;
    const verified = await runCommand(process.execPath, [
      CLI,
      'verify',
      reference,
      '--envelope',
      join(provenanceDir, build ?? 'missing'),
      '--public-key',
      publicKey,
      '--json',
    ]);
    t.equal(verified.code, 0, `verify ${reference}: ${verified.stderr}`);
    t.ok(await exists(join(proxy.dataDir, 'observations.jsonl')), 'the journal is in the data volume');
  });

  t.teardown(() => {
    t.comment(`timings: ${JSON.stringify(timings)}`);
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
