import t from 'tap';
import { formatImageReference } from '../../src/oci/reference.js';
import { grafeasResourceUrl, parseVerifyTarget } from '../../src/verify/verify-target.js';

const HEX = 'ab'.repeat(32);

t.test('parses registry with port, nested repository and digest', async (t) => {
  const target = parseVerifyTarget(`registry.test:5000/lab/team/app@sha256:${HEX}`);
  t.match(target, {
    registry: { display: 'registry.test:5000' },
    repository: 'lab/team/app',
    tag: undefined,
  });
  t.equal(target.digest.value, `sha256:${HEX}`);
  t.equal(formatImageReference(target), `registry.test:5000/lab/team/app@sha256:${HEX}`);
  t.equal(grafeasResourceUrl(target), `https://registry.test:5000/lab/team/app@sha256:${HEX}`);
});

t.test('every spelling of one image is written back the one way the statement names it', async (t) => {
  const table: [string, string][] = [
    [`docker.io/alpine@sha256:${HEX}`, `docker.io/library/alpine@sha256:${HEX}`],
    [`index.docker.io/alpine@sha256:${HEX}`, `docker.io/library/alpine@sha256:${HEX}`],
    [`registry-1.docker.io/library/alpine@sha256:${HEX}`, `docker.io/library/alpine@sha256:${HEX}`],
    [`Docker.IO/alpine@sha256:${HEX}`, `docker.io/library/alpine@sha256:${HEX}`],
    [`registry.example.com./lab/app@sha256:${HEX}`, `registry.example.com/lab/app@sha256:${HEX}`],
    [`registry.example.com.:5000/app@sha256:${HEX}`, `registry.example.com:5000/app@sha256:${HEX}`],
    [`reg.test:443/lab/app@sha256:${HEX}`, `reg.test/lab/app@sha256:${HEX}`],
    [`localhost:5000/app@sha256:${HEX}`, `localhost:5000/app@sha256:${HEX}`],
    [`[::1]:5000/app@sha256:${HEX}`, `[::1]:5000/app@sha256:${HEX}`],
  ];
  for (const [text, canonical] of table)
    t.equal(formatImageReference(parseVerifyTarget(text)), canonical, text);
});

t.test('refuses references that do not name one image by registry and digest', async (t) => {
  const bad: [string, RegExp][] = [
    ['registry.test/app:v1', /no digest/],
    [`registry.test/app@sha256:${HEX.slice(2)}`, /64 lower-case hex/],
    [`registry.test/app@sha256:${HEX.toUpperCase()}`, /64 lower-case hex/],
    [`registry.test/app@sha512:${HEX}${HEX}`, /sha256/],
    [`app@sha256:${HEX}`, /registry host/],
    [`library/app@sha256:${HEX}`, /registry host/],
    [`registry.test/App@sha256:${HEX}`, /uppercase is not allowed/],
    [`registry.test/../etc@sha256:${HEX}`, /path traversal/],
    [`registry.test/app:v1@sha256:${HEX}`, /without a tag/],
    [`user@registry.test/app@sha256:${HEX}`, /only a digest may follow/],
    [`registry.test:99999/app@sha256:${HEX}`, /port out of range/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseVerifyTarget(text), { code: 'ERR_VERIFY_REFERENCE', message }, text);
  }
});
