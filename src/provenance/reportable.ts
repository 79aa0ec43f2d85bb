import type { BuildRecord } from '../record/build-record.js';
import { type ResolvedImage, resolveImages } from '../record/resolve-images.js';

/**
 * Which outputs can be reported on their own right now.
 *
 * A manifest pushed by digest alone, never tagged, may be an index child whose index has not
 * been pushed yet (clients push children first). Reporting it at once would report a child as
 * an output; so such pushes wait, either for the build's end (the final statement covers them)
 * or for a quiet period the caller chooses.
 */
export interface ReportableOutputs {
  /** Tagged outputs and indexes: outputs whatever comes next. */
  readonly ready: readonly ResolvedImage[];
  /** Untagged, non-index outputs: may still turn out to be index children. */
  readonly awaitingIndex: readonly ResolvedImage[];
}

export function reportableOutputs(record: BuildRecord): ReportableOutputs {
  const ready: ResolvedImage[] = [];
  const awaitingIndex: ResolvedImage[] = [];
  for (const image of resolveImages(record)) {
    if (image.role !== 'output') continue;
    const everTagged = image.tags.length > 0 || image.movedTags.length > 0;
    if (everTagged || image.kind === 'index') ready.push(image);
    else awaitingIndex.push(image);
  }
  return { ready, awaitingIndex };
}
