#!/usr/bin/env node
// The package registry this project installs from serves Biome's linux-x64 binary but
// not its other platforms' optional packages, so `npm install` leaves them out of
// package-lock.json and `npm ci` then refuses the lock as out of sync. This adds lock
// entries for them (os/cpu/libc only: npm never fetches a package for another platform).
// Run it after any `npm install` that rewrites the lock: node scripts/lock-platform-entries.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const biome = lock.packages['node_modules/@biomejs/biome'];
const platform = (name) => {
  const [os, cpu, libc] = name.replace('@biomejs/cli-', '').split('-');
  return { os: [os], cpu: [cpu], ...(libc ? { libc: [libc] } : os === 'linux' ? { libc: ['glibc'] } : {}) };
};
let added = 0;
for (const [name, version] of Object.entries(biome?.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  lock.packages[key] = {
    version,
    ...platform(name),
    dev: true,
    license: biome.license,
    optional: true,
    engines: biome.engines,
  };
  added++;
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platform-entries: added ${added} entries`);
