import type { InjectorConfig } from './injector-config.js';
import type { Container, EnvVar, Volume, VolumeMount } from './pod-types.js';

/** Names the injector owns in a pod: a pod that brings its own is refused. */
export const SIDECAR_NAME = 'provenance-proxy';
export const CAPTURE_NAME = 'provenance-proxy-capture';
export const VOLUME = {
  ca: 'provenance-proxy-ca',
  data: 'provenance-proxy-data',
  signingKey: 'provenance-proxy-signing-key',
  controlToken: 'provenance-proxy-control-token',
  controlReadToken: 'provenance-proxy-control-read-token',
  registryCredentials: 'provenance-proxy-registry-credentials',
  storeToken: 'provenance-proxy-store-token',
} as const;

/** Where the pod CA appears: written by the sidecar, read-only in every build container. */
export const CA_DIR = '/var/run/provenance-proxy/ca';
/** `.crt`: containers/image's certs.d reads only *.crt files as CAs. */
export const CA_CERT = `${CA_DIR}/ca.crt`;
/** System roots + the pod CA: SSL_CERT_FILE replaces the system roots for Go and OpenSSL. */
export const CA_BUNDLE = `${CA_DIR}/bundle.pem`;
const DATA_DIR = '/var/lib/provenance-proxy';
/** Where the capture rules REDIRECT the pod's TCP (transparent mode): the capture container and the sidecar agree on it. */
export const TRANSPARENT_PORT = 15001;
const SECRET_DIR = '/etc/provenance-proxy';

/** Trust for common clients, whatever the mode. */
const TRUST_ENV: EnvVar[] = [
  { name: 'SSL_CERT_FILE', value: CA_BUNDLE },
  { name: 'NODE_EXTRA_CA_CERTS', value: CA_CERT },
  { name: 'REQUESTS_CA_BUNDLE', value: CA_BUNDLE },
  { name: 'CURL_CA_BUNDLE', value: CA_BUNDLE },
];

/** Every variable the injector sets in a build container; a container's own value is overridden. */
export function buildContainerEnv(config: InjectorConfig): EnvVar[] {
  if (config.mode !== 'explicit') return TRUST_ENV;
  const proxyUrl = `http://127.0.0.1:${config.proxyPort}`;
  const noProxy = config.noProxy.join(',');
  // curl reads only the lower-case http_proxy; Go and Python read both.
  return [
    ...TRUST_ENV,
    { name: 'HTTPS_PROXY', value: proxyUrl },
    { name: 'HTTP_PROXY', value: proxyUrl },
    { name: 'https_proxy', value: proxyUrl },
    { name: 'http_proxy', value: proxyUrl },
    { name: 'NO_PROXY', value: noProxy },
    { name: 'no_proxy', value: noProxy },
  ];
}

/** The mounts every build container gets: the CA directory, and a certs.d entry per registry. */
export function buildContainerMounts(config: InjectorConfig): VolumeMount[] {
  return [
    { name: VOLUME.ca, mountPath: CA_DIR, readOnly: true },
    ...config.registries.map((host) => ({
      name: VOLUME.ca,
      mountPath: `/etc/containers/certs.d/${host}`,
      readOnly: true,
    })),
  ];
}

interface SecretMount {
  volume: string;
  secretName: string;
  dir: string;
  /** false: another container of the pod may mount it too (the read token, for a report step). */
  sidecarOnly: boolean;
}

function secretMounts(config: InjectorConfig): SecretMount[] {
  const mounts: SecretMount[] = [];
  const add = (volume: string, secretName: string | null, dir: string, sidecarOnly = true) => {
    if (secretName !== null) mounts.push({ volume, secretName, dir, sidecarOnly });
  };
  add(VOLUME.signingKey, config.secrets.signingKey, `${SECRET_DIR}/signing`);
  add(VOLUME.controlToken, config.secrets.controlToken, `${SECRET_DIR}/control`);
  add(VOLUME.controlReadToken, config.secrets.controlReadToken, `${SECRET_DIR}/control-read`, false);
  add(VOLUME.registryCredentials, config.secrets.registryCredentials, `${SECRET_DIR}/registry`);
  add(VOLUME.storeToken, config.secrets.storeToken, `${SECRET_DIR}/store`);
  return mounts;
}

/**
 * The names of the Secrets only the sidecar may mount. Not the read token's: it opens the
 * read-only views alone, never finalize or signing, so a report step may hold it.
 */
export function sidecarSecretNames(config: InjectorConfig): string[] {
  return secretMounts(config)
    .filter((m) => m.sidecarOnly)
    .map((m) => m.secretName);
}

export function injectedVolumes(config: InjectorConfig): Volume[] {
  return [
    { name: VOLUME.ca, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: VOLUME.data, emptyDir: {} },
    ...secretMounts(config).map((m) => ({
      name: m.volume,
      secret: { secretName: m.secretName, defaultMode: 0o400 },
    })),
  ];
}

function sidecarArgs(config: InjectorConfig): string[] {
  const secrets = config.secrets;
  return [
    'run',
    `--listen=127.0.0.1:${config.proxyPort}`,
    // The kubelet probes the pod IP; finalize is guarded by the control token.
    `--control-listen=0.0.0.0:${config.controlPort}`,
    `--data-dir=${DATA_DIR}`,
    `--ca-cert-out=${CA_CERT}`,
    `--ca-bundle-out=${CA_BUNDLE}`,
    ...(secrets.signingKey ? [`--signing-key=${SECRET_DIR}/signing/key.pem`] : []),
    ...(secrets.controlToken ? [`--control-token-file=${SECRET_DIR}/control/token`] : []),
    ...(secrets.controlReadToken ? [`--control-read-token-file=${SECRET_DIR}/control-read/token`] : []),
    ...(config.store
      ? [`--grafeas-url=${config.store.url}`, `--grafeas-project=${config.store.project}`]
      : []),
    ...(config.store && secrets.storeToken ? [`--grafeas-token-file=${SECRET_DIR}/store/token`] : []),
    // A kubernetes.io/dockerconfigjson Secret, mounted as a directory (not subPath) so updates reach it.
    ...(secrets.registryCredentials ? [`--registry-auth=${SECRET_DIR}/registry/.dockerconfigjson`] : []),
    ...config.policy.intercept.map((p) => `--intercept=${p}`),
    ...config.policy.tunnel.map((p) => `--tunnel=${p}`),
    // The port the capture rules redirect to; the proxy checks those rules with its canary.
    ...(config.mode === 'transparent' ? [`--transparent-listen=[::]:${TRANSPARENT_PORT}`] : []),
  ];
}

const fieldEnv = (name: string, fieldPath: string): EnvVar => ({
  name,
  // apiVersion spelled out: the API server defaults it, and re-admission compares field by field.
  valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } },
});

/** The proxy as a native sidecar: an init container that keeps running (Kubernetes >= 1.29). */
export function sidecarContainer(config: InjectorConfig): Container {
  const probe = (path: string, extra: Record<string, number>) => ({
    httpGet: { path, port: config.controlPort },
    ...extra,
  });
  return {
    name: SIDECAR_NAME,
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    restartPolicy: 'Always',
    args: sidecarArgs(config),
    env: [
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_UID', 'metadata.uid'),
      fieldEnv('PROVENANCE_PROXY_BUILD_ID', "metadata.labels['tekton.dev/taskRun']"),
    ],
    ports: [{ name: 'pp-control', containerPort: config.controlPort, protocol: 'TCP' }],
    // Build containers start only once the CA exists and the proxy listens.
    startupProbe: probe('/readyz', { periodSeconds: 1, failureThreshold: 60 }),
    readinessProbe: probe('/readyz', { periodSeconds: 5 }),
    livenessProbe: probe('/healthz', { periodSeconds: 10 }),
    securityContext: {
      runAsUser: config.proxyUid,
      runAsGroup: config.proxyUid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: config.resources,
    volumeMounts: [
      { name: VOLUME.ca, mountPath: CA_DIR },
      { name: VOLUME.data, mountPath: DATA_DIR },
      ...secretMounts(config).map((m) => ({ name: m.volume, mountPath: m.dir, readOnly: true })),
    ],
  };
}

/**
 * Transparent capture: installs the redirect rules in the pod's network namespace before
 * anything else runs, then exits. NET_ADMIN only, and only here.
 */
export function captureContainer(config: InjectorConfig): Container {
  const args =
    config.capture.args.length > 0
      ? config.capture.args
      : [
          'capture-rules',
          '--apply',
          `--proxy-uid=${config.proxyUid}`,
          `--transparent-port=${TRANSPARENT_PORT}`,
        ];
  return {
    name: CAPTURE_NAME,
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    args,
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      // Writable root: iptables takes its lock under /run.
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
  };
}

/** What goes at the head of initContainers, in order. */
export function injectedInitContainers(config: InjectorConfig): Container[] {
  return config.mode === 'transparent'
    ? [captureContainer(config), sidecarContainer(config)]
    : [sidecarContainer(config)];
}
