import {
  buildContainerEnv,
  buildContainerMounts,
  CAPTURE_NAME,
  injectedInitContainers,
  injectedVolumes,
  SIDECAR_NAME,
  sidecarSecretNames,
  VOLUME,
} from './injected-parts.js';
import type { InjectorConfig } from './injector-config.js';
import { addOperation, type JsonPatchOperation, pointer } from './json-patch.js';
import type { Container, EnvVar, Pod, Volume, VolumeMount } from './pod-types.js';
import { matchesInjected } from './subset-match.js';

export const INJECT_LABEL = 'provenance-proxy.dev/inject';
export const STATUS_ANNOTATION = 'provenance-proxy.dev/status';
export const STATUS_INJECTED = 'injected';

/** Capabilities that let a container rewrite or sidestep the pod's capture rules. */
const BYPASS_CAPABILITIES = new Set(['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'ALL']);

/** Why the webhook was called: a pod labelled for injection, or any pod of a labelled namespace. */
export type InjectionSource = 'pod' | 'namespace';

export type InjectionDecision =
  | { kind: 'inject'; patch: JsonPatchOperation[] }
  | { kind: 'skip'; reason: 'not-requested' | 'opted-out' | 'already-injected' }
  | { kind: 'deny'; message: string };

/**
 * Decides what to do with a pod at admission. Pure: the same pod and config always give
 * the same answer, which is what makes re-invocation safe.
 */
export function planInjection(pod: Pod, config: InjectorConfig, source: InjectionSource): InjectionDecision {
  const label = pod.metadata?.labels?.[INJECT_LABEL];
  if (source === 'pod' && label !== 'true') return { kind: 'skip', reason: 'not-requested' };
  if (source === 'namespace' && label === 'false') return { kind: 'skip', reason: 'opted-out' };

  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] === STATUS_INJECTED) {
    const mismatch = injectedMismatch(pod, config);
    if (mismatch === null) return { kind: 'skip', reason: 'already-injected' };
    return deny(`it is annotated ${STATUS_ANNOTATION}: ${STATUS_INJECTED} but ${mismatch}`);
  }

  const unprotectable = whyUnprotectable(pod, config);
  if (unprotectable !== null) return deny(unprotectable);
  return { kind: 'inject', patch: injectionPatch(pod, config) };
}

function deny(reason: string): InjectionDecision {
  return {
    kind: 'deny',
    message: `provenance-proxy cannot protect this pod: ${reason}. Fix the pod, or remove the ${INJECT_LABEL} label (a build namespace's policy may forbid that).`,
  };
}

/** The containers the build controls: everything but what the injector put there. */
function buildContainers(pod: Pod): Array<{ container: Container; path: string }> {
  const init = (pod.spec.initContainers ?? []).map((container, i) => ({
    container,
    path: `/spec/initContainers/${i}`,
  }));
  const main = pod.spec.containers.map((container, i) => ({ container, path: `/spec/containers/${i}` }));
  return [...init, ...main].filter(
    ({ container }) => container.name !== SIDECAR_NAME && container.name !== CAPTURE_NAME,
  );
}

function whyUnprotectable(pod: Pod, config: InjectorConfig): string | null {
  return podLevelProblem(pod) ?? reservedNameProblem(pod) ?? buildContainerProblem(pod, config);
}

function podLevelProblem(pod: Pod): string | null {
  if (pod.spec.hostNetwork === true) {
    return "hostNetwork: true shares the node's network, so its egress cannot be captured and the proxy would listen on the node";
  }
  if (pod.spec.hostPID === true || pod.spec.shareProcessNamespace === true) {
    return 'hostPID/shareProcessNamespace would let build containers see into the sidecar holding the CA key';
  }
  return null;
}

function reservedNameProblem(pod: Pod): string | null {
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  for (const reserved of [SIDECAR_NAME, CAPTURE_NAME]) {
    if (all.some((c) => c.name === reserved)) return `it already has a container named "${reserved}"`;
  }
  const ownVolumes = new Set<string>(Object.values(VOLUME));
  const clash = (pod.spec.volumes ?? []).find((v) => ownVolumes.has(v.name));
  return clash ? `it already has a volume named "${clash.name}"` : null;
}

function buildContainerProblem(pod: Pod, config: InjectorConfig): string | null {
  const podUid = pod.spec.securityContext?.runAsUser;
  const secretVolumes = volumesOfSecrets(pod.spec.volumes ?? [], new Set(sidecarSecretNames(config)));
  for (const { container } of buildContainers(pod)) {
    const sc = container.securityContext ?? {};
    const uid = sc.runAsUser ?? podUid;
    if (uid === config.proxyUid) {
      return `container "${container.name}" runs as UID ${config.proxyUid}, the proxy's, which the capture rules let out unobserved`;
    }
    if (sc.privileged === true) return `container "${container.name}" is privileged`;
    const added = (sc.capabilities?.add ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, ''));
    const bypass = added.find((c) => BYPASS_CAPABILITIES.has(c));
    if (bypass) return `container "${container.name}" adds capability ${bypass}, which can undo the capture`;
    const leak = (container.volumeMounts ?? []).find((m) => secretVolumes.has(m.name));
    if (leak) {
      return `container "${container.name}" mounts volume "${leak.name}", a Secret only the sidecar may read`;
    }
  }
  return null;
}

function volumesOfSecrets(volumes: Volume[], secretNames: Set<string>): Set<string> {
  const names = new Set<string>();
  for (const volume of volumes) {
    const direct = volume.secret?.secretName;
    const projected = (volume.projected?.sources ?? []).map((s) => s.secret?.name);
    if ([direct, ...projected].some((n) => n !== undefined && secretNames.has(n))) names.add(volume.name);
  }
  return names;
}

/**
 * A pod that says it is injected must carry exactly what this injector injects: otherwise
 * the annotation would be a way to bring one's own "sidecar" (or none) past the webhook.
 */
function injectedMismatch(pod: Pod, config: InjectorConfig): string | null {
  const expected = injectedInitContainers(config);
  const init = pod.spec.initContainers ?? [];
  for (const [i, want] of expected.entries()) {
    const have = init[i];
    if (have?.name !== want.name) return `its init container ${i} is not "${want.name}"`;
    const why = matchesInjected(want, have);
    if (why !== null) return `its "${want.name}" container differs from the injector's (${why})`;
  }
  const extra = init.slice(expected.length).find((c) => c.name === SIDECAR_NAME || c.name === CAPTURE_NAME);
  if (extra) return `it has a second "${extra.name}" container`;
  const volumes = pod.spec.volumes ?? [];
  for (const want of injectedVolumes(config)) {
    const have = volumes.find((v) => v.name === want.name);
    if (!have) return `volume "${want.name}" is missing`;
    const why = matchesInjected(want, have);
    if (why !== null) return `volume "${want.name}" differs from the injector's (${why})`;
  }
  return podLevelProblem(pod) ?? buildContainerProblem(pod, config);
}

function injectionPatch(pod: Pod, config: InjectorConfig): JsonPatchOperation[] {
  const env = buildContainerEnv(config);
  const mounts = buildContainerMounts(config);
  const withTrust = (c: Container): Container => ({
    ...c,
    env: withEnv(c.env ?? [], env),
    volumeMounts: withMounts(c.volumeMounts ?? [], mounts),
  });
  const patch: JsonPatchOperation[] = [
    // Ahead of the pod's own init containers, so those run with the proxy up too.
    addOperation('/spec/initContainers', [
      ...injectedInitContainers(config),
      ...(pod.spec.initContainers ?? []).map(withTrust),
    ]),
  ];
  for (const [i, container] of pod.spec.containers.entries()) {
    const changed = withTrust(container);
    patch.push(addOperation(`/spec/containers/${i}/env`, changed.env));
    patch.push(addOperation(`/spec/containers/${i}/volumeMounts`, changed.volumeMounts));
  }
  patch.push(addOperation('/spec/volumes', [...(pod.spec.volumes ?? []), ...injectedVolumes(config)]));
  if (pod.metadata?.annotations) {
    patch.push(addOperation(`/metadata/annotations/${pointer(STATUS_ANNOTATION)}`, STATUS_INJECTED));
  } else {
    patch.push(addOperation('/metadata/annotations', { [STATUS_ANNOTATION]: STATUS_INJECTED }));
  }
  return patch;
}

/** The container's variables with the injector's replacing any of the same name. */
function withEnv(own: EnvVar[], injected: EnvVar[]): EnvVar[] {
  const names = new Set(injected.map((e) => e.name));
  return [...own.filter((e) => !names.has(e.name)), ...injected];
}

function withMounts(own: VolumeMount[], injected: VolumeMount[]): VolumeMount[] {
  const paths = new Set(injected.map((m) => m.mountPath));
  return [...own.filter((m) => !paths.has(m.mountPath)), ...injected];
}
