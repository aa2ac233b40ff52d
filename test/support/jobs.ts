// Test-only access to the job runner's records: the tests' "machine" is this computer, so a test
// reads what the runner keeps (list --json, job.json, job.log) directly, and waits for a job with
// bounded polls instead of fixed sleeps.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { readFileSync } from "fs";
import * as path from "path";

import { JOB_RUNNER } from "./scripts";
import { delay } from "./system";

/** An entry of `gpu-notebook-job list --json`. */
export interface JobEntry {
    name: string; state: string; exit_code: number | null; started_at: number; ended_at: number | null;
    command: string[]; stop_when_done: boolean; restart_on_boot: number; restarts: number; dir: string;
}

/** A job.json record. */
export interface JobRecord extends Omit<JobEntry, "state"> {
    end_state: string | null; supervisor_pid: number | null; pid: number | null;
}

export interface RunnerResult { status: number | null; stdout: string; stderr: string }

/** Polls (bounded, never a fixed sleep tuned to an idle machine) until `check` holds. */
export async function eventually(check: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) {
            throw new Error(`after ${timeoutMs} ms: ${what()}`);
        }
        await delay(50);
    }
}

/** Whether a process with this pid exists. */
export function alive(pid: number | null): boolean {
    if (!pid) {
        return false;
    }
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** The jobs under one jobs folder and run dir, as the runner and its files tell them. */
export class Jobs {
    constructor(readonly jobsDir: string, readonly runDir: string) {}

    /** Options that point the runner at these folders. */
    get options(): string[] {
        return ["--jobs-dir", this.jobsDir, "--run-dir", this.runDir];
    }

    runner(subcommand: string, ...args: string[]): RunnerResult {
        const result = spawnSync(JOB_RUNNER, [subcommand, ...this.options, ...args], { encoding: "utf8", timeout: 20_000 });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    }

    list(): JobEntry[] {
        const result = this.runner("list", "--json");
        assert.strictEqual(result.status, 0, result.stderr);
        return (JSON.parse(result.stdout) as { jobs: JobEntry[] }).jobs;
    }

    job(name: string): JobEntry {
        const found = this.list().find((entry) => entry.name === name);
        assert.ok(found, `job ${name} is listed`);
        return found;
    }

    record(name: string): JobRecord {
        return JSON.parse(readFileSync(path.join(this.jobsDir, name, "job.json"), "utf8")) as JobRecord;
    }

    log(name: string): string {
        return readFileSync(path.join(this.jobsDir, name, "job.log"), "utf8");
    }

    async waitForState(name: string, state: string): Promise<JobEntry> {
        await eventually(() => this.job(name).state === state, () => `job ${name} is ${this.job(name).state}, not ${state}:\n${this.log(name)}`);
        return this.job(name);
    }

    async waitForLog(name: string, text: string): Promise<void> {
        await eventually(() => this.log(name).includes(text), () => `no "${text}" in the log of ${name}:\n${this.log(name)}`);
    }

    /** Stops every running job (after a suite: supervisors are detached, nothing else ends them). */
    stopAll(): void {
        for (const entry of this.list().filter((listed) => listed.state === "running")) {
            this.runner("stop", entry.name, "--grace", "1");
        }
    }
}
