import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Clients } from './clients.js';

export interface LocalImageSpec {
  /** Local name, e.g. localhost/interop/app:v1 */
  name: string;
  /** Files copied into the image (path inside the image → content). */
  files: Record<string, string | Buffer>;
  arch?: string;
}

/**
 * Builds an image in the Clients' private buildah/podman storage the way a build would,
 * but reproducibly: `buildah from scratch`, `buildah copy`, `buildah commit --timestamp 0`.
 */
export async function buildLocalImage(clients: Clients, spec: LocalImageSpec): Promise<void> {
  const context = join(clients.dir, 'build-context', spec.name.replace(/[^a-zA-Z0-9._-]/g, '_'));
  for (const [path, content] of Object.entries(spec.files)) {
    await mkdir(dirname(join(context, path)), { recursive: true });
    await writeFile(join(context, path), content);
  }
  const container = (await clients.buildah(['from', 'scratch'])).stdout.trim();
  try {
    for (const path of Object.keys(spec.files)) {
      await clients.buildah([
        'copy',
        '--chown',
        '0:0',
        '--chmod',
        '0644',
        container,
        join(context, path),
        `/${path}`,
      ]);
    }
    await clients.buildah(['config', '--cmd', '/bin/true', ...archConfig(spec.arch), container]);
    await clients.buildah(['commit', '--timestamp', '0', '--quiet', container, spec.name]);
  } finally {
    await clients.buildah(['rm', container]);
  }
}

/** A manifest list in local storage over already built local images. */
export async function buildLocalManifestList(
  clients: Clients,
  list: string,
  images: string[],
): Promise<void> {
  await clients.buildah(['manifest', 'create', list]);
  for (const image of images) await clients.buildah(['manifest', 'add', list, `containers-storage:${image}`]);
}

function archConfig(arch: string | undefined): string[] {
  return arch === undefined ? [] : ['--arch', arch];
}
