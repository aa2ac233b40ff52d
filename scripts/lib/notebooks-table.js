// Prints the table of `npm run notebooks` from {"outputs": <stack outputs>, "config": <pulumi
// config --json>} on stdin; the stack's name is the first argument.
"use strict";

const { readJson, runCommand } = require("./cli");
const { notebookNames } = require("./stack-output");
const { StackConfig } = require("./stack-config");

function price(usd) {
    return typeof usd === "number" && Number.isFinite(usd) ? `$${usd.toFixed(3)}` : "unknown";
}

/** Sums the prices, or undefined when any is unknown. */
function total(prices) {
    return prices.some((usd) => typeof usd !== "number") ? undefined : prices.reduce((sum, usd) => sum + usd, 0);
}

function table(rows) {
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd()).join("\n");
}

function render(stack, outputs, config) {
    const names = notebookNames(outputs);
    // In single mode the one notebook has no name: "" reads the top-level settings.
    const notebooks = names === null ? [["", outputs]] : names.map((name) => [name, outputs.notebooks[name]]);
    const configured = config.notebookNames();
    const lines = [names === null
        ? `Stack ${stack}: one notebook (its config has no notebooks; the scripts need no --notebook).`
        : `Stack ${stack}: ${names.length} notebooks.`];
    const rows = [["NAME", "TYPE", "STATE", "PER HOUR", "URL"]];
    const running = [];
    for (const [name, entry] of notebooks) {
        let state;
        if (configured !== null && !configured.includes(name)) {
            state = "removed from config";
        } else {
            state = config.running(name) ? "running" : "stopped";
            if (state === "running") {
                running.push(entry.estimatedHourlyCostUsd);
            }
        }
        rows.push([name || "-", String(entry.instanceType ?? "?"), state, price(entry.estimatedHourlyCostUsd), String(entry.notebookUrl ?? "?")]);
    }
    lines.push(table(rows));
    if (names !== null) {
        // The fleet's total is the program's (estimatedHourlyCostUsd); the share set to run is summed here.
        lines.push(`Together: ${price(outputs.estimatedHourlyCostUsd)} per hour while all run` +
            (running.length === notebooks.length ? "." : `; ${price(total(running))} per hour for the ${running.length} set to run.`));
    }
    const pending = (configured || []).filter((name) => !(names || []).includes(name));
    if (pending.length > 0) {
        lines.push(`In the config but not deployed yet: ${pending.join(", ")} (npm run up creates them).`);
    }
    lines.push("STATE is the stack's running setting (npm run stop / start); the idle watcher may have stopped a machine since.");
    return lines.join("\n");
}

if (require.main === module) {
    runCommand(([stack]) => {
        const { outputs, config } = readJson("the stack outputs and config");
        console.log(render(stack, outputs, new StackConfig(config)));
    });
}

module.exports = { render };
