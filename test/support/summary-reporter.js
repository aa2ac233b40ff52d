// Mocha's spec reporter, plus one plain closing line, "N passed, N failed[, N skipped]", that
// tools reading test output (CI among them) understand without knowing mocha.
"use strict";
const Mocha = require("mocha");

const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithSummary extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        runner.once(EVENT_RUN_END, () => {
            const stats = runner.stats;
            const skipped = stats.pending > 0 ? `, ${stats.pending} skipped` : "";
            process.stdout.write(`${stats.passes} passed, ${stats.failures} failed${skipped}\n`);
        });
    }
}

module.exports = SpecWithSummary;
