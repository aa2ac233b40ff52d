// Reads the stack outputs (as `pulumi stack output --json --show-secrets` prints them) for
// outputs.sh, always from stdin so secrets never appear in a process list. A stack with config
// `notebooks` (a fleet) has its per-notebook outputs in the maps `notebooks` and `notebookSecrets`;
// choosing one notebook presents its entries under the names a single-notebook stack uses, so
// every script reads publicIp, sshPrivateKey, ... the same way in both shapes.
//   node stack-output.js NAME                         prints one output: strings as they are, else JSON
//   node stack-output.js --values NAME...             prints several, each ended by a NUL byte
//   node stack-output.js --select NAME OPTION STACK   prints the outputs of notebook NAME ("" in single mode)
//   node stack-output.js --names                      prints the fleet's notebook names, one a line
// @ts-check
"use strict";

const { readJson, runCommand } = require("./cli");

/** @typedef {Record<string, unknown>} Outputs */

/**
 * The notebooks' names, sorted; null for a stack with a single notebook (no `notebooks`).
 * @param {unknown} outputs
 * @returns {string[] | null}
 */
function notebookNames(outputs) {
    const fleet = outputs !== null && typeof outputs === "object" ? /** @type {Outputs} */ (outputs).notebooks : undefined;
    return fleet !== null && typeof fleet === "object" && !Array.isArray(fleet) ? Object.keys(fleet).sort() : null;
}

/**
 * Checks the notebook a user asked for against the notebooks of a stack (null: a stack of one
 * notebook, which has no name) and returns the name to use ("" for the one), or throws a sentence
 * saying what to do. `option` names where the name came from (--notebook or GPU_NOTEBOOK_NAME);
 * `names` are those `deployed` (the outputs) or `configured` (the config), which the words say:
 * a notebook new in the config is not deployed until npm run up. The one wording of this choice.
 * @param {string[] | null} names
 * @param {string} requested
 * @param {string} option
 * @param {string} stack
 * @param {"deployed" | "configured"} source
 * @returns {string}
 */
function chooseNotebook(names, requested, option, stack, source) {
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

/**
 * The outputs of one notebook under single-mode names (the outputs as they are in single mode).
 * @param {Outputs} outputs
 * @param {string} requested
 * @param {string} option
 * @param {string} stack
 * @returns {Outputs}
 */
function selectNotebook(outputs, requested, option, stack) {
    const name = chooseNotebook(notebookNames(outputs), requested, option, stack, "deployed");
    if (name === "") {
        return outputs;
    }
    const byName = (/** @type {string} */ map) => /** @type {Record<string, Outputs>} */ (outputs[map] || {})[name] || {};
    return { ...byName("notebooks"), ...byName("notebookSecrets"), notebookName: name };
}

/** @param {string[]} args */
function main(args) {
    const outputs = /** @type {Outputs} */ (readJson("the stack outputs"));
    if (args[0] === "--select") {
        const [, requested, option, stack] = args;
        process.stdout.write(JSON.stringify(selectNotebook(outputs, requested, option, stack)));
        return;
    }
    if (args[0] === "--names") {
        for (const name of notebookNames(outputs) || []) {
            console.log(name);
        }
        return;
    }
    if (args[0] === "--values") {
        // Each as $(...) would give it, without its final newlines; NUL ends it, as no text holds one.
        const values = args.slice(1).map((name) => outputText(outputs, name).replace(/\n+$/, ""));
        process.stdout.write(values.map((value) => `${value}\0`).join(""));
        return;
    }
    process.stdout.write(outputText(outputs, args[0]));
}

/**
 * One output as text: strings as they are, anything else as JSON. Throws naming a missing one.
 * @param {Outputs} outputs
 * @param {string} name
 * @returns {string}
 */
function outputText(outputs, name) {
    const value = outputs !== null && typeof outputs === "object" ? outputs[name] : undefined;
    if (value === undefined || value === null || value === "") {
        const whose = outputs && outputs.notebookName ? ` for notebook ${outputs.notebookName}` : "";
        throw new Error(`the stack has no output ${name}${whose}; run 'npm run up' to create or update it`);
    }
    return typeof value === "string" ? value : JSON.stringify(value);
}

if (require.main === module) {
    runCommand(main);
}

module.exports = { chooseNotebook, notebookNames, selectNotebook };
