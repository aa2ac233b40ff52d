// Whether a notebook's machine runs after this run. `running` is what the user last asked for
// (npm run stop / start), but the machine may have stopped since (idle stop, the backstop alarm,
// the console): a `pulumi up` for any other change, which refreshes first, must not start it and
// resume billing. Only a run that was asked to start it (npm run start, START_ENV) does.
import { START_ENV } from "./contract";

/** What decides the machine's state in this run. */
export interface RunningFacts {
    /** The notebook's name in the stack ("notebook" for a stack of one). */
    name: string;
    /** The `running` setting. */
    running: boolean;
    /** EC2's state of the notebook's existing machine (pending, running, stopping, stopped); undefined: none yet. */
    machineState?: string;
    /** Whether this run was asked to start this notebook (startRequested). */
    startRequested: boolean;
}

export interface RunningDecision {
    state: "running" | "stopped";
    /** One line for the run's output when a stopped machine is kept stopped against `running`. */
    kept?: string;
}

const STOPPED_STATES = ["stopping", "stopped"];

export function decideRunning(facts: RunningFacts): RunningDecision {
    if (!facts.running) {
        return { state: "stopped" };
    }
    if (facts.machineState !== undefined && STOPPED_STATES.includes(facts.machineState) && !facts.startRequested) {
        const which = facts.name === "notebook" ? "" : ` -- --notebook ${facts.name}`;
        return {
            state: "stopped",
            kept: `${facts.name}: the machine is stopped (idle stop, npm run stop or the console) and stays stopped: ` +
                `\`npm run start${which}\` starts it`,
        };
    }
    return { state: "running" };
}

/** Whether START_ENV (npm run start) names this notebook, or every one. */
export function startRequested(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
    const names = (env[START_ENV] ?? "").split(/\s+/).filter((entry) => entry !== "");
    return names.includes(name) || names.includes("*");
}
