// Reads the stack outputs (as `pulumi stack output --json --show-secrets` prints them) for
// outputs.sh, always from stdin so secrets never appear in a process list. A stack with config
// `notebooks` (a fleet) has its per-notebook outputs in the maps `notebooks` and `notebookSecrets`;
// choosing one notebook presents its entries under the names a single-notebook stack uses, so
// every script reads publicIp, sshPrivateKey, ... the same way in both shapes.
//   node stack-output.js NAME                         prints one output: strings as they are, else JSON
//   node stack-output.js --values NAME...             prints several, each ended by a NUL byte
//   node stack-output.js --select NAME OPTION STACK   prints the outputs of notebook NAME ("" in single mode)
//   node stack-output.js --names                      prints the fleet's notebook names, one a line
"use strict";

const { readJson, runCommand } = require("./cli");

/** The notebooks' names, sorted; null for a stack with a single notebook (no `notebooks`). */
function notebookNames(outputs) {
    const fleet = outputs !== null && typeof outputs === "object" ? outputs.notebooks : undefined;
    return fleet !== null && typeof fleet === "object" && !Array.isArray(fleet) ? Object.keys(fleet).sort() : null;
}

/**
 * Checks the notebook a user asked for against the notebooks a stack has (null: a single
 * notebook) and returns the name to use ("" in single mode), or throws a sentence saying what
 * to do. `option` names where the name came from (--notebook or GPU_NOTEBOOK_NAME). The one
 * wording of this choice, for the outputs and the stack config alike.
 */
function chooseNotebook(names, requested, option, stack) {
    if (names === null) {
        if (requested) {
            throw new Error(`${option} ${requested}: stack ${stack} has a single notebook (its config has no ` +
                `notebooks), so there is none to choose; run without ${option}`);
        }
        return "";
    }
    const list = names.length > 0 ? names.join(", ") : "none yet";
    if (!requested) {
        throw new Error(`stack ${stack} has ${names.length} notebooks (${list}); choose one with ` +
            "--notebook NAME or GPU_NOTEBOOK_NAME=NAME (npm run notebooks lists them)");
    }
    if (!names.includes(requested)) {
        throw new Error(`${option} ${requested}: stack ${stack} has no notebook ${requested}; its notebooks: ${list}`);
    }
    return requested;
}

/** The outputs of one notebook under single-mode names (the outputs as they are in single mode). */
function selectNotebook(outputs, requested, option, stack) {
    const name = chooseNotebook(notebookNames(outputs), requested, option, stack);
    if (name === "") {
        return outputs;
    }
    const secrets = (outputs.notebookSecrets || {})[name] || {};
    return { ...outputs.notebooks[name], ...secrets, notebookName: name };
}

function main(args) {
    const outputs = readJson("the stack outputs");
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

/** One output as text: strings as they are, anything else as JSON. Throws naming a missing one. */
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
