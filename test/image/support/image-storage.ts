import { join } from 'node:path';
import {
  type CommandOptions,
  type CommandResult,
  runChecked,
  runCommand,
} from '../../support/run-command.js';
import { MACHINE_CACHE, PROJECT_ROOT, requireTool } from '../../support/tools.js';

/**
 * The image tests' own containers/storage, under the ignored .tools/ folder: the Debian base
 * and the layers of earlier builds survive between runs (the machine's cache), and nothing of
 * the machine's default storage is touched.
 */
export const IMAGE_STORAGE = {
  root: join(PROJECT_ROOT, '.tools', 'image-storage', 'root'),
  runRoot: join(PROJECT_ROOT, '.tools', 'image-storage', 'run'),
  driver: 'overlay',
  /** npm's cache, lent to the build's RUN steps: a second cold build (even in a fresh clone) downloads nothing. */
  npmCache: join(MACHINE_CACHE, 'npm-cache'),
} as const;

/** `containers-storage:` transport name of an image in this storage, for skopeo. */
export function storageReference(image: string): string {
  const { driver, root, runRoot } = IMAGE_STORAGE;
  return `containers-storage:[${driver}@${root}+${runRoot}]${image}`;
}

const STORAGE_FLAGS = [
  '--root',
  IMAGE_STORAGE.root,
  '--runroot',
  IMAGE_STORAGE.runRoot,
  '--storage-driver',
  IMAGE_STORAGE.driver,
];

/** buildah against the image tests' storage; throws unless it exits 0. */
export function buildah(args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return runChecked(requireTool('buildah'), [...STORAGE_FLAGS, ...args], {
    timeoutMs: 1_200_000,
    ...options,
  });
}

/** buildah that may fail (e.g. `inspect` of an image not built yet). */
export function buildahUnchecked(args: readonly string[]): Promise<CommandResult> {
  return runCommand(requireTool('buildah'), [...STORAGE_FLAGS, ...args]);
}
