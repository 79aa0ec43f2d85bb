import { invalidArgument } from './status.js';

/**
 * The list filter subset both sides speak: `field="value"` terms joined by `AND`
 * (AIP-160 syntax, the form Container Analysis documents), e.g.
 * `resourceUrl="https://r.example/app@sha256:…" AND kind="BUILD"`.
 * Values are double-quoted strings with `\"` and `\\` escapes, or bare words.
 */
export interface FilterTerm {
  readonly field: string;
  readonly value: string;
}

const SUPPORTED_GRAMMAR = 'field="value" terms joined by AND';

/** Parses a filter; fields outside `allowedFields` are refused, naming the ones that are allowed. */
export function parseFilter(text: string, allowedFields: readonly string[]): FilterTerm[] {
  const terms: FilterTerm[] = [];
  let pos = skipSpace(text, 0);
  if (pos === text.length) return terms;
  for (;;) {
    const ident = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(pos));
    if (ident === null) throw syntax(text, pos, 'a field name');
    const field = ident[0];
    if (!allowedFields.includes(field)) {
      throw invalidArgument(
        `filter: unsupported field "${field}"; supported fields: ${allowedFields.join(', ')}`,
      );
    }
    pos = skipSpace(text, pos + field.length);
    if (text[pos] !== '=') throw syntax(text, pos, '"="');
    pos = skipSpace(text, pos + 1);
    const [value, next] = readValue(text, pos);
    terms.push({ field, value });
    pos = skipSpace(text, next);
    if (pos === text.length) return terms;
    if (next === pos || !text.startsWith('AND', pos) || !/^(?:\s|$)/.test(text.slice(pos + 3, pos + 4))) {
      throw syntax(text, pos, 'AND between terms');
    }
    pos = skipSpace(text, pos + 3);
  }
}

function readValue(text: string, pos: number): [string, number] {
  if (text[pos] === '"') {
    let value = '';
    let i = pos + 1;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') return [value, i + 1];
      if (c === '\\') {
        const escaped = text[i + 1];
        if (escaped !== '"' && escaped !== '\\') throw syntax(text, i, 'only \\" or \\\\ after a backslash');
        value += escaped;
        i += 2;
      } else {
        value += c;
        i += 1;
      }
    }
    throw syntax(text, pos, 'a closing quote');
  }
  const bare = /^[A-Za-z0-9_.:/@+-]+/.exec(text.slice(pos));
  if (bare === null) throw syntax(text, pos, 'a value');
  return [bare[0], pos + bare[0].length];
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && /\s/.test(text[pos]!)) pos += 1;
  return pos;
}

function syntax(text: string, pos: number, expected: string) {
  return invalidArgument(
    `filter: expected ${expected} at offset ${pos} in ${JSON.stringify(text)}; this server supports ${SUPPORTED_GRAMMAR}`,
  );
}

/** A filter string from terms, quoting every value so any URI survives. */
export function formatFilter(terms: readonly FilterTerm[]): string {
  return terms.map((t) => `${t.field}=${quoteFilterValue(t.value)}`).join(' AND ');
}

export function quoteFilterValue(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
