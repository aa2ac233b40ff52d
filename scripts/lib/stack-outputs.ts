// What is deployed: the stack outputs (as `pulumi stack output --json --show-secrets` prints them).
// A stack with config `notebooks` (a fleet) has its per-notebook outputs in the maps `notebooks`
// and `notebookSecrets`; choosing one notebook presents its entries under the names a
// single-notebook stack uses, so every script reads publicIp, sshPrivateKey, ... the same way in
// both shapes. Pure: the query program (query.ts) reads the outputs and asks these.

export type Outputs = Record<string, unknown>;

/**
 * The outputs the program makes secret: a notebook's (components/notebook.ts SECRET_OUTPUTS) and a
 * fleet's map of them (components/fleet.ts notebookSecrets). Named here, not imported, because the
 * scripts load no Pulumi SDK; test/query.test.ts holds the two lists together.
 */
export const SECRET_OUTPUTS: readonly string[] = ["sshPrivateKey", "notebookPassword", "notebookSecrets"];

/** The outputs without the secret ones, and the names of those left out (what outputs-cache.ts keeps). */
export function withoutSecrets(outputs: Outputs): { outputs: Outputs; withheld: string[] } {
    const withheld = Object.keys(outputs).filter((name) => SECRET_OUTPUTS.includes(name));
    return { outputs: Object.fromEntries(Object.entries(outputs).filter(([name]) => !withheld.includes(name))), withheld };
}

/** The notebooks' names, sorted; null for a stack with a single notebook (no `notebooks`). */
export function notebookNames(outputs: unknown): string[] | null {
    const fleet = outputs !== null && typeof outputs === "object" ? (outputs as Outputs).notebooks : undefined;
    return fleet !== null && typeof fleet === "object" && !Array.isArray(fleet) ? Object.keys(fleet).sort() : null;
}

/**
 * Checks the notebook a user asked for against the notebooks of a stack (null: a stack of one
 * notebook, which has no name) and returns the name to use ("" for the one), or throws a sentence
 * saying what to do. `option` names where the name came from (--notebook or GPU_NOTEBOOK_NAME);
 * `names` are those `deployed` (the outputs) or `configured` (the config), which the words say:
 * a notebook new in the config is not deployed until npm run up. The one wording of this choice.
 */
export function chooseNotebook(
    names: string[] | null, requested: string, option: string, stack: string, source: "deployed" | "configured",
): string {
    const deployed = source === "deployed";
    if (names === null) {
        if (requested) {
            throw new Error(`${option} ${requested}: ` + (deployed
                ? `stack ${stack} has one notebook deployed, which has no name (its outputs have no notebooks), ` +
                    `so there is none to choose; run without ${option} (a notebook added to the config is deployed by npm run up)`
                : `the config of stack ${stack} names no notebooks (a stack of one notebook, without a name), ` +
                    `so there is none to choose; run without ${option}`));
        }
        return "";
    }
    const which = deployed ? `stack ${stack} has` : `the config of stack ${stack} has`;
    const list = names.length > 0 ? names.join(", ") : "none yet";
    if (!requested) {
        throw new Error(`${which} ${names.length} notebooks${deployed ? " deployed" : ""} (${list}); choose one with ` +
            "--notebook NAME or GPU_NOTEBOOK_NAME=NAME (npm run notebooks lists them)");
    }
    if (!names.includes(requested)) {
        throw new Error(`${option} ${requested}: ${which} no notebook ${requested}` + (deployed
            ? ` deployed; its deployed notebooks: ${list} (one added to the config is deployed by npm run up)`
            : `; its notebooks: ${list}`));
    }
    return requested;
}

/** The outputs of one notebook under single-mode names (the outputs as they are in single mode). */
export function selectNotebook(outputs: Outputs, requested: string, option: string, stack: string): Outputs {
    const name = chooseNotebook(notebookNames(outputs), requested, option, stack, "deployed");
    if (name === "") {
        return outputs;
    }
    const byName = (map: string) => (outputs[map] as Record<string, Outputs> | undefined || {})[name] || {};
    return { ...byName("notebooks"), ...byName("notebookSecrets"), notebookName: name };
}

/** Whether the outputs have `name` with a value: a missing, null or empty one is not there. */
export function hasOutput(outputs: Outputs, name: string): boolean {
    const value = outputs[name];
    return value !== undefined && value !== null && value !== "";
}

/** One output as text: strings as they are, anything else as JSON. Throws naming a missing one. */
export function outputText(outputs: Outputs, name: string): string {
    if (!hasOutput(outputs, name)) {
        throw missingOutput(name, typeof outputs.notebookName === "string" ? outputs.notebookName : "");
    }
    const value = outputs[name];
    return typeof value === "string" ? value : JSON.stringify(value);
}

/** What a script says when the stack has no output `name` (for notebook `notebook`, "" in single mode). */
export function missingOutput(name: string, notebook: string): Error {
    return new Error(`the stack has no output ${name}${notebook ? ` for notebook ${notebook}` : ""}; run 'npm run up' to create or update it`);
}
