// Finds EC2's "no capacity" refusals in what `pulumi up --event-log FILE` wrote, for the scripts
// that retry (scripts/lib/capacity.sh): which notebook, which candidate (zone/type/market) and
// whether it was a new machine (launch) or a stopped one (start). The program logs one record a
// notebook (components/capacity.ts CapacityRecord: the candidate it tries and the resources EC2
// would refuse); EC2's error names the resource. Both are read with components/capacity.ts, the
// module that writes the record, loaded through the transpile cache: nothing here reads a sentence.
// The scripts ask it through the query program (query.ts: capacity-failures, capacity-errors,
// capacity-started).
// @ts-check
"use strict";

require("./ts-require");
const { candidateKey, capacityRecords, capacityRefusals, fallbackPrice } = require("../../components/capacity");

/**
 * @typedef {{ name: string, severity: string, message: string }} Diagnostic
 * @typedef {import("../../components/capacity").Candidate} Candidate
 */

/** Pulumi's color directives, such as <{%reset%}>: an event log keeps them unless --color never. */
const COLOR_DIRECTIVE = /<\{%[^%]*%\}>/g;

/**
 * The diagnostics of an event log (one JSON event a line): the resource's name (the last part of
 * its URN), severity and message, without color directives.
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
            found.push({ name: urn.split("::").pop() || "", severity: diagnostic.severity, message: diagnostic.message.replace(COLOR_DIRECTIVE, "") });
        }
    }
    return found;
}

/**
 * The capacity refusals among diagnostics, one per notebook and action: an error about a resource
 * the program's record names.
 * @param {Diagnostic[]} found
 */
function capacityFailures(found) {
    const errors = found.filter(({ severity }) => severity === "error").map(({ name, message }) => ({ resource: name, message }));
    return capacityRefusals(capacityRecords(found.map(({ message }) => message)), errors);
}

/**
 * "no g5.xlarge free in us-east-1a right now" (with "spot" when it was spot).
 * @param {{ candidate: Candidate }} failure
 */
function sentence({ candidate }) {
    return `no ${candidate.market === "spot" ? "spot " : ""}${candidate.instanceType} free in ${candidate.zone} right now`;
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

/**
 * One line per refusal in an event log's text: ACTION<TAB>NOTEBOOK<TAB>ZONE/TYPE/MARKET<TAB>one
 * sentence<TAB>the on-demand fallback's price, for a spot machine with spotFallback (else empty).
 * @param {string} text
 * @returns {string[]}
 */
function failureLines(text) {
    return capacityFailures(diagnostics(text)).map((failure) => {
        const offer = failure.onDemandFallback ? fallbackPrice(failure.onDemandFallback) : "";
        return [failure.action, failure.notebook, candidateKey(failure.candidate), sentence(failure), offer].join("\t");
    });
}

module.exports = { capacityFailures, diagnostics, errorLines, failureLines, sentence, startedReport };
