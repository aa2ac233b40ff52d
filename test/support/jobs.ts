// Test-only access to the job runner's records: the tests' "machine" is this computer, so a test
// reads what the runner keeps (list --json, job.json, job.log) directly, and waits for a job with
// bounded polls instead of fixed sleeps.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";

import { JOB_RUNNER } from "./scripts";
import { DEBIAN_PYTHON, delay } from "./system";

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
export async function eventually(check: () => boolean | Promise<boolean>, what: () => string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
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

/** The live processes (zombies left out) in process group `pgid`, as "pid command" lines from /proc. */
export function processGroup(pgid: number): string[] {
    const members: string[] = [];
    for (const entry of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
        let stat = "";
        try {
            stat = readFileSync(path.join("/proc", entry, "stat"), "utf8");
        } catch {
            continue; // ended while we looked
        }
        // "pid (comm) state ppid pgrp …": the command may hold spaces and parentheses, what follows its last ')' does not.
        const close = stat.lastIndexOf(")");
        const [state, , pgrp] = stat.slice(close + 2).split(" ");
        if (Number(pgrp) === pgid && state !== "Z") {
            members.push(`${entry} ${stat.slice(stat.indexOf("(") + 1, close)}`);
        }
    }
    return members;
}

/**
 * Runs `command` as a terminal session runs it (its own session, the pseudo-terminal its
 * controlling terminal, as `ssh -t` or a Jupyter terminal does), waits until it prints `ready`,
 * then closes the terminal as a closed window or a dropped connection does. The hangup's signals
 * are sent before the session's shell can be reaped; for `settleMs` after that, processes the
 * session left behind are reaped as the machine's init would reap them (this computer's pid 1
 * does not), so one the hangup killed is gone, not a zombie that still looks alive.
 * Returns what the session printed.
 */
export function runInClosedTerminal(command: string[], ready: string, settleMs = 1000, timeoutMs = 20_000): string {
    const harness = `
import ctypes, os, pty, select, sys, time
ready, command = sys.argv[1].encode(), sys.argv[2:]
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
pid, terminal = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
seen, deadline = b"", time.monotonic() + ${timeoutMs / 1000}
while ready not in seen:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([terminal], [], [], left)[0]:
        sys.exit("no %r within the time limit; the terminal showed: %r" % (ready, seen))
    try:
        seen += os.read(terminal, 4096)
    except OSError:
        sys.exit("the session ended before %r; the terminal showed: %r" % (ready, seen))
os.close(terminal)
os.waitpid(pid, 0)
settled = time.monotonic() + ${settleMs / 1000}
while time.monotonic() < settled:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pass
    time.sleep(0.05)
sys.stdout.write(seen.decode(errors="replace"))
`;
    const result = spawnSync(DEBIAN_PYTHON, ["-c", harness, ready, ...command], { encoding: "utf8", timeout: timeoutMs + settleMs + 10_000 });
    assert.strictEqual(result.status, 0, `the terminal session failed: ${result.stderr}`);
    return result.stdout;
}
