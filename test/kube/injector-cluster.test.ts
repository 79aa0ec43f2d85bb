import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Container, Pod } from '../../src/inject/pod-types.js';
import { type RunningInjector, startInjector } from '../support/injector.js';
import { type KubeTestBed, kubeTestBedMissing, startKubeTestBed, TEKTON_CRD_DIR } from '../support/kube.js';
import { makeTempDir } from '../support/temp-dir.js';
import { PROJECT_ROOT } from '../support/tools.js';
import { waitUntil } from '../support/wait-until.js';

/**
 * The deploy/ tree and the injector against a real kube-apiserver (no kubelet: pods are
 * admitted and stored, not run). Admission is the API server's own: the mutating webhook
 * called over TLS with a real AdmissionReview, and the ValidatingAdmissionPolicy in CEL.
 */
const DEPLOY = join(PROJECT_ROOT, 'deploy');
const IMAGE = 'registry.example/provenance-proxy:test-1';
const CONFIG = {
  image: IMAGE,
  secrets: {
    signingKey: 'provenance-signing-key',
    controlToken: 'provenance-control-token',
    controlReadToken: 'provenance-control-read-token',
    storeToken: 'store-writer',
  },
  store: { url: 'http://provenance-store.provenance-system.svc:8080', project: 'builds' },
  registries: ['registry.example.com'],
};
/** A build namespace without Pod Security labels, so only this project's admission decides. */
const BUILDS = 'builds-open';
const TEAM = 'team';

const missing = kubeTestBedMissing();
if (missing !== undefined) {
  t.plan(0, `cluster tests skipped: ${missing}`);
} else {
  await clusterTests();
}

async function clusterTests() {
  const tmp = await makeTempDir('kube');
  const bed = await startKubeTestBed(join(tmp.path, 'cluster'));
  let injector: RunningInjector | undefined;
  t.teardown(async () => {
    await injector?.stop();
    await bed.stop();
    await tmp.remove();
  });

  const podJson = (name: string, labels: Record<string, string>, spec: Partial<Pod['spec']> = {}): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      containers: [{ name: 'build', image: 'quay.io/buildah/stable', env: [{ name: 'KEEP', value: 'me' }] }],
      ...spec,
    },
  });
  const create = (namespace: string, pod: Pod, dryRun = false) =>
    bed.kubectl(
      [
        'create',
        '-n',
        namespace,
        ...(dryRun ? ['--dry-run=server', '-o', 'json'] : ['-o', 'json']),
        '-f',
        '-',
      ],
      {
        input: JSON.stringify(pod),
      },
    );
  const getPod = (namespace: string, name: string) => bed.getJson<Pod>(['get', 'pod', '-n', namespace, name]);

  await t.test('kubectl apply --dry-run=server -k deploy/ accepts every manifest', async (t) => {
    const rendered = await bed.getJson<{ items: Array<{ kind: string; metadata: { name: string } }> }>([
      'apply',
      '-k',
      DEPLOY,
      '--dry-run=client',
    ]);
    t.ok(rendered.items.length >= 15, `the tree renders ${rendered.items.length} objects`);
    const kinds = new Set(rendered.items.map((i) => i.kind));
    for (const kind of [
      'Deployment',
      'Service',
      'NetworkPolicy',
      'MutatingWebhookConfiguration',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
      'ClusterRole',
      'Namespace',
      'ConfigMap',
    ]) {
      t.ok(kinds.has(kind), `deploy/ has a ${kind}`);
    }
    // Namespaced objects are dry-run into namespaces that must exist: create those for real.
    const namespaces = rendered.items.filter((i) => i.kind === 'Namespace');
    await bed.kubectlChecked(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }),
    });
    const dryRun = await bed.kubectl(['apply', '--dry-run=server', '-k', DEPLOY]);
    t.equal(dryRun.code, 0, dryRun.stderr);
    const accepted = dryRun.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'));
    t.equal(accepted.length, rendered.items.length, 'every object passes server-side validation');
  });

  await t.test('the admission policy rejects build containers that could undo the capture', async (t) => {
    await bed.kubectlChecked(['apply', '-k', join(DEPLOY, 'policy')]);
    await bed.kubectlChecked(['create', 'namespace', BUILDS]);
    await bed.kubectlChecked(['label', 'namespace', BUILDS, 'provenance-proxy.dev/inject=true']);
    await bed.kubectlChecked(['create', 'namespace', TEAM]);
    const netAdmin = podJson(
      'net-admin',
      {},
      {
        containers: [
          { name: 'build', image: 'busybox', securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
        ],
      },
    );
    // A new policy is enforced once the API server has compiled it: poll, bounded.
    const rejected = await waitUntil(
      async () => {
        const result = await create(BUILDS, netAdmin, true);
        return result.code !== 0 ? result.stderr : false;
      },
      { what: 'the admission policy to be enforced', attempts: 100, intervalMs: 200 },
    );
    t.match(rejected, /provenance-proxy: build container build adds NET_ADMIN/);
    const cases: Array<[string, string, Pod, RegExp]> = [
      [
        'UID 65532 (container)',
        BUILDS,
        podJson(
          'uid',
          {},
          { containers: [{ name: 'b', image: 'busybox', securityContext: { runAsUser: 65532 } }] },
        ),
        /must not run as UID 65532/,
      ],
      [
        'UID 65532 (pod)',
        BUILDS,
        podJson(
          'uid-pod',
          {},
          { securityContext: { runAsUser: 65532 }, containers: [{ name: 'b', image: 'busybox' }] },
        ),
        /must not run as UID 65532/,
      ],
      [
        'NET_RAW in an init container',
        BUILDS,
        podJson(
          'raw',
          {},
          {
            initContainers: [
              { name: 'i', image: 'busybox', securityContext: { capabilities: { add: ['NET_RAW'] } } },
            ],
          },
        ),
        /build container i adds NET_ADMIN, NET_RAW/,
      ],
      [
        'privileged',
        BUILDS,
        podJson(
          'priv',
          {},
          { containers: [{ name: 'b', image: 'busybox', securityContext: { privileged: true } }] },
        ),
        /privileged build containers are not allowed/,
      ],
      ['hostNetwork', BUILDS, podJson('hostnet', {}, { hostNetwork: true }), /hostNetwork is not allowed/],
      [
        'opting out in a build namespace',
        BUILDS,
        podJson('optout', { 'provenance-proxy.dev/inject': 'false' }),
        /cannot opt out/,
      ],
      [
        'a labelled pod elsewhere with NET_ADMIN',
        TEAM,
        { ...netAdmin, metadata: { name: 'x', labels: { 'provenance-proxy.dev/inject': 'true' } } },
        /adds NET_ADMIN/,
      ],
      [
        'a "capture" container that adds more than NET_ADMIN',
        BUILDS,
        podJson(
          'fake-capture',
          {},
          {
            initContainers: [
              {
                name: 'provenance-proxy-capture',
                image: 'busybox',
                securityContext: { capabilities: { add: ['NET_ADMIN', 'SYS_PTRACE'] } },
              },
            ],
          },
        ),
        /capture container may add NET_ADMIN and nothing else/,
      ],
    ];
    for (const [what, namespace, pod, message] of cases) {
      const result = await create(namespace, pod, true);
      t.not(result.code, 0, `${what}: rejected`);
      t.match(result.stderr, message, what);
    }
    const plain = await create(BUILDS, podJson('plain', {}), true);
    t.equal(plain.code, 0, `a plain build pod passes: ${plain.stderr}`);
    const elsewhere = await create(TEAM, netAdmin, true);
    t.equal(elsewhere.code, 0, "pods outside build namespaces and unlabelled are not this policy's business");
  });

  await t.test('with the webhook registered, pods are injected as the config says', async (t) => {
    injector = await startInjector(join(tmp.path, 'injector'), CONFIG);
    await registerWebhook(bed, injector);
    // Registration takes effect once the API server's informer has it: poll, bounded.
    await waitUntil(
      async () => {
        const result = await create(TEAM, podJson('probe', { 'provenance-proxy.dev/inject': 'true' }), true);
        return result.code === 0 && (JSON.parse(result.stdout) as Pod).spec.initContainers?.length === 1;
      },
      { what: 'the webhook to be called', attempts: 100, intervalMs: 200 },
    );

    const created = await create(TEAM, podJson('labelled', { 'provenance-proxy.dev/inject': 'true' }));
    t.equal(created.code, 0, created.stderr);
    const stored = await getPod(TEAM, 'labelled');
    t.equal(stored.metadata?.annotations?.['provenance-proxy.dev/status'], 'injected');
    const init = stored.spec.initContainers ?? [];
    t.same(
      init.map((c) => c.name),
      ['provenance-proxy'],
      'one init container: the sidecar',
    );
    const sidecar = init[0]!;
    t.equal(sidecar.image, IMAGE);
    t.equal(sidecar.restartPolicy, 'Always', 'a native sidecar');
    t.match(sidecar, {
      startupProbe: { httpGet: { path: '/readyz', port: 9464, scheme: 'HTTP' } },
      readinessProbe: { httpGet: { path: '/readyz', port: 9464 } },
      livenessProbe: { httpGet: { path: '/healthz', port: 9464 } },
      securityContext: {
        runAsUser: 65532,
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      },
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    });
    const args = sidecar.args as string[];
    for (const arg of [
      'run',
      '--grafeas-url=http://provenance-store.provenance-system.svc:8080',
      '--grafeas-project=builds',
      '--signing-key=/etc/provenance-proxy/signing/key.pem',
      '--control-token-file=/etc/provenance-proxy/control/token',
      '--control-read-token-file=/etc/provenance-proxy/control-read/token',
      '--grafeas-token-file=/etc/provenance-proxy/store/token',
    ]) {
      t.ok(args.includes(arg), `sidecar argument ${arg}`);
    }
    const volumes = Object.fromEntries((stored.spec.volumes ?? []).map((v) => [v.name, v]));
    t.same(volumes['provenance-proxy-ca']?.emptyDir, { medium: 'Memory', sizeLimit: '1Mi' });
    t.equal(volumes['provenance-proxy-signing-key']?.secret?.secretName, 'provenance-signing-key');
    t.equal(volumes['provenance-proxy-control-token']?.secret?.secretName, 'provenance-control-token');
    t.equal(volumes['provenance-proxy-store-token']?.secret?.secretName, 'store-writer');
    const secretVolumes = new Set(
      Object.values(volumes)
        .filter((v) => v.secret)
        .map((v) => v.name),
    );
    const secretMounts = (c: Container) =>
      (c.volumeMounts ?? []).filter((m) => secretVolumes.has(m.name)).map((m) => m.name);
    t.same(secretMounts(sidecar).sort(), [...secretVolumes].sort(), 'the sidecar mounts every Secret');
    const build = stored.spec.containers[0]!;
    t.same(secretMounts(build), [], 'the build container mounts none');
    const env = Object.fromEntries((build.env ?? []).map((e) => [e.name, e.value]));
    t.match(env, {
      KEEP: 'me',
      HTTPS_PROXY: 'http://127.0.0.1:3128',
      HTTP_PROXY: 'http://127.0.0.1:3128',
      SSL_CERT_FILE: '/var/run/provenance-proxy/ca/bundle.pem',
      NODE_EXTRA_CA_CERTS: '/var/run/provenance-proxy/ca/ca.crt',
      REQUESTS_CA_BUNDLE: '/var/run/provenance-proxy/ca/bundle.pem',
    });
    // The API server stores an empty value as no value: the variable is still set, to "".
    t.same(
      build.env?.find((e) => e.name === 'NO_PROXY'),
      { name: 'NO_PROXY' },
      'NO_PROXY set to nothing',
    );
    t.same(
      build.volumeMounts?.map((m) => [m.name, m.mountPath, m.readOnly]),
      [
        ['provenance-proxy-ca', '/var/run/provenance-proxy/ca', true],
        ['provenance-proxy-ca', '/etc/containers/certs.d/registry.example.com', true],
      ],
    );
  });

  await t.test('an unlabelled pod outside build namespaces is stored as submitted', async (t) => {
    const created = await create(TEAM, podJson('unlabelled', {}));
    t.equal(created.code, 0, created.stderr);
    const stored = await getPod(TEAM, 'unlabelled');
    t.equal(stored.spec.initContainers, undefined);
    t.equal(stored.metadata?.annotations, undefined);
    t.same(stored.spec.containers[0]!.env, [{ name: 'KEEP', value: 'me' }]);
    t.notMatch(await injector!.log(), /"pod":"unlabelled"/, 'the webhook was not even called');
  });

  await t.test('a second admission does not inject twice', async (t) => {
    // A labelled pod in a build namespace matches both webhooks: the second sees the first's work.
    const both = await create(BUILDS, podJson('both-webhooks', { 'provenance-proxy.dev/inject': 'true' }));
    t.equal(both.code, 0, both.stderr);
    const stored = await getPod(BUILDS, 'both-webhooks');
    t.same(
      stored.spec.initContainers?.map((c) => c.name),
      ['provenance-proxy'],
    );
    t.equal(stored.spec.containers[0]!.env?.filter((e) => e.name === 'HTTPS_PROXY').length, 1);
    const log = await injector!.log();
    t.match(log, /"pod":"both-webhooks","via":"(pod|namespace)","decision":"inject"/);
    t.match(
      log,
      /"pod":"both-webhooks","via":"(pod|namespace)","decision":"skip","reason":"already-injected"/,
    );

    // Re-creating the stored, injected (and defaulted) spec under a new name changes nothing.
    const again: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'recreated',
        labels: stored.metadata?.labels,
        annotations: stored.metadata?.annotations,
      },
      spec: stored.spec,
    };
    const recreated = await create(BUILDS, again);
    t.equal(recreated.code, 0, recreated.stderr);
    const second = await getPod(BUILDS, 'recreated');
    t.same(second.spec.initContainers, stored.spec.initContainers, 'the same init containers, once');
    t.same(second.spec.volumes, stored.spec.volumes);
    t.same(second.spec.containers, stored.spec.containers);
  });

  await t.test('what cannot be protected is refused with the reason', async (t) => {
    const hostNetwork = await create(
      TEAM,
      podJson('hostnet', { 'provenance-proxy.dev/inject': 'true' }, { hostNetwork: true }),
    );
    t.not(hostNetwork.code, 0);
    t.match(hostNetwork.stderr, /provenance-proxy cannot protect this pod: hostNetwork: true/);
    const forged = await create(TEAM, {
      ...podJson(
        'forged',
        { 'provenance-proxy.dev/inject': 'true' },
        {
          initContainers: [{ name: 'provenance-proxy', image: 'evil/sidecar', restartPolicy: 'Always' }],
        },
      ),
      metadata: {
        name: 'forged',
        labels: { 'provenance-proxy.dev/inject': 'true' },
        annotations: { 'provenance-proxy.dev/status': 'injected' },
      },
    });
    t.not(forged.code, 0, 'a forged status annotation does not carry an own sidecar in');
    t.match(forged.stderr, /annotated provenance-proxy.dev\/status: injected but/);
    t.equal((await bed.kubectl(['get', 'pod', '-n', TEAM, 'forged'])).code, 1, 'nothing was stored');
  });

  await t.test(
    'a report step may mount the read token; no container but the sidecar the control token',
    async (t) => {
      // What the Tekton Task's report step does (deploy/tekton/task-buildah.yaml), and what a build
      // step would try instead: mount the control token, to finalize or have a snapshot signed.
      const mounting = (name: string, secretName: string) =>
        podJson(
          name,
          { 'provenance-proxy.dev/inject': 'true' },
          {
            volumes: [{ name: 'token', secret: { secretName } }],
            containers: [
              {
                name: 'report',
                image: IMAGE,
                volumeMounts: [{ name: 'token', mountPath: '/var/run/secrets/token', readOnly: true }],
              },
            ],
          },
        );
      const reader = await create(TEAM, mounting('reader', 'provenance-control-read-token'), true);
      t.equal(reader.code, 0, reader.stderr);
      t.equal(
        (JSON.parse(reader.stdout) as Pod).metadata?.annotations?.['provenance-proxy.dev/status'],
        'injected',
        'the read token: admitted and injected',
      );
      const controller = await create(TEAM, mounting('controller', 'provenance-control-token'), true);
      t.not(controller.code, 0, 'the control token: denied');
      t.match(controller.stderr, /"report" mounts volume "token", a Secret only the sidecar may read/);
    },
  );

  await t.test('a config change is picked up; a bad one is refused and the last good one kept', async (t) => {
    const next = 'registry.example/provenance-proxy:test-2';
    await injector!.writeConfig({ ...CONFIG, image: next });
    const imageNow = async () => {
      const result = await create(TEAM, podJson('reload', { 'provenance-proxy.dev/inject': 'true' }), true);
      return (JSON.parse(result.stdout) as Pod).spec.initContainers?.[0]?.image;
    };
    await waitUntil(async () => (await imageNow()) === next, {
      what: 'the new image',
      attempts: 100,
      intervalMs: 100,
    });
    await injector!.writeConfig({
      ...CONFIG,
      image: 'registry.example/provenance-proxy:bad',
      proxyPort: 9464,
    });
    await waitUntil(async () => /config_rejected/.test(await injector!.log()), {
      what: 'the rejection',
      attempts: 100,
      intervalMs: 100,
    });
    t.match(await injector!.log(), /"reason":"injector config controlPort: must differ from proxyPort"/);
    t.equal(await imageNow(), next, 'the last good config is still in force');
  });

  await t.test(
    'transparent mode: the capture container passes the admission policy, a build one does not',
    async (t) => {
      await injector!.writeConfig({ ...CONFIG, mode: 'transparent' });
      await waitUntil(
        async () => {
          const result = await create(TEAM, podJson('mode', { 'provenance-proxy.dev/inject': 'true' }), true);
          return (
            (JSON.parse(result.stdout) as Pod).spec.initContainers?.[0]?.name === 'provenance-proxy-capture'
          );
        },
        { what: 'transparent mode', attempts: 100, intervalMs: 100 },
      );
      const created = await create(BUILDS, podJson('transparent', {}));
      t.equal(
        created.code,
        0,
        `the injected NET_ADMIN container is the policy's exception: ${created.stderr}`,
      );
      const stored = await getPod(BUILDS, 'transparent');
      t.same(
        stored.spec.initContainers?.map((c) => c.name),
        ['provenance-proxy-capture', 'provenance-proxy'],
      );
      t.same(stored.spec.initContainers?.[0]?.securityContext?.capabilities, {
        drop: ['ALL'],
        add: ['NET_ADMIN'],
      });
      t.equal(
        stored.spec.containers[0]!.env?.find((e) => e.name === 'HTTPS_PROXY'),
        undefined,
        'no proxy variables',
      );
      const sneaky = await create(
        BUILDS,
        podJson(
          'sneaky',
          {},
          {
            containers: [
              { name: 'b', image: 'busybox', securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
            ],
          },
        ),
      );
      t.match(
        sneaky.stderr,
        /provenance-proxy cannot protect this pod: container "b" adds capability NET_ADMIN/,
      );
    },
  );

  await t.test('with the webhook down, pods that ask for it are not created', async (t) => {
    await injector!.stop();
    const refused = await create(TEAM, podJson('unprotected', { 'provenance-proxy.dev/inject': 'true' }));
    t.not(refused.code, 0);
    t.match(refused.stderr, /failed calling webhook "pods\.inject\.provenance-proxy\.dev"/);
    const inBuilds = await create(BUILDS, podJson('unprotected', {}));
    t.match(inBuilds.stderr, /failed calling webhook "namespaces\.inject\.provenance-proxy\.dev"/);
    t.equal((await create(TEAM, podJson('bystander', {}))).code, 0, 'other pods are unaffected');
  });

  const noCrds = existsSync(TEKTON_CRD_DIR)
    ? false
    : `${TEKTON_CRD_DIR} missing: run scripts/install-test-deps.sh`;
  await t.test(
    "the Tekton Task and Pipeline pass server-side dry-run with Tekton's CRDs",
    { skip: noCrds },
    async (t) => {
      // Server-side apply: the CRDs are larger than client-side apply's annotation allows.
      await bed.kubectlChecked(['apply', '--server-side', '-f', TEKTON_CRD_DIR]);
      await bed.kubectlChecked([
        'wait',
        '--for=condition=Established',
        '--timeout=60s',
        'crd/tasks.tekton.dev',
        'crd/pipelines.tekton.dev',
      ]);
      const dryRun = await waitUntil(
        async () => {
          const result = await bed.kubectl([
            'apply',
            '--dry-run=server',
            '-n',
            BUILDS,
            '-f',
            join(DEPLOY, 'tekton'),
          ]);
          return result.code === 0 ? result : false;
        },
        { what: 'Tekton kinds to be served', attempts: 50, intervalMs: 200 },
      );
      t.match(dryRun.stdout, /task\.tekton\.dev\/buildah-provenance created \(server dry run\)/);
      t.match(dryRun.stdout, /pipeline\.tekton\.dev\/build-with-provenance created \(server dry run\)/);
      const broken = await bed.kubectl(['apply', '--dry-run=server', '-n', BUILDS, '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'tekton.dev/v1',
          kind: 'Task',
          metadata: { name: 'x' },
          spec: { steps: 'not-a-list' },
        }),
      });
      t.not(broken.code, 0, 'the CRD schema is really checked');
    },
  );
}

/** deploy/'s MutatingWebhookConfiguration, pointed at the test injector instead of the Service. */
async function registerWebhook(bed: KubeTestBed, injector: RunningInjector): Promise<void> {
  const config = await bed.getJson<{
    metadata: { annotations?: Record<string, string> };
    webhooks: Array<{ clientConfig: Record<string, unknown> }>;
  }>(['create', '--dry-run=client', '-f', join(DEPLOY, 'injector', 'mutating-webhook.yaml')]);
  delete config.metadata.annotations;
  for (const webhook of config.webhooks) {
    const service = webhook.clientConfig.service as { path: string };
    webhook.clientConfig = { url: `${injector.url}${service.path}`, caBundle: injector.caBundle };
  }
  await bed.kubectlChecked(['apply', '-f', '-'], { input: JSON.stringify(config) });
}
