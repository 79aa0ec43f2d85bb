import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT, requireTool } from '../../support/tools.js';
import { type PodLab, PROXY_UID, TRANSPARENT_PORT } from './pod-lab.js';

const CLI = join(PROJECT_ROOT, 'dist/cli/main.js');

/** curl in the pod as the build (no proxy variables), trusting the proxy's CA: the status code on stdout. */
export function buildCurlStatus(lab: PodLab, url: string) {
  return lab.build([
    'curl',
    '-sS',
    '-g',
    '-m',
    '20',
    '--cacert',
    lab.proxy.trust.bundlePath,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    url,
  ]);
}

/** The real `capture-rules` CLI in the pod, as its capture step runs it (root, NET_ADMIN). */
export function captureRulesInPod(
  lab: PodLab,
  options: { proxyUid?: number; path?: string; mode?: '--apply' | '--check' } = {},
) {
  return lab.inPod([
    'env',
    `PATH=${options.path ?? process.env.PATH ?? ''}`,
    process.execPath,
    CLI,
    'capture-rules',
    '--proxy-uid',
    String(options.proxyUid ?? PROXY_UID),
    '--transparent-port',
    String(TRANSPARENT_PORT),
    options.mode ?? '--apply',
  ]);
}

/** `skopeo copy` of a local image to `destination`, trusting the proxy's CA, no credentials. */
export function skopeoPushArgs(
  lab: PodLab,
  source: string,
  destination: string,
  extra: string[] = [],
): string[] {
  return [
    requireTool('skopeo'),
    'copy',
    '--dest-cert-dir',
    lab.proxy.trust.certDir,
    '--dest-no-creds',
    ...extra,
    source,
    destination,
  ];
}

/** A cert dir (and file) with only the registry's real CA: a client that ignores the proxy's. */
export async function realCaOnly(lab: PodLab): Promise<{ certDir: string; caFile: string }> {
  const certDir = join(lab.dir, 'real-ca-only');
  await mkdir(certDir, { recursive: true });
  await copyFile(lab.ca.caCertPath, join(certDir, 'ca.crt'));
  return { certDir, caFile: join(certDir, 'ca.crt') };
}
