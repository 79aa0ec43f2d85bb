import { readFile } from 'node:fs/promises';
import type { EnvelopeCandidate } from './envelope-candidate.js';
import { EnvelopeSourceError } from './verify-errors.js';

/**
 * Reads envelopes from a file: one DSSE envelope as JSON (pretty-printed or not), a JSON array of
 * them, or `.intoto.jsonl` with one envelope per line.
 */
export async function readEnvelopeFile(path: string): Promise<EnvelopeCandidate[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new EnvelopeSourceError('ERR_VERIFY_SOURCE_FILE', `cannot read ${path} (${code})`, {
      cause: error,
    });
  }
  return parseEnvelopeText(text, path);
}

export function parseEnvelopeText(text: string, source: string): EnvelopeCandidate[] {
  try {
    const whole: unknown = JSON.parse(text);
    const items = Array.isArray(whole) ? whole : [whole];
    return items.map((envelope, index) => ({
      source: items.length > 1 ? `${source}[${index}]` : source,
      envelope,
    }));
  } catch {
    // Not one JSON document: JSON lines.
  }
  const candidates: EnvelopeCandidate[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    try {
      candidates.push({ source: `${source}:${index + 1}`, envelope: JSON.parse(line) });
    } catch (error) {
      throw new EnvelopeSourceError('ERR_VERIFY_SOURCE_FILE', `${source}: line ${index + 1} is not JSON`, {
        cause: error,
      });
    }
  }
  if (candidates.length === 0)
    throw new EnvelopeSourceError('ERR_VERIFY_SOURCE_FILE', `${source} holds no envelope`);
  return candidates;
}
