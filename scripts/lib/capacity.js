// Finds EC2's "no capacity" refusals in what `pulumi up --event-log FILE` wrote, for the scripts
// that retry (scripts/lib/capacity.sh): which notebook, which candidate (zone/type/market) and
// whether it was a new machine (launch) or a stopped one (start). The program says which
// candidate each notebook tries ("capacity: NAME tries ZONE/TYPE/MARKET", components/notebook.ts);
// EC2's error names the resource, so the two meet on the notebook's name.
//
// Usage: node capacity.js failures EVENT_LOG
//   Prints one line per refusal: ACTION<TAB>NOTEBOOK<TAB>ZONE/TYPE/MARKET<TAB>one sentence<TAB>the
//   on-demand fallback's price, for a spot machine with spotFallback (else empty); nothing when none.
// Usage: node capacity.js errors EVENT_LOG
//   Prints the run's error messages, one line each: a refusal of the program (say, of npm run
//   move's zone) as one line after Pulumi's own output.
// Usage: node capacity.js started [UNSTARTED...] < the stack's `notebooks` output (JSON)
//   Prints a line per notebook: running on which type in which zone, or that it found no GPU.
// @ts-check
"use strict";

const fs = require("fs");
const { runCommand } = require("./cli");

/** EC2's capacity error codes: RunInstances and StartInstances, and a spot request's status. */
const CAPACITY_ERROR = /InsufficientInstanceCapacity|InsufficientCapacity|capacity-not-available/;
const TRIES = /capacity: (\S+) tries ([a-z0-9-]+)\/([a-z0-9-]+\.[a-z0-9-]+)\/(on-demand|spot)/;
/** With spotFallback, what the on-demand fallback costs, as the program's capacity line says (components/notebook.ts onDemandOffer). */
const FALLBACK = /on-demand fallback: (\$[0-9.]+ an hour(?: \(\+\$[0-9.]+\))?|price unknown)/;
/** The zone and type EC2 names in its on-demand message, when the program's line is missing. */
const NAMED = /sufficient (\S+) capacity in the Availability Zone you requested \(([a-z0-9-]+)\)/;

/**
 * @typedef {{ name: string, severity: string, message: string }} Diagnostic
 * @typedef {{ zone: string, instanceType: string, market: string }} Candidate
 * @typedef {{ action: "launch" | "start", notebook: string, candidate: Candidate, fallback?: string }} Failure
 */

/**
 * The diagnostics of an event log (one JSON event a line): the resource's name, severity and message.
 * @param {string} text
 * @returns {Diagnostic[]}
 */
function diagnostics(text) {
    /** @type {Diagnostic[]} */
    const found = [];
    for (const line of text.split("\n")) {
        let event;
        try {
            event = JSON.parse(line);
        } catch {
            continue;
        }
        const diagnostic = event && event.diagnosticEvent;
        if (diagnostic && typeof diagnostic.message === "string") {
            const urn = diagnostic.urn || "";
            found.push({ name: urn.split("::").pop() || "", severity: diagnostic.severity, message: diagnostic.message });
        }
    }
    return found;
}

/**
 * The capacity refusals among diagnostics, one per notebook and action: a refused new machine
 * (NAME-instance) is a launch, a refused start of a stopped one (NAME-state) a start.
 * @param {Diagnostic[]} found
 * @returns {Failure[]}
 */
function capacityFailures(found) {
    /** @type {Map<string, Candidate>} */
    const tries = new Map();
    /** @type {Map<string, string>} */
    const fallbacks = new Map();
    for (const { message } of found) {
        const match = TRIES.exec(message);
        if (match) {
            tries.set(match[1], { zone: match[2], instanceType: match[3], market: match[4] });
            const fallback = FALLBACK.exec(message);
            if (fallback) {
                fallbacks.set(match[1], fallback[1]);
            }
        }
    }
    /** @type {Map<string, Failure>} */
    const failures = new Map();
    for (const { name, severity, message } of found) {
        if (severity !== "error" || !CAPACITY_ERROR.test(message)) {
            continue;
        }
        const resource = /^(.*)-(instance|state)$/.exec(name);
        const named = NAMED.exec(message);
        let notebook = resource ? resource[1] : undefined;
        if (notebook === undefined && named) {
            notebook = [...tries].find(([, tried]) => tried.instanceType === named[1] && tried.zone === named[2])?.[0];
        }
        notebook ??= tries.size === 1 ? [...tries.keys()][0] : undefined;
        const candidate = (notebook === undefined ? undefined : tries.get(notebook)) ?? (named ? { zone: named[2], instanceType: named[1], market: "on-demand" } : undefined);
        if (notebook === undefined || candidate === undefined) {
            continue;
        }
        const action = resource?.[2] === "state" || /^starting|start:/.test(message) ? "start" : "launch";
        const fallback = candidate.market === "spot" ? fallbacks.get(notebook) : undefined;
        failures.set(`${action} ${notebook}`, { action, notebook, candidate, ...(fallback ? { fallback } : {}) });
    }
    return [...failures.values()];
}

/**
 * "no g5.xlarge free in us-east-1a right now" (with "spot" when it was spot).
 * @param {{ candidate: Candidate }} failure
 */
function sentence({ candidate }) {
    return `no ${candidate.market === "spot" ? "spot " : ""}${candidate.instanceType} free in ${candidate.zone} right now`;
}

/** @param {{ candidate: Candidate }} failure */
function key({ candidate }) {
    return `${candidate.zone}/${candidate.instanceType}/${candidate.market}`;
}

/**
 * One line per notebook of a class after `npm run start -- --all`.
 * @param {Record<string, { instanceType: string, availabilityZone: string }>} notebooks
 * @param {string[]} unstarted
 */
function startedReport(notebooks, unstarted) {
    return Object.keys(notebooks).sort().map((name) => unstarted.includes(name)
        ? `gpu-notebook: ${name}: not started, no GPU free (see above)`
        : `gpu-notebook: ${name}: running on ${notebooks[name].instanceType} in ${notebooks[name].availabilityZone}`);
}

/**
 * The error messages of a run, each on one line, without repeats.
 * @param {Diagnostic[]} found
 * @returns {string[]}
 */
function errorLines(found) {
    const lines = found.filter(({ severity }) => severity === "error")
        .map(({ message }) => message.replace(/\s+/g, " ").trim()).filter((line) => line !== "");
    return [...new Set(lines)];
}

if (require.main === module) {
    runCommand(([command, file, ...rest]) => {
        if (command === "errors" && file) {
            errorLines(diagnostics(fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "")).forEach((line) => console.log(line));
            return;
        }
        if (command === "started") {
            const { readJson } = require("./cli");
            const notebooks = /** @type {Record<string, { instanceType: string, availabilityZone: string }>} */ (readJson("the stack's notebooks output"));
            startedReport(notebooks, [file, ...rest].join(" ").split(/\s+/).filter(Boolean)).forEach((line) => console.log(line));
            return;
        }
        if (command !== "failures" || !file) {
            throw new Error("usage: capacity.js failures EVENT_LOG | capacity.js errors EVENT_LOG | capacity.js started [UNSTARTED...]");
        }
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        for (const failure of capacityFailures(diagnostics(text))) {
            process.stdout.write([failure.action, failure.notebook, key(failure), sentence(failure), failure.fallback ?? ""].join("\t") + "\n");
        }
    });
}

module.exports = { capacityFailures, diagnostics, errorLines, sentence, key, startedReport };
