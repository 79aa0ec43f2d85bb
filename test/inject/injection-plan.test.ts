import t from 'tap';
import { CA_BUNDLE, CA_CERT, CAPTURE_NAME, SIDECAR_NAME, VOLUME } from '../../src/inject/injected-parts.js';
import {
  INJECT_LABEL,
  type InjectionDecision,
  planInjection,
  STATUS_ANNOTATION,
} from '../../src/inject/injection-plan.js';
import { parseInjectorConfig } from '../../src/inject/injector-config.js';
import type { Container, Pod } from '../../src/inject/pod-types.js';
import { applyJsonPatch } from './apply-json-patch.js';

const EXPLICIT = parseInjectorConfig(
  JSON.stringify({
    image: 'registry.example/provenance-proxy:1.0',
    secrets: {
      signingKey: 'sign',
      controlToken: 'ctl',
      controlReadToken: 'ctl-read',
      registryCredentials: 'regcred',
      storeToken: 'store-writer',
    },
    store: { url: 'http://provenance-store.provenance-system.svc:8080', project: 'builds' },
    registries: ['registry.example.com'],
    noProxy: ['.cluster.local'],
  }),
);
const TRANSPARENT = parseInjectorConfig(JSON.stringify({ image: 'pp:1', mode: 'transparent' }));

function pod(
  overrides: Partial<Pod['spec']> = {},
  labels: Record<string, string> = { [INJECT_LABEL]: 'true' },
) {
  return {
    metadata: { name: 'build', labels, annotations: { 'example.com/owner': 'team-a' } },
    spec: {
      containers: [
        {
          name: 'build',
          image: 'quay.io/buildah/stable',
          env: [
            { name: 'HTTPS_PROXY', value: 'http://attacker.example:8080' },
            { name: 'KEEP', value: 'me' },
          ],
        },
      ],
      ...overrides,
    },
  } satisfies Pod;
}

function injected(decision: InjectionDecision, original: Pod): Pod {
  if (decision.kind !== 'inject') throw new Error(`expected inject, got ${JSON.stringify(decision)}`);
  return applyJsonPatch(original, decision.patch);
}

const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

t.test('a labelled pod gets the sidecar, trust, proxy variables and the status annotation', async (t) => {
  const original = pod({ initContainers: [{ name: 'clone', image: 'alpine/git' }] });
  const result = injected(planInjection(original, EXPLICIT, 'pod'), original);
  const [sidecar, clone] = result.spec.initContainers!;
  t.equal(sidecar!.name, SIDECAR_NAME, 'the sidecar is the first init container');
  t.equal(sidecar!.restartPolicy, 'Always', 'a native sidecar');
  t.equal(sidecar!.image, EXPLICIT.image);
  t.match(sidecar, {
    startupProbe: { httpGet: { path: '/readyz', port: 9464 } },
    readinessProbe: { httpGet: { path: '/readyz', port: 9464 } },
    livenessProbe: { httpGet: { path: '/healthz', port: 9464 } },
    securityContext: { runAsUser: 65532, runAsNonRoot: true, readOnlyRootFilesystem: true },
  });
  t.ok(
    (sidecar!.args as string[]).includes('--grafeas-url=http://provenance-store.provenance-system.svc:8080'),
  );
  t.ok((sidecar!.args as string[]).includes(`--ca-cert-out=${CA_CERT}`));
  t.ok(
    (sidecar!.args as string[]).includes('--registry-auth=/etc/provenance-proxy/registry/.dockerconfigjson'),
    'the registry credentials Secret is presented by the sidecar',
  );
  t.equal(clone!.name, 'clone', "the pod's own init containers run after the sidecar");
  for (const c of [clone!, result.spec.containers[0]!]) {
    const env = envOf(c);
    t.equal(env.HTTPS_PROXY, 'http://127.0.0.1:3128', `${c.name}: the build's own HTTPS_PROXY is replaced`);
    t.equal(env.http_proxy, 'http://127.0.0.1:3128');
    t.equal(env.NO_PROXY, '.cluster.local');
    t.equal(env.SSL_CERT_FILE, CA_BUNDLE);
    t.equal(env.NODE_EXTRA_CA_CERTS, CA_CERT);
    t.equal(env.REQUESTS_CA_BUNDLE, CA_BUNDLE);
    t.equal(c.env!.filter((e) => e.name === 'HTTPS_PROXY').length, 1, 'no duplicate variable');
    t.match(c.volumeMounts, [
      { name: VOLUME.ca, readOnly: true },
      { name: VOLUME.ca, mountPath: '/etc/containers/certs.d/registry.example.com', readOnly: true },
    ]);
  }
  t.equal(envOf(result.spec.containers[0]!).KEEP, 'me', 'the build keeps its other variables');
  const secretVolumes = (result.spec.volumes ?? []).filter((v) => v.secret);
  t.same(secretVolumes.map((v) => v.secret!.secretName).sort(), [
    'ctl',
    'ctl-read',
    'regcred',
    'sign',
    'store-writer',
  ]);
  const secretVolumeNames = new Set(secretVolumes.map((v) => v.name));
  const mountedBy = (c: Container) => (c.volumeMounts ?? []).filter((m) => secretVolumeNames.has(m.name));
  t.equal(mountedBy(sidecar!).length, 5, 'the sidecar mounts every Secret');
  t.equal(
    mountedBy(clone!).length + mountedBy(result.spec.containers[0]!).length,
    0,
    'build containers none',
  );
  t.same(
    result.spec.volumes?.find((v) => v.name === VOLUME.ca),
    {
      name: VOLUME.ca,
      emptyDir: { medium: 'Memory', sizeLimit: '1Mi' },
    },
  );
  t.same(result.metadata?.annotations, { 'example.com/owner': 'team-a', [STATUS_ANNOTATION]: 'injected' });
});

t.test('admitting the injected pod again changes nothing', async (t) => {
  for (const config of [EXPLICIT, TRANSPARENT]) {
    const once = injected(planInjection(pod(), config, 'pod'), pod());
    t.same(planInjection(once, config, 'pod'), { kind: 'skip', reason: 'already-injected' }, config.mode);
    // What the API server adds before a re-admission (defaults) is not a difference.
    const defaulted = structuredClone(once);
    for (const c of defaulted.spec.initContainers!) {
      c.terminationMessagePath = '/dev/termination-log';
      (c as { startupProbe?: Record<string, unknown> }).startupProbe &&= {
        ...(c.startupProbe as object),
        timeoutSeconds: 1,
      };
    }
    t.same(planInjection(defaulted, config, 'namespace'), { kind: 'skip', reason: 'already-injected' });
  }
});

t.test(
  'transparent mode puts the capture container first, with NET_ADMIN and no proxy variables',
  async (t) => {
    const result = injected(planInjection(pod(), TRANSPARENT, 'pod'), pod());
    const [capture, sidecar] = result.spec.initContainers!;
    t.equal(capture!.name, CAPTURE_NAME);
    t.same(capture!.securityContext!.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
    t.equal(capture!.restartPolicy, undefined, 'runs to completion before the sidecar starts');
    // Arguments capture-rules accepts (it refuses unknown ones), and the port the sidecar listens on.
    t.same(capture!.args, ['capture-rules', '--apply', '--proxy-uid=65532', '--transparent-port=15001']);
    t.ok(
      (sidecar!.args as string[]).includes('--transparent-listen=[::]:15001'),
      'the sidecar takes the redirected TCP',
    );
    t.equal(sidecar!.name, SIDECAR_NAME);
    t.same(sidecar!.securityContext!.capabilities, { drop: ['ALL'] }, 'the sidecar has no capability');
    const env = envOf(result.spec.containers[0]!);
    t.equal(env.SSL_CERT_FILE, CA_BUNDLE);
    t.equal(
      env.HTTPS_PROXY,
      'http://attacker.example:8080',
      'transparent mode does not need proxy variables',
    );
    t.equal(
      result.spec.volumes?.filter((v) => v.secret).length,
      2,
      'the default signing key and control token',
    );
  },
);

t.test('what is not asked for is left alone', async (t) => {
  t.same(planInjection(pod({}, {}), EXPLICIT, 'pod'), { kind: 'skip', reason: 'not-requested' });
  t.same(planInjection(pod({}, { [INJECT_LABEL]: 'false' }), EXPLICIT, 'namespace'), {
    kind: 'skip',
    reason: 'opted-out',
  });
  t.equal(planInjection(pod({}, {}), EXPLICIT, 'namespace').kind, 'inject', 'a build namespace injects all');
});

t.test('a pod without annotations gets the annotations object', async (t) => {
  const bare: Pod = {
    metadata: { labels: { [INJECT_LABEL]: 'true' } },
    spec: { containers: [{ name: 'b' }] },
  };
  const result = injected(planInjection(bare, EXPLICIT, 'pod'), bare);
  t.same(result.metadata?.annotations, { [STATUS_ANNOTATION]: 'injected' });
});

const UNPROTECTABLE: Array<[string, Partial<Pod['spec']>, RegExp]> = [
  ['hostNetwork', { hostNetwork: true }, /hostNetwork: true/],
  ['shared process namespace', { shareProcessNamespace: true }, /shareProcessNamespace/],
  [
    'a build container as the proxy UID',
    { containers: [{ name: 'sneaky', securityContext: { runAsUser: 65532 } }] },
    /"sneaky" runs as UID 65532/,
  ],
  [
    'the pod as the proxy UID',
    { securityContext: { runAsUser: 65532 }, containers: [{ name: 'b' }] },
    /"b" runs as UID 65532/,
  ],
  [
    'NET_ADMIN',
    { containers: [{ name: 'b', securityContext: { capabilities: { add: ['CAP_NET_ADMIN'] } } }] },
    /adds capability NET_ADMIN/,
  ],
  [
    'NET_RAW in an init container',
    {
      initContainers: [{ name: 'i', securityContext: { capabilities: { add: ['NET_RAW'] } } }],
      containers: [{ name: 'b' }],
    },
    /"i" adds capability NET_RAW/,
  ],
  ['privileged', { containers: [{ name: 'b', securityContext: { privileged: true } }] }, /"b" is privileged/],
  [
    'a container of its own named like the sidecar',
    { initContainers: [{ name: SIDECAR_NAME, image: 'evil' }], containers: [{ name: 'b' }] },
    /already has a container named "provenance-proxy"/,
  ],
  [
    "mounting the sidecar's signing key",
    {
      volumes: [{ name: 'k', secret: { secretName: 'sign' } }],
      containers: [{ name: 'b', volumeMounts: [{ name: 'k', mountPath: '/k' }] }],
    },
    /"b" mounts volume "k", a Secret only the sidecar may read/,
  ],
  [
    "mounting the sidecar's control token (finalize, signing on demand)",
    {
      volumes: [{ name: 'c', secret: { secretName: 'ctl' } }],
      containers: [{ name: 'report', volumeMounts: [{ name: 'c', mountPath: '/c' }] }],
    },
    /"report" mounts volume "c", a Secret only the sidecar may read/,
  ],
];

for (const [what, spec, message] of UNPROTECTABLE) {
  t.test(`denied: ${what}`, async (t) => {
    const decision = planInjection(pod(spec), EXPLICIT, 'pod');
    t.equal(decision.kind, 'deny');
    if (decision.kind === 'deny') {
      t.match(decision.message, message);
      t.match(decision.message, /^provenance-proxy cannot protect this pod: /);
    }
  });
}

t.test('the read token: the sidecar reads it, and a report step may mount it too', async (t) => {
  const spec = {
    volumes: [{ name: 'r', secret: { secretName: 'ctl-read' } }],
    containers: [{ name: 'report', volumeMounts: [{ name: 'r', mountPath: '/r', readOnly: true }] }],
  };
  const result = injected(planInjection(pod(spec), EXPLICIT, 'pod'), pod(spec));
  const sidecar = result.spec.initContainers![0]!;
  t.ok(
    (sidecar.args as string[]).includes('--control-read-token-file=/etc/provenance-proxy/control-read/token'),
    'the sidecar is told where it is',
  );
  t.match(
    result.spec.volumes?.find((v) => v.name === VOLUME.controlReadToken),
    { secret: { secretName: 'ctl-read', defaultMode: 0o400 } },
  );
  t.ok(
    sidecar.volumeMounts?.some(
      (m) => m.name === VOLUME.controlReadToken && m.mountPath === '/etc/provenance-proxy/control-read',
    ),
    'and mounts it',
  );
  const withoutReadToken = parseInjectorConfig(JSON.stringify({ image: 'pp:1' }));
  const plain = injected(planInjection(pod(), withoutReadToken, 'pod'), pod());
  t.notOk(
    (plain.spec.initContainers![0]!.args as string[]).some((a) => a.startsWith('--control-read-token-file')),
    'not configured: no read token at all',
  );
  t.notOk(plain.spec.volumes?.some((v) => v.name === VOLUME.controlReadToken));
});

t.test('a container running as another UID than the pod default is fine', async (t) => {
  const spec = {
    securityContext: { runAsUser: 65532 },
    containers: [{ name: 'b', securityContext: { runAsUser: 1000 } }],
  };
  t.equal(planInjection(pod(spec), EXPLICIT, 'pod').kind, 'inject');
});

t.test('the status annotation cannot carry a forged or missing sidecar past the webhook', async (t) => {
  const forge = (edit: (p: Pod) => void): InjectionDecision => {
    const once = injected(planInjection(pod(), TRANSPARENT, 'pod'), pod());
    edit(once);
    return planInjection(once, TRANSPARENT, 'pod');
  };
  const cases: Array<[string, (p: Pod) => void, RegExp]> = [
    [
      'no sidecar at all',
      (p) => (p.spec.initContainers = []),
      /init container 0 is not "provenance-proxy-capture"/,
    ],
    [
      'another image',
      (p) => (p.spec.initContainers![1]!.image = 'evil:1'),
      /"provenance-proxy" container differs from the injector's \(\.image\)/,
    ],
    [
      'an extra capability on the sidecar',
      (p) => (p.spec.initContainers![1]!.securityContext!.capabilities!.add = ['NET_ADMIN']),
      /\.securityContext\.capabilities\.add/,
    ],
    [
      'an extra variable in the sidecar',
      (p) => p.spec.initContainers![1]!.env!.push({ name: 'NODE_OPTIONS', value: '--require /tmp/x.js' }),
      /\.env/,
    ],
    ['capture rules switched off', (p) => (p.spec.initContainers![0]!.args = ['--help']), /\.args/],
    [
      'a build container with NET_ADMIN added afterwards',
      (p) => (p.spec.containers[0]!.securityContext = { capabilities: { add: ['NET_ADMIN'] } }),
      /adds capability NET_ADMIN/,
    ],
    [
      'the CA volume moved to disk',
      (p) => (p.spec.volumes!.find((v) => v.name === VOLUME.ca)!.emptyDir = {}),
      /volume "provenance-proxy-ca" differs/,
    ],
  ];
  for (const [what, edit, message] of cases) {
    const decision = forge(edit);
    t.equal(decision.kind, 'deny', what);
    if (decision.kind === 'deny') t.match(decision.message, message, what);
  }
});
