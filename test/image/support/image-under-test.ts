import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SYSTEM_CA_BUNDLE } from '../../support/pki.js';
import { type CommandResult, runChecked, runCommand } from '../../support/run-command.js';
import { PROJECT_ROOT, requireTool } from '../../support/tools.js';
import { buildah, buildahUnchecked, IMAGE_STORAGE } from './image-storage.js';

/** The name the image tests build the repository's Containerfile as. */
export const IMAGE_UNDER_TEST = 'localhost/provenance-proxy:test';
const RUNNER = new URL('./run-in-rootfs.sh', import.meta.url).pathname;

export interface ImageConfig {
  readonly User?: string;
  readonly Entrypoint?: string[];
  readonly Cmd?: string[];
  readonly Env?: string[];
  readonly Labels?: Record<string, string>;
}

export async function projectVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
}

/**
 * `buildah bud` of the Containerfile at the repository root against `base`. The host's CA
 * bundle goes in as a build secret (npm's HTTPS may be re-signed by a local CA), the npm cache
 * as a volume under .tools/: both exist only while a RUN step runs. `--isolation chroot`
 * because crun cannot create containers on this machine kind; `--layers` so an unchanged
 * step is a cache hit on the next run.
 */
export async function buildImage(base: string, revision: string): Promise<void> {
  await mkdir(IMAGE_STORAGE.npmCache, { recursive: true });
  await buildah(
    [
      'bud',
      '--isolation',
      'chroot',
      '--layers',
      '--pull=never',
      '--file',
      join(PROJECT_ROOT, 'Containerfile'),
      '--build-arg',
      `NODE_BASE=${base}`,
      '--build-arg',
      `VERSION=${await projectVersion()}`,
      '--build-arg',
      `REVISION=${revision}`,
      '--volume',
      `${IMAGE_STORAGE.npmCache}:/root/.npm`,
      '--secret',
      `id=ca-certificates,src=${SYSTEM_CA_BUNDLE}`,
      '--tag',
      IMAGE_UNDER_TEST,
      PROJECT_ROOT,
    ],
    { cwd: PROJECT_ROOT },
  );
}

export async function imageConfig(image: string): Promise<ImageConfig> {
  const inspected = JSON.parse((await buildah(['inspect', '--type', 'image', image])).stdout) as {
    OCIv1: { config?: ImageConfig };
  };
  return inspected.OCIv1.config ?? {};
}

/** Size in containers-storage (uncompressed layers), as buildah prints it. */
export async function storedSize(image: string): Promise<string> {
  return (await buildah(['images', '--format', '{{.Size}}', image])).stdout.trim().split('\n')[0] ?? '';
}

export interface MountedImage {
  readonly rootfs: string;
  /** The command that runs `command` from the root filesystem as the image's user, read-only. */
  command(volumes: readonly string[], command: readonly string[]): string[];
  /** Runs `command` that way with no volume; never throws. */
  run(command: readonly string[]): Promise<CommandResult>;
  remove(): Promise<void>;
}

/** A working container of `image`, mounted: its root filesystem, and a way to run from it. */
export async function mountImage(image: string, config: ImageConfig): Promise<MountedImage> {
  const container = (await buildah(['from', '--pull=never', image])).stdout.trim().split('\n').pop() ?? '';
  try {
    const rootfs = (await buildah(['mount', container])).stdout.trim();
    const user = config.User ?? '0:0';
    const commandFor = (volumes: readonly string[], command: readonly string[]): string[] => [
      requireTool('unshare'),
      '--mount',
      '--propagation',
      'private',
      '/bin/sh',
      RUNNER,
      rootfs,
      user.includes(':') ? user : `${user}:${user}`,
      ...volumes.flatMap((volume) => ['--volume', volume]),
      ...(config.Env ?? []).flatMap((variable) => ['--env', variable]),
      '--',
      ...command,
    ];
    return {
      rootfs,
      command: commandFor,
      run: (command) => {
        const [file, ...args] = commandFor([], command);
        return runCommand(file ?? '', args);
      },
      async remove() {
        await buildahUnchecked(['umount', container]);
        await buildahUnchecked(['rm', container]);
      },
    };
  } catch (error) {
    await buildahUnchecked(['rm', container]);
    throw error;
  }
}

export async function gitRevision(): Promise<string> {
  return (await runChecked('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT })).stdout.trim();
}
