import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDirSync } from '../support/temp-dir.js';

/** A private/public PEM pair written to a fresh temporary directory. */
export interface KeyFiles {
  dir: string;
  privatePath: string;
  publicPath: string;
  publicPem: string;
  cleanup(): void;
}

function writePair(privateKey: KeyObject, publicKey: KeyObject, privateFormat: 'pkcs8' | 'sec1'): KeyFiles {
  const dir = makeTempDirSync('keys');
  const privatePath = join(dir, 'key.pem');
  const publicPath = join(dir, 'pub.pem');
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(privatePath, privateKey.export({ type: privateFormat, format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicPath, publicPem);
  return {
    dir,
    privatePath,
    publicPath,
    publicPem,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function ecdsaKeyFiles(format: 'pkcs8' | 'sec1' = 'pkcs8'): KeyFiles {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return writePair(privateKey, publicKey, format);
}

export function ed25519KeyFiles(): KeyFiles {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return writePair(privateKey, publicKey, 'pkcs8');
}

/** Keys made by the openssl CLI, so our loader is checked against another tool's PEM output. */
export function opensslKeyFiles(kind: 'ecdsa' | 'ed25519'): KeyFiles {
  const dir = makeTempDirSync('osslkeys');
  const privatePath = join(dir, 'key.pem');
  const publicPath = join(dir, 'pub.pem');
  const genArgs =
    kind === 'ecdsa'
      ? ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', privatePath]
      : ['genpkey', '-algorithm', 'ED25519', '-out', privatePath];
  execFileSync('openssl', genArgs, { stdio: 'pipe' });
  execFileSync('openssl', ['pkey', '-in', privatePath, '-pubout', '-out', publicPath], { stdio: 'pipe' });
  const publicPem = readFileSync(publicPath, 'utf8');
  return {
    dir,
    privatePath,
    publicPath,
    publicPem,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
