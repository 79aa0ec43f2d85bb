import { createHash } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from '../../support/run-command.js';
import { MACHINE_CACHE, PROJECT_ROOT, requireTool } from '../../support/tools.js';
import { buildah, buildahUnchecked } from './image-storage.js';

/**
 * A Node.js 20 base image made here from Debian packages (trixie ships nodejs 20.19), so the
 * image tests need no public image registry: `mmdebstrap` writes a root filesystem tarball,
 * `buildah from scratch` + `add` + `commit` turns it into an image. Both are cached under .tools/
 * and keyed by a hash of this recipe (change the recipe, get a new base); the tarball is kept in
 * the machine's test cache too, so a fresh clone (CI) imports it instead of bootstrapping again.
 */
const RECIPE = {
  suite: 'trixie',
  variant: 'minbase',
  include: ['nodejs', 'npm', 'ca-certificates'],
  env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
} as const;

const RECIPE_HASH = createHash('sha256').update(JSON.stringify(RECIPE)).digest('hex').slice(0, 16);
const TARBALL_NAME = `debian-${RECIPE.suite}-node-${RECIPE_HASH}.tar`;
const TARBALL = join(PROJECT_ROOT, '.tools', 'image-base', TARBALL_NAME);
const MACHINE_TARBALL = join(MACHINE_CACHE, 'image-base', TARBALL_NAME);

/** The base's name in the image tests' storage. */
export const DEBIAN_NODE_BASE = `localhost/provenance-proxy-test-base:${RECIPE.suite}-node-${RECIPE_HASH}`;

export interface BaseImageOutcome {
  readonly image: string;
  /** What had to be done: nothing (cached image), import (cached tarball), or mmdebstrap. */
  readonly made: 'cached' | 'imported' | 'bootstrapped';
}

export async function ensureDebianNodeBase(): Promise<BaseImageOutcome> {
  if ((await buildahUnchecked(['inspect', '--type', 'image', DEBIAN_NODE_BASE])).code === 0) {
    return { image: DEBIAN_NODE_BASE, made: 'cached' };
  }
  const bootstrapped = !(await exists(TARBALL)) && !(await copyIfPresent(MACHINE_TARBALL, TARBALL));
  if (bootstrapped) {
    await bootstrap();
    await copyIfPresent(TARBALL, MACHINE_TARBALL);
  }
  const container = (await buildah(['from', 'scratch'])).stdout.trim();
  try {
    await buildah(['add', container, TARBALL, '/']);
    await buildah([
      'config',
      ...RECIPE.env.flatMap((e) => ['--env', e]),
      '--cmd',
      '/usr/bin/node',
      container,
    ]);
    await buildah(['commit', '--rm', container, DEBIAN_NODE_BASE]);
  } catch (error) {
    await buildahUnchecked(['rm', container]);
    throw error;
  }
  return { image: DEBIAN_NODE_BASE, made: bootstrapped ? 'bootstrapped' : 'imported' };
}

/** mmdebstrap into a temporary name, then rename: an interrupted run leaves no half tarball. */
async function bootstrap(): Promise<void> {
  await mkdir(join(TARBALL, '..'), { recursive: true });
  // mmdebstrap picks its output format from the name's extension: keep `.tar` last.
  const partial = TARBALL.replace(/\.tar$/, `.partial-${process.pid}.tar`);
  try {
    await runChecked(
      requireTool('mmdebstrap'),
      [
        '--format=tar',
        `--variant=${RECIPE.variant}`,
        `--include=${RECIPE.include.join(',')}`,
        RECIPE.suite,
        partial,
      ],
      { timeoutMs: 1_800_000 },
    );
    await rename(partial, TARBALL);
  } finally {
    await rm(partial, { force: true, recursive: true });
  }
}

/** Copies `from` to `to` through a temporary name; false when `from` does not exist. */
async function copyIfPresent(from: string, to: string): Promise<boolean> {
  if (!(await exists(from))) return false;
  await mkdir(join(to, '..'), { recursive: true });
  const partial = `${to}.partial-${process.pid}`;
  try {
    await copyFile(from, partial);
    await rename(partial, to);
  } finally {
    await rm(partial, { force: true });
  }
  return true;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
