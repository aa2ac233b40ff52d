// Words the refusals are written with: lists as a sentence says them, and the known name a typo
// most likely meant.

/** Items as a sentence lists them: "a", "a and b", "a, b and c". */
export function inWords(items: string[]): string {
    return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** Levenshtein distance: the fewest one-character insertions, deletions and substitutions from a to b. */
export function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
        }
        previous = current;
    }
    return previous[b.length];
}

/**
 * The known name `text` most likely misspells: the nearest by edit distance, case aside, within
 * a slip of the fingers (two edits, or one in four characters of a long name). Undefined if none is.
 */
export function nearest(text: string, known: readonly string[]): string | undefined {
    const distances = known.map((candidate) => ({ candidate, distance: editDistance(text.toLowerCase(), candidate.toLowerCase()) }));
    const best = distances.sort((a, b) => a.distance - b.distance)[0];
    return best !== undefined && best.distance <= Math.max(2, Math.floor(text.length / 4)) ? best.candidate : undefined;
}
