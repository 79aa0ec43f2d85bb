// --registry-auth with an `identitytoken` (what `docker login` keeps for registries that use
// OAuth2, e.g. Azure's and Docker Hub's): the proxy trades it at the registry's token realm with
// the refresh-token grant, for exactly each request's scope. Clients with no credentials push and
// pull; the attestation is attached with the same broker; the refresh token and the minted tokens
// reach no file, view or client output. (registry-auth.test.ts covers auth and username/password.)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { attestationTag } from '../../src/attest/attestation-layout.js';
import { pushedDigest } from '../support/attesting-proxy.js';
import { LAB_REFRESH_TOKEN, startLab } from '../support/lab.js';
import type { CommandResult } from '../support/run-command.js';
import { filesBelow, filesWithSecrets, leakedSecrets, tokenForms } from '../support/secret-scan.js';
import { waitUntil } from '../support/wait-until.js';

const lab = await startLab({
  name: 'registry-auth-identity-token',
  teardown: (fn) => t.teardown(fn),
  registries: ['token'],
  proxyArgs: (registry) => {
    const authFile = join(registry('token').storageDir, '..', 'proxy-registry-auth.json');
    writeFileSync(
      authFile,
      JSON.stringify({ auths: { [registry('token').host]: { identitytoken: LAB_REFRESH_TOKEN } } }),
      { mode: 0o600 },
    );
    return ['--registry-auth', authFile, '--attach-attestations'];
  },
});
const token = lab.registry('token');
const tokenServer = lab.tokenServer!;
const proxy = lab.proxy();
const bare = await lab.clientsWithoutCredentials();
const outputs: CommandResult[] = [];

t.test(
  'clients without credentials push and pull; every token came from the refresh-token grant',
  async (t) => {
    const pushed = await bare.skopeoCopy(lab.fixtures.ref('single'), `docker://${token.host}/idt/skopeo:v1`);
    outputs.push(pushed);
    const pulled = await bare.crane(['manifest', `${token.host}/idt/skopeo:v1`]);
    outputs.push(pulled);
    t.match(pulled.stdout, 'schemaVersion', 'a pull returned the manifest');
    const proxyRequests = tokenServer.requests.filter((request) => request.grant === 'refresh_token');
    t.ok(proxyRequests.length > 0, 'the proxy traded the refresh token');
    t.same(
      tokenServer.requests.filter((request) => request.grant !== 'refresh_token'),
      [],
      'no token was fetched any other way (the clients hold nothing, the proxy has no password)',
    );
    t.ok(
      proxyRequests.every((request) => request.authenticated && request.status === 200),
      'each grant was accepted',
    );
    const scopes = new Set(proxyRequests.map((request) => request.scopes.join(' ')));
    t.ok(scopes.has('repository:idt/skopeo:pull,push'), 'the push asked for pull,push on its repository');
    t.same(
      [...scopes].filter(
        (scope) => !['', 'repository:idt/skopeo:pull,push', 'repository:idt/skopeo:pull'].includes(scope),
      ),
      [],
      'and nothing broader or elsewhere',
    );
    const digest = pushedDigest(pushed);
    await waitUntil(
      async () => {
        const att = await token.directClient().request({
          path: `/v2/idt/skopeo/manifests/${attestationTag(digest)}`,
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        return att.status === 200 ? true : undefined;
      },
      { what: 'the attestation, attached with the brokered token', attempts: 150, intervalMs: 200 },
    );
    await lab.settle();
    t.same(
      (await proxy.images())
        .filter((image) => image.repository === 'idt/skopeo')
        .map((image) => image.digest),
      [digest],
      "the push is recorded, the attestation is not (it is the proxy's, not the build's)",
    );
  },
);

t.test('the refresh token and the minted tokens are nowhere', async (t) => {
  const secrets = [LAB_REFRESH_TOKEN, ...tokenForms(tokenServer.issuedTokens)];
  t.same(await filesWithSecrets([proxy.logPath, ...(await filesBelow(proxy.dataDir))], secrets), [], 'files');
  const views = [
    JSON.stringify(await proxy.images()),
    await proxy.metrics(),
    (await proxy.control('/v1/observations?limit=1000')).body,
  ];
  for (const view of views) t.same(leakedSecrets(view, secrets), [], 'a view holds no secret');
  for (const output of outputs)
    t.same(
      leakedSecrets(output.stdout + output.stderr, secrets),
      [],
      `${output.command}: nothing in its output`,
    );
});
