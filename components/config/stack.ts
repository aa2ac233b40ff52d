// The stack's config as a whole, from the raw key→string map: one notebook (no `notebooks`) or one
// per entry. parseStackConfig is the deploy's reading (validated, or refused); configuredStack
// is the scripts' (the same rules, not validated, so a config the deploy refuses can be fixed).
import { entryLayers, entryValues, FleetSettings, notebookEntries, notebookProblems, parseFleet } from "./notebooks";
import { namespaceValues } from "./keys";
import { settingsFrom, textOf } from "./parse";
import { DeployRefused, Problem } from "./problems";
import { ConfigKey, NotebookSettings } from "./schema";
import { checkValues, ValidSettings } from "./validate";

/** What the stack's config asks for: one notebook (no `notebooks`), or one per entry of `notebooks`. */
export type StackSettings =
    | { kind: "single"; settings: ValidSettings }
    | FleetSettings;

/**
 * Turns the raw config map (keys with or without the `gpu-notebook:` prefix, values as the
 * Pulumi engine hands them over: strings, lists and objects as JSON) into validated settings.
 * Throws one DeployRefused listing every problem, of every notebook.
 */
export function parseStackConfig(raw: Record<string, string>): StackSettings {
    const problems: Problem[] = [];
    const values = namespaceValues(raw, problems);
    const notebooks = textOf(values, "notebooks");
    if (notebooks !== undefined) {
        return parseFleet(values, notebooks, problems);
    }
    const checked = checkValues(values);
    problems.push(...checked.problems);
    if (problems.length > 0 || checked.settings === undefined) {
        throw new DeployRefused(problems);
    }
    return { kind: "single", settings: checked.settings };
}

/** A stack of one notebook's settings from the raw config map (see parseStackConfig); refuses `notebooks`. Exported for tests. */
export function parseConfig(raw: Record<string, string>): ValidSettings {
    const stack = parseStackConfig(raw);
    if (stack.kind !== "single") {
        throw new Error("parseConfig reads the config of a stack of one notebook; this one has notebooks (parseStackConfig reads it)");
    }
    return stack.settings;
}

/** A notebook as the config sets it, parsed by the deploy's rules but not validated. */
export interface ConfiguredNotebook {
    /** Its name in `notebooks`; "" for the one notebook of a stack without. */
    name: string;
    /** The keys it sets itself: its entry's, or in a stack of one notebook every key set. */
    ownKeys: ReadonlySet<string>;
    /** Its own values over the top-level ones over the defaults; a value that cannot be parsed keeps its default. */
    settings: NotebookSettings;
    /** The values that cannot be parsed, named as the user set them. */
    problems: Problem[];
}

/**
 * What the config asks for, for the scripts that list or change it (npm run notebooks, stop,
 * allow-my-ip): each notebook's settings by the rules the deploy uses, but not validated, so a
 * config the deploy would refuse can still be read and fixed. `problems`: those of the stack's
 * shape (unknown keys, bad names or entries of `notebooks`).
 */
export function configuredStack(raw: Record<string, string>): { kind: StackSettings["kind"]; notebooks: ConfiguredNotebook[]; problems: Problem[] } {
    const problems: Problem[] = [];
    const values = namespaceValues(raw, problems);
    const text = textOf(values, "notebooks");
    const layers = text === undefined
        ? [{ name: "", own: values, all: values }]
        : notebookEntries(text, problems).map(([name, entry]) => {
            const own = entryValues(name, entry, problems);
            return { name, own, all: entryLayers(values, own) };
        });
    const notebooks = layers.map(({ name, own, all }) => {
        const unparsed: Problem[] = [];
        const settings = settingsFrom(all, unparsed);
        const ownKeys = new Set([...own.keys()].filter((key) => textOf(own, key as ConfigKey) !== undefined));
        return { name, ownKeys, settings, problems: name === "" ? unparsed : notebookProblems([{ name, ownKeys, problems: unparsed }]) };
    });
    return { kind: text === undefined ? "single" : "fleet", notebooks, problems };
}
