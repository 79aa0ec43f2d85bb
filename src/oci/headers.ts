/** Header lookup over the allow-listed header records of a CompletedExchange. */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;

/** First value of a header, case-insensitively; null when absent or empty. */
export function headerValue(headers: HeaderRecord, name: string): string | null {
  const wanted = name.toLowerCase();
  let value = headers[wanted];
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === wanted) {
        value = headers[key];
        break;
      }
    }
  }
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.length > 0 ? first.trim() : null;
}
