// The table of `npm run notebooks`: what is deployed (the stack outputs: type, running, price,
// URL) beside what the config asks for (components/config/ read by config-view.ts), so a
// notebook added to or removed from the config, or a stop not yet applied, shows as just that.
import type { ConfigView } from "./config-view";
import { notebookNames } from "./stack-outputs";

type Outputs = Record<string, unknown>;

function price(usd: unknown): string {
    return typeof usd === "number" && Number.isFinite(usd) ? `$${usd.toFixed(3)}` : "unknown";
}

/** Sums the prices, or undefined when any is unknown. */
function total(prices: unknown[]): number | undefined {
    return prices.every((usd): usd is number => typeof usd === "number") ? prices.reduce((sum, usd) => sum + usd, 0) : undefined;
}

function table(rows: string[][]): string {
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd()).join("\n");
}

const stateOf = (running: boolean) => (running ? "running" : "stopped");

/** A deployed notebook's state, by the running setting deployed alone. */
function deployedState(deployed: unknown): { text: string; running: boolean } {
    return typeof deployed === "boolean" ? { text: stateOf(deployed), running: deployed } : { text: "unknown", running: false };
}

/**
 * A deployed notebook's state: the running setting deployed, then what the config changes about
 * it at the next npm run up. Outputs from before they held `running` leave the config's word.
 */
function state(deployed: unknown, configured: boolean | undefined): { text: string; running: boolean } {
    if (typeof deployed !== "boolean") {
        return configured === undefined
            ? { text: "unknown", running: false }
            : { text: `${stateOf(configured)} (as configured; npm run up records what is deployed)`, running: configured };
    }
    if (configured === undefined) {
        return { text: `${stateOf(deployed)}, removed from the config`, running: deployed };
    }
    return { text: stateOf(deployed) + (configured === deployed ? "" : `; ${stateOf(configured)} after npm run up`), running: deployed };
}

/**
 * `config` undefined: there is no config to compare with (the outputs came from a file and the
 * project has no stack file), so each state is the deployed one and nothing is said of the config.
 */
export function notebooksTable(stack: string, outputs: Outputs, config: ConfigView | undefined): string {
    const names = notebookNames(outputs);
    // A stack of one notebook has no name: "" is its name in the config too.
    const deployed: [string, Outputs][] = names === null
        ? [["", outputs]]
        : names.map((name) => [name, (outputs.notebooks as Record<string, Outputs>)[name]]);
    const configured = config?.names();
    const lines = [names === null
        ? `Stack ${stack}: one notebook deployed, without a name (the scripts need no --notebook).`
        : `Stack ${stack}: ${names.length} notebooks deployed.`];
    const rows = [["NAME", "TYPE", "STATE", "PER HOUR", "URL"]];
    const running: unknown[] = [];
    for (const [name, entry] of deployed) {
        const now = config ? state(entry.running, config.notebook(name)?.settings.running) : deployedState(entry.running);
        if (now.running) {
            running.push(entry.estimatedHourlyCostUsd);
        }
        rows.push([name || "-", String(entry.instanceType ?? "?"), now.text, price(entry.estimatedHourlyCostUsd), String(entry.notebookUrl ?? "?")]);
    }
    lines.push(table(rows));
    if (names !== null) {
        // The total of them all is the program's (estimatedHourlyCostUsd); the share running is summed here.
        lines.push(`Together: ${price(outputs.estimatedHourlyCostUsd)} per hour while all run` +
            (running.length === deployed.length ? "." : `; ${price(total(running))} per hour for the ${running.length} running.`));
    }
    const pending = (configured ?? []).filter((name) => !(names ?? []).includes(name));
    if (config === undefined) {
        lines.push(`Not compared with the config: the outputs came from a file, and there is no Pulumi.${stack}.yaml here.`);
    } else if (pending.length > 0) {
        lines.push(`In the config, not deployed yet: ${pending.join(", ")}. npm run up creates them` + (names === null
            ? " in place of the notebook without a name, which it removes (its data volume is destroyed with a final snapshot)."
            : "."));
    } else if (configured === null && names !== null) {
        lines.push("The config names no notebooks: npm run up replaces these by one notebook without a name.");
    }
    lines.push("STATE is the running setting deployed (npm run stop / start); the idle watcher may have stopped a machine since.");
    return lines.join("\n");
}
