/**
 * google.protobuf.Timestamp in its JSON form: RFC 3339, any offset on input, always `Z` on
 * output with 0, 3, 6 or 9 fractional digits, years 0001 to 9999.
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** 0001-01-01T00:00:00Z; Date.UTC would read year 1 as 1901. */
const MIN_SECONDS = -62135596800;
/** 9999-12-31T23:59:59Z */
const MAX_SECONDS = 253402300799;

/** The canonical form of a Timestamp string, or undefined when it is not one. */
export function normalizeTimestamp(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  if (utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day) return undefined;
  utc.setUTCHours(hour, minute, second, 0);
  let seconds = utc.getTime() / 1000;
  if (m[8] === undefined) {
    const offsetHours = Number(m[10]);
    const offsetMinutes = Number(m[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    const sign = m[9] === '+' ? 1 : -1;
    seconds -= sign * (offsetHours * 3600 + offsetMinutes * 60);
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) return undefined;
  const nanos = Number((m[7] ?? '').padEnd(9, '0'));
  return formatTimestamp(seconds, nanos);
}

/** Whole seconds since the epoch plus nanoseconds, as canonical Timestamp JSON. */
export function formatTimestamp(seconds: number, nanos: number): string {
  const whole = new Date(seconds * 1000).toISOString().slice(0, 19);
  return `${whole}${fraction(nanos)}Z`;
}

function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const nine = String(nanos).padStart(9, '0');
  if (nanos % 1_000_000 === 0) return `.${nine.slice(0, 3)}`;
  if (nanos % 1000 === 0) return `.${nine.slice(0, 6)}`;
  return `.${nine}`;
}

/** A JavaScript Date (millisecond precision) as canonical Timestamp JSON. */
export function timestampOf(date: Date): string {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return formatTimestamp(seconds, (ms - seconds * 1000) * 1_000_000);
}
