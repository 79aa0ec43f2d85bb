// Real Go and containers/image clients, in the pod as the build's UID with no proxy variables,
// push and pull through transparent capture alone: every push is in /v1/images and the
// statement with the digests the registry stored, every pull is a resolved dependency.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildFixtureLayout } from '../support/fixture-images.js';
import { requireTool } from '../support/tools.js';
import { podRegistryGroundTruth } from './support/pod-ground-truth.js';
import { isRoot, startPodLab } from './support/pod-lab.js';
import { assertPullRecorded, assertPushesRecorded } from './support/pod-records.js';

/** What the build addresses (port 443): the name the proxy records. */
const REGISTRY = 'registry.test';

if (!isRoot()) {
  t.plan(0, 'transparent capture needs root (network namespaces, iptables, setpriv)');
} else {
  t.test('real clients with no proxy variables, captured transparently', async (t) => {
    const lab = await startPodLab('clients', (fn) => t.teardown(fn));
    const registry = await podRegistryGroundTruth(lab, (fn) => t.teardown(fn));
    const work = join(lab.dir, 'work');
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'note.txt'), 'pushed by oras through transparent capture\n');
    await buildFixtureLayout(join(work, 'layout'));
    lab.inPod(['chmod', '-R', 'a+rwX', work]);
    /** Go clients replace their roots with SSL_CERT_FILE: system roots plus the proxy's CA. */
    const go = { SSL_CERT_FILE: lab.proxy.trust.bundlePath, DOCKER_CONFIG: join(work, 'docker') };
    const build = (args: string[]) => lab.build(args, go);

    const crane = requireTool('crane');

    t.test('crane pushes (append) and copies inside the registry: both recorded', async (t) => {
      for (const [name, file] of [
        ['app', 'oci-layout'],
        ['skopeo', 'index.json'],
      ]) {
        const layer = join(work, `${name}.tar`);
        const tar = lab.build(['tar', '-C', join(work, 'layout'), '-cf', layer, file!]);
        t.equal(tar.status, 0, tar.stderr);
        const appended = build([
          crane,
          'append',
          '--new_layer',
          layer,
          '--new_tag',
          `${REGISTRY}/crane/${name}:1`,
        ]);
        t.equal(appended.status, 0, `crane append: ${appended.stderr.slice(-500)}`);
      }
      // copy = a pull of app:1 and a push of copy:2 (blobs mounted across repositories).
      const copied = build([crane, 'copy', `${REGISTRY}/crane/app:1`, `${REGISTRY}/crane/copy:2`]);
      t.equal(copied.status, 0, `crane copy: ${copied.stderr.slice(-500)}`);
      await assertPushesRecorded(t, lab, registry, 'crane/', REGISTRY);
    });

    t.test('crane pulls: a resolved dependency with the stored digest', async (t) => {
      await assertPullRecorded(t, lab, registry, { repository: 'crane/copy', tag: '2' }, () =>
        build([crane, 'pull', `${REGISTRY}/crane/copy:2`, join(work, 'crane.tar')]),
      );
    });

    t.test('oras pushes an artifact and pulls it back', async (t) => {
      const pushed = lab.build(
        [
          'sh',
          '-c',
          `cd ${work} && exec ${requireTool('oras')} push ${REGISTRY}/oras/note:1 note.txt:text/plain`,
        ],
        go,
      );
      t.equal(pushed.status, 0, `oras push: ${pushed.stderr.slice(-500)}`);
      await assertPushesRecorded(t, lab, registry, 'oras/', REGISTRY);
      await assertPullRecorded(t, lab, registry, { repository: 'oras/note', tag: '1' }, () =>
        build([requireTool('oras'), 'pull', '-o', join(work, 'oras-out'), `${REGISTRY}/oras/note:1`]),
      );
    });

    t.test('skopeo pulls what crane pushed', async (t) => {
      await assertPullRecorded(t, lab, registry, { repository: 'crane/skopeo', tag: '1' }, () =>
        lab.build([
          requireTool('skopeo'),
          'copy',
          '--src-cert-dir',
          lab.proxy.trust.certDir,
          '--src-no-creds',
          `docker://${REGISTRY}/crane/skopeo:1`,
          `oci:${join(work, 'skopeo-out')}:copy`,
        ]),
      );
    });
  });
}
