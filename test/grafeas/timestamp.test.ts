import t from 'tap';
import { normalizeTimestamp, timestampOf } from '../../src/grafeas/timestamp.js';

t.test('RFC 3339 in, canonical UTC out', async (t) => {
  const cases: [string, string | undefined][] = [
    ['2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z'],
    ['2026-01-02t03:04:05z', '2026-01-02T03:04:05Z'],
    ['2026-01-02T03:04:05.1Z', '2026-01-02T03:04:05.100Z'],
    ['2026-01-02T03:04:05.123456Z', '2026-01-02T03:04:05.123456Z'],
    ['2026-01-02T03:04:05.1234567Z', '2026-01-02T03:04:05.123456700Z'],
    ['2026-01-02T03:04:05.000000000Z', '2026-01-02T03:04:05Z'],
    ['2026-01-02T04:34:05+01:30', '2026-01-02T03:04:05Z'],
    ['2026-01-01T23:00:00-05:00', '2026-01-02T04:00:00Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z'],
    ['9999-12-31T23:59:59.999999999Z', '9999-12-31T23:59:59.999999999Z'],
    ['2023-02-29T00:00:00Z', undefined],
    ['2026-13-01T00:00:00Z', undefined],
    ['2026-01-01T24:00:00Z', undefined],
    ['2026-01-01T00:00:60Z', undefined],
    ['2026-01-01T00:00:00', undefined],
    ['2026-01-01 00:00:00Z', undefined],
    ['2026-01-01T00:00:00.1234567890Z', undefined],
    ['0001-01-01T00:00:00+00:01', undefined],
    ['9999-12-31T23:59:59-00:01', undefined],
    ['yesterday', undefined],
  ];
  for (const [input, expected] of cases) t.equal(normalizeTimestamp(input), expected, input);
});

t.test('a Date becomes a canonical timestamp', async (t) => {
  t.equal(timestampOf(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 600))), '2026-01-02T03:04:05.600Z');
  t.equal(timestampOf(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 0))), '2026-01-02T03:04:05Z');
});
