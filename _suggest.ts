/**
 * Picks the nearest of some known words to a mistyped one, for "did you mean" hints.
 *
 * @module
 */

/**
 * Computes the Levenshtein distance between two strings.
 *
 * @param a One string.
 * @param b The other.
 * @returns The number of single-character edits between them.
 */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Finds the known word nearest to `word`, when one is near enough to be a likely typo.
 *
 * @param word The word as typed.
 * @param known The valid words.
 * @returns The nearest valid word, or undefined.
 */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
