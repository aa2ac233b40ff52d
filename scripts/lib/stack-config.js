// The one reader of the stack's config for the user scripts: the JSON `pulumi config --json
// --show-secrets` prints (key -> {value, objectValue, secret}), on stdin. A notebook's setting is
// its entry's (config `notebooks.<name>.<key>`) over the top-level one, which every entry inherits,
// over the program's default.
//   node stack-config.js choose NAME OPTION STACK   prints NAME if the config has that notebook
//                                                   ("" in single mode), else fails listing them
//   node stack-config.js names-setting KEY          the names of the notebooks whose entry sets KEY
//   node stack-config.js running NAME               true or false
//   node stack-config.js idle-stop-minutes NAME     a whole number (0: never)
//   node stack-config.js allowed-cidrs NAME         where the list is (see allowedCidrs below),
//                                                   then one network a line
"use strict";

const { readJson, runCommand } = require("./cli");
const { chooseNotebook } = require("./stack-output");

/** The project's config namespace (Pulumi.yaml's name; a test keeps them equal). */
const NAMESPACE = "gpu-notebook";

/** The program's defaults for what the scripts read (components/config.ts; a test keeps them equal). */
const DEFAULTS = { running: true, idleStopMinutes: 60 };

function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

class StackConfig {
    /** `listing`: the parsed output of `pulumi config --json --show-secrets`. */
    constructor(listing) {
        this.listing = isObject(listing) ? listing : {};
    }

    /** A top-level setting as the program sees it: lists and objects parsed, "" as unset. */
    top(key) {
        const entry = this.listing[`${NAMESPACE}:${key}`];
        if (!isObject(entry)) {
            return undefined;
        }
        if (entry.objectValue !== undefined) {
            return entry.objectValue;
        }
        if (entry.secret && entry.value === undefined) {
            // Without --show-secrets the CLI leaves out a value holding any secret, even nested.
            throw new Error(`the stack config ${NAMESPACE}:${key} holds a secret and was read without --show-secrets`);
        }
        return entry.value === "" ? undefined : entry.value;
    }

    /** The notebooks' names, sorted; null without config `notebooks` (a single notebook). */
    notebookNames() {
        const notebooks = this.top("notebooks");
        return isObject(notebooks) ? Object.keys(notebooks).sort() : null;
    }

    /** The notebook's own setting, or undefined when its entry does not set it. */
    own(name, key) {
        const entry = name ? (this.top("notebooks") || {})[name] : undefined;
        const value = isObject(entry) ? entry[key] : undefined;
        return value === "" || value === null ? undefined : value;
    }

    /** The setting that applies to the notebook ("" in single mode): its own, else the top-level one. */
    effective(name, key) {
        const own = this.own(name, key);
        return own !== undefined ? own : this.top(key);
    }

    running(name) {
        const value = this.effective(name, "running");
        return value === undefined ? DEFAULTS.running : String(value) === "true";
    }

    idleStopMinutes(name) {
        const value = this.effective(name, "idleStopMinutes");
        return value === undefined ? DEFAULTS.idleStopMinutes : Number(value);
    }

    /**
     * The networks that may reach the notebook, and where they are set, which decides how to
     * change them: "list" or "text" (a comma-separated string, as the program also accepts) at
     * the notebook's own key, "inherited" from the top-level list (a fleet notebook without its
     * own), or "unset".
     */
    allowedCidrs(name) {
        const own = name ? this.own(name, "allowedCidrs") : this.top("allowedCidrs");
        const value = own !== undefined ? own : this.top("allowedCidrs");
        const entries = (Array.isArray(value) ? value : splitList(value)).map((entry) => String(entry).trim()).filter(Boolean);
        if (own === undefined) {
            return { origin: entries.length > 0 ? "inherited" : "unset", entries };
        }
        return { origin: Array.isArray(own) ? "list" : "text", entries };
    }
}

/** A list given as text: JSON, or networks separated by commas and spaces (as the program reads it). */
function splitList(text) {
    const trimmed = String(text === undefined ? "" : text).trim();
    if (trimmed.startsWith("[")) {
        try {
            const parsed = JSON.parse(trimmed);
            if (Array.isArray(parsed)) {
                return parsed;
            }
        } catch {
            // not JSON after all: split it like any other text
        }
    }
    return trimmed.split(/[\s,]+/);
}

function main(args) {
    const config = new StackConfig(readJson("the stack config"));
    const [query, ...rest] = args;
    // A notebook's name ("" in single mode), or for names-setting a key.
    const argument = rest[0] || "";
    switch (query) {
        case "choose":
            console.log(chooseNotebook(config.notebookNames(), ...rest));
            return;
        case "names-setting":
            console.log((config.notebookNames() || []).filter((name) => config.own(name, argument) !== undefined).join("\n"));
            return;
        case "running":
            console.log(config.running(argument));
            return;
        case "idle-stop-minutes":
            console.log(config.idleStopMinutes(argument));
            return;
        case "allowed-cidrs": {
            const { origin, entries } = config.allowedCidrs(argument);
            console.log([origin, ...entries].join("\n"));
            return;
        }
        default:
            throw new Error(`stack-config.js: unknown query ${query}`);
    }
}

if (require.main === module) {
    runCommand(main);
}

module.exports = { DEFAULTS, NAMESPACE, StackConfig };
