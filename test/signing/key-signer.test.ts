import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import t from 'tap';
import {
  createEphemeralSigner,
  KeySigner,
  keySignerFromPem,
  loadKeySigner,
} from '../../src/signing/key-signer.js';
import { preAuthEncoding } from '../../src/signing/pae.js';
import { SigningKeyError } from '../../src/signing/signing-errors.js';
import { makeTempDirSync } from '../support/temp-dir.js';
import { ecdsaKeyFiles, ed25519KeyFiles, opensslKeyFiles } from './keys.js';

const PAYLOAD_TYPE = 'application/vnd.in-toto+json';

t.test('loads an ECDSA P-256 PKCS#8 key and signs DER-encoded ECDSA over PAE', async (t) => {
  const keys = ecdsaKeyFiles('pkcs8');
  t.teardown(keys.cleanup);
  const signer = await loadKeySigner(keys.privatePath);
  t.equal(signer.algorithm, 'ecdsa-p256');
  t.equal(signer.ephemeral, false);
  t.equal(signer.publicKeyPem, keys.publicPem);
  const payload = Buffer.from('{"hello":"world"}');
  const envelope = await signer.sign(PAYLOAD_TYPE, payload);
  t.equal(envelope.payloadType, PAYLOAD_TYPE);
  t.same(Buffer.from(envelope.payload, 'base64'), payload);
  t.equal(envelope.signatures.length, 1);
  const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
  t.equal(sig[0], 0x30, 'the signature is an ASN.1 SEQUENCE (DER), not raw r||s');
  t.ok(
    verify(
      'sha256',
      preAuthEncoding(PAYLOAD_TYPE, payload),
      { key: keys.publicPem, dsaEncoding: 'der' },
      sig,
    ),
    'the signature verifies over PAE with node:crypto directly',
  );
});

t.test('loads an ECDSA P-256 SEC1 ("EC PRIVATE KEY") key', async (t) => {
  const keys = ecdsaKeyFiles('sec1');
  t.teardown(keys.cleanup);
  const signer = await loadKeySigner(keys.privatePath);
  t.equal(signer.algorithm, 'ecdsa-p256');
  t.equal(signer.publicKeyPem, keys.publicPem);
});

t.test('loads an Ed25519 key and signs pure Ed25519 over PAE', async (t) => {
  const keys = ed25519KeyFiles();
  t.teardown(keys.cleanup);
  const signer = await loadKeySigner(keys.privatePath);
  t.equal(signer.algorithm, 'ed25519');
  const payload = Buffer.from('{}');
  const envelope = await signer.sign(PAYLOAD_TYPE, payload);
  const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
  t.equal(sig.length, 64);
  t.ok(verify(null, preAuthEncoding(PAYLOAD_TYPE, payload), keys.publicPem, sig));
});

t.test('loads keys made by the openssl CLI', async (t) => {
  for (const kind of ['ecdsa', 'ed25519'] as const) {
    const keys = opensslKeyFiles(kind);
    t.teardown(keys.cleanup);
    const signer = await loadKeySigner(keys.privatePath);
    t.equal(signer.algorithm, kind === 'ecdsa' ? 'ecdsa-p256' : 'ed25519');
    t.equal(signer.publicKeyPem, keys.publicPem, `${kind}: same public key as openssl derives`);
  }
});

t.test('default keyid is sha256 over the SPKI DER, as openssl computes it', async (t) => {
  const keys = ecdsaKeyFiles();
  t.teardown(keys.cleanup);
  const signer = await loadKeySigner(keys.privatePath);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', keys.publicPath, '-outform', 'DER']);
  t.equal(signer.keyid, `sha256:${createHash('sha256').update(der).digest('hex')}`);
  const envelope = await signer.sign(PAYLOAD_TYPE, Buffer.from('x'));
  t.equal(envelope.signatures[0]!.keyid, signer.keyid);
});

t.test('a configured keyid is used in signatures', async (t) => {
  const keys = ed25519KeyFiles();
  t.teardown(keys.cleanup);
  const signer = await loadKeySigner(keys.privatePath, { keyid: 'kms://team/build-signer' });
  t.equal(signer.keyid, 'kms://team/build-signer');
  const envelope = await signer.sign(PAYLOAD_TYPE, Buffer.from('x'));
  t.equal(envelope.signatures[0]!.keyid, 'kms://team/build-signer');
});

t.test('an invalid keyid is refused, naming the option', async (t) => {
  const keys = ed25519KeyFiles();
  t.teardown(keys.cleanup);
  for (const keyid of ['', 'has space', 'x'.repeat(257), 'tab\there']) {
    await t.rejects(loadKeySigner(keys.privatePath, { keyid }), {
      code: 'ERR_SIGNING_KEYID_INVALID',
      message: /--signing-keyid/,
    });
  }
});

t.test('other key types and curves are refused with a typed error naming the rule', async (t) => {
  const dir = makeTempDirSync('badkeys');
  const cases = [
    ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, /rsa 2048 bits/],
    ['p384', generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey, /ec secp384r1/],
    ['secp256k1', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, /ec secp256k1/],
    ['ed448', generateKeyPairSync('ed448').privateKey, /ed448/],
  ] as const;
  for (const [name, key, described] of cases) {
    const path = join(dir, `${name}.pem`);
    writeFileSync(path, key.export({ type: 'pkcs8', format: 'pem' }));
    const error = await loadKeySigner(path).catch((e: unknown) => e);
    t.type(error, SigningKeyError, name);
    t.equal((error as SigningKeyError).code, 'ERR_SIGNING_KEY_UNSUPPORTED', name);
    t.equal((error as SigningKeyError).option, '--signing-key');
    t.match((error as Error).message, /ECDSA P-256 \(prime256v1\) or Ed25519/);
    t.match((error as Error).message, described);
  }
});

t.test(
  'unreadable, public-only, garbage and encrypted key files are refused without echoing content',
  async (t) => {
    const dir = makeTempDirSync('badfiles');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const publicPath = join(dir, 'pub.pem');
    writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }));
    const garbagePath = join(dir, 'garbage.pem');
    writeFileSync(garbagePath, 'not a key at all SECRET-MARKER');
    const encryptedPath = join(dir, 'enc.pem');
    writeFileSync(
      encryptedPath,
      privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }),
    );
    await t.rejects(loadKeySigner(join(dir, 'missing.pem')), {
      code: 'ERR_SIGNING_KEY_UNREADABLE',
      message: /ENOENT/,
    });
    await t.rejects(loadKeySigner(publicPath), { code: 'ERR_SIGNING_KEY_INVALID', message: /public key/ });
    const garbage = (await loadKeySigner(garbagePath).catch((e: unknown) => e)) as Error;
    t.match(garbage, { code: 'ERR_SIGNING_KEY_INVALID', message: /not a PEM private key/ });
    t.notMatch(garbage.message, /SECRET-MARKER/);
    await t.rejects(loadKeySigner(encryptedPath), { code: 'ERR_SIGNING_KEY_ENCRYPTED' });
  },
);

t.test('keySignerFromPem wipes the PEM buffer it was given', async (t) => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  keySignerFromPem(pem);
  t.ok(pem.every((byte) => byte === 0));
});

t.test('the private key never shows in JSON, inspection, enumeration or errors', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = privateKey.export({ format: 'jwk' });
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
  const signer = KeySigner.fromPrivateKey(privateKey, {});
  const views = [
    JSON.stringify(signer),
    inspect(signer, { showHidden: true, depth: 10 }),
    JSON.stringify(Object.getOwnPropertyNames(signer).map((name) => [name, Reflect.get(signer, name)])),
    String(signer),
  ];
  for (const view of views) {
    t.notOk(view.includes(String(jwk.d)), 'no private scalar');
    t.notOk(view.includes(pkcs8.slice(0, 40)), 'no PKCS#8 bytes');
    t.notMatch(view, /PRIVATE KEY/);
  }
  t.same(Object.keys(JSON.parse(JSON.stringify(signer))).sort(), [
    'algorithm',
    'ephemeral',
    'keyid',
    'publicKeyPem',
  ]);
  t.ok(Object.isFrozen(signer), 'fields cannot be replaced after start-up');
});

t.test(
  'without a key: an ephemeral ECDSA P-256 signer whose public key verifies its signatures',
  async (t) => {
    const a = createEphemeralSigner();
    const b = createEphemeralSigner();
    t.equal(a.ephemeral, true);
    t.equal(a.algorithm, 'ecdsa-p256');
    t.not(a.keyid, b.keyid, 'each process gets its own key');
    const payload = Buffer.from('{"_type":"x"}');
    const envelope = await a.sign(PAYLOAD_TYPE, payload);
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    const publicKey = createPublicKey(a.publicKeyPem);
    t.ok(
      verify('sha256', preAuthEncoding(PAYLOAD_TYPE, payload), { key: publicKey, dsaEncoding: 'der' }, sig),
    );
  },
);
