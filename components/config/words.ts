// Words the refusals are written with: lists as a sentence says them, the known name a typo most
// likely meant, and the commands to run, as they work where the run came from.
import { PULUMI_CLI_VARIABLE } from "../contract";

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

/**
 * A Pulumi CLI command as the user can type it where this run came from: `npm run pulumi -- ARGS`
 * when the scripts run the project's pulumi npm package (the quick start has no `pulumi` on
 * PATH), else `pulumi ARGS`. The scripts say which in PULUMI_CLI_VARIABLE; a plain `pulumi up`
 * sets nothing, and its `pulumi` is on PATH.
 */
export function pulumiCommand(args: string): string {
    return `${process.env[PULUMI_CLI_VARIABLE] === "npm" ? "npm run pulumi --" : "pulumi"} ${args}`;
}

/**
 * The deploy to name in messages: it works with or without a `pulumi` on PATH, and only it tries
 * the next candidate when EC2 has no GPU free (a plain `pulumi up` stops at the first).
 */
export const UP_COMMAND = "npm run up";
