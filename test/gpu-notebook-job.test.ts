// The job runner as the machine runs it (components/boot/gpu-notebook-job under Debian's Python):
// real detached supervisors, real process groups and signals, a jobs folder and a run dir in a
// temporary folder. A reboot is simulated the way it happens: the processes die and the run dir
// is emptied, while the records on the data volume stay.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { alive, eventually, JobEntry, Jobs, processGroup, runInClosedTerminal } from "./support/jobs";
import { IDLE_WATCHER, JOB_RUNNER } from "./support/scripts";
import { DEBIAN_PYTHON, requireCommands } from "./support/system";

/** The fields of `list --json` entries that the idle watcher and the scripts rely on. */
const LIST_FIELDS = ["name", "state", "exit_code", "started_at", "ended_at", "command", "stop_when_done",
    "restart_on_boot", "restarts", "dir", "pid", "interrupted_reason", "stalled"];

describe("gpu-notebook-job, the job runner on the machine", function () {
    this.timeout(30_000);
    let dir = "";
    let jobsDir = "";
    let runDir = "";
    let jobs: Jobs;
    const runner = (subcommand: string, ...args: string[]) => jobs.runner(subcommand, ...args);
    const job = (name: string) => jobs.job(name);
    const record = (name: string) => jobs.record(name);
    const log = (name: string) => jobs.log(name);

    function start(name: string, command: string[], ...options: string[]): void {
        mkdirSync(path.join(jobsDir, name), { recursive: true });
        const result = runner("start", name, ...options, "--", ...command);
        assert.strictEqual(result.status, 0, result.stderr);
    }

    /** A record as a job the machine stopped under leaves it: never ended, no live supervisor. */
    function interrupted(name: string, restarts: number, restartOnBoot: number): void {
        const folder = path.join(jobsDir, name);
        mkdirSync(folder, { recursive: true });
        const started = Date.now() / 1000 - 3600;
        writeFileSync(path.join(folder, "job.json"), JSON.stringify({
            name, command: ["sh", "-c", "echo resumed >> resumed.txt"], dir: folder, started_at: started,
            ended_at: null, exit_code: null, end_state: null, supervisor_pid: 999_999, pid: 999_998,
            stop_when_done: false, restart_on_boot: restartOnBoot, restarts,
        }));
    }

    /** What happens to a machine's processes and its /run when it stops, for one job. */
    function reboot(name: string): void {
        const { supervisor_pid: supervisor, pid } = record(name);
        process.kill(supervisor as number, "SIGKILL");
        process.kill(-(pid as number), "SIGKILL");
        rmSync(runDir, { recursive: true, force: true });
        mkdirSync(runDir);
    }

    before(function () {
        requireCommands(this, DEBIAN_PYTHON);
        dir = mkdtempSync(path.join(tmpdir(), "gnj-runner-"));
        jobsDir = path.join(dir, "jobs");
        runDir = path.join(dir, "run");
        mkdirSync(runDir);
        jobs = new Jobs(jobsDir, runDir);
    });

    after(() => {
        if (dir) {
            jobs.stopAll();
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("records the command, times and exit status beside a log of timestamped output lines", async () => {
        start("records", ["sh", "-c", "echo to stdout; echo to stderr >&2; exit 4"]);
        const entry = await jobs.waitForState("records", "failed");
        assert.strictEqual(entry.exit_code, 4);
        assert.deepStrictEqual(entry.command, ["sh", "-c", "echo to stdout; echo to stderr >&2; exit 4"]);
        assert.strictEqual(entry.dir, path.join(jobsDir, "records"));
        const saved = record("records");
        assert.ok(saved.started_at <= (saved.ended_at as number), "started before it ended");
        assert.ok(Math.abs(Date.now() / 1000 - saved.started_at) < 60, "times are epoch seconds");
        assert.strictEqual(saved.end_state, "failed");
        assert.ok(saved.pid && saved.supervisor_pid && saved.pid !== saved.supervisor_pid, "both pids are recorded");
        const stamp = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
        assert.match(log("records"), new RegExp(`^${stamp} to stdout$`, "m"));
        assert.match(log("records"), new RegExp(`^${stamp} to stderr$`, "m"));
        assert.match(log("records"), new RegExp(`^${stamp} gpu-notebook-job: failed with exit status 4`, "m"));
        assert.ok(!existsSync(path.join(runDir, "records.pid")), "the supervisor removed its marker");
    });

    it("lists jobs with exactly the fields the idle watcher and the scripts read", async () => {
        start("listed", ["true"], "--stop-when-done", "--restart-on-boot", "2");
        const entry = await jobs.waitForState("listed", "succeeded");
        assert.deepStrictEqual(Object.keys(entry).sort(), [...LIST_FIELDS].sort());
        assert.strictEqual(entry.stop_when_done, true);
        assert.strictEqual(entry.restart_on_boot, 2);
        assert.strictEqual(entry.restarts, 0);
        const started = jobs.list().map((listed) => listed.started_at);
        assert.deepStrictEqual(started, [...started].sort((a, b) => a - b), "oldest first");
    });

    it("writes a progress bar's carriage-return redraws as lines of their own", async () => {
        start("progress", ["printf", "10%%\\r50%%\\r100%%\\r\\ndone\\n"]);
        await jobs.waitForState("progress", "succeeded");
        const lines = log("progress").split("\n").map((line) => line.replace(/^\S+ /, ""));
        assert.deepStrictEqual(lines.filter((line) => !line.startsWith("gpu-notebook-job:") && line !== ""),
            ["10%", "50%", "100%", "done"]);
    });

    it("refuses a name already taken, and a name that is not a plain folder name", async () => {
        start("taken", ["true"]);
        const again = runner("start", "taken", "--", "true");
        assert.strictEqual(again.status, 1);
        assert.match(again.stderr, /a job named 'taken' exists already/);
        for (const bad of ["../escape", ".hidden", "a/b", "x".repeat(65)]) {
            const result = runner("start", bad, "--", "true");
            assert.strictEqual(result.status, 1, bad);
            assert.match(result.stderr, /is not allowed: use 1-64 letters/, bad);
        }
        const longest = runner("prepare", "x".repeat(64));
        assert.strictEqual(longest.status, 0, `a 64-character name is allowed: ${longest.stderr}`);
    });

    it("prepare --unique picks the next free name when one is taken, and plain prepare refuses it", () => {
        start("daily", ["true"]);
        assert.strictEqual(runner("prepare", "--unique", "daily").stdout, `daily-2\n${path.join(jobsDir, "daily-2")}\n`);
        start("daily-2", ["true"]);
        assert.strictEqual(runner("prepare", "--unique", "daily").stdout.split("\n")[0], "daily-3");
        const taken = runner("prepare", "daily");
        assert.strictEqual(taken.status, 1);
        assert.match(taken.stderr, /a job named 'daily' exists already/);
    });

    it("says which command could not be run, and records the job as failed", () => {
        mkdirSync(path.join(jobsDir, "missing-command"), { recursive: true });
        const result = runner("start", "missing-command", "--", "no-such-command-anywhere", "--flag");
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /cannot run no-such-command-anywhere in .*: No such file or directory/);
        assert.strictEqual(job("missing-command").state, "failed");
        assert.strictEqual(job("missing-command").exit_code, 127);
        assert.match(log("missing-command"), /cannot run no-such-command-anywhere/);
    });

    it("stop sends SIGTERM, then SIGKILL after the grace period, and records stopped", async () => {
        start("stubborn", ["sh", "-c", "trap '' TERM; echo ignoring TERM; sleep 60"]);
        await jobs.waitForLog("stubborn", "ignoring TERM");
        const { pid } = record("stubborn");
        const result = runner("stop", "stubborn", "--grace", "0.5");
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(result.stdout, /did not end within 0.5 s of SIGTERM; sending SIGKILL/);
        const entry = job("stubborn");
        assert.strictEqual(entry.state, "stopped");
        assert.strictEqual(entry.exit_code, 128 + 9);
        assert.ok(!alive(pid), "the job's process is gone");
    });

    it("stop ends what the job's shell started in the background too, so nothing is left in its process group", async () => {
        // The helper's output goes elsewhere, so the command's end does not wait for it: only a
        // stop that signals the whole group ends it.
        start("with-helper", ["sh", "-c", "sleep 600 </dev/null >/dev/null 2>&1 & echo helper $!; wait"]);
        await jobs.waitForLog("with-helper", "helper ");
        const { pid } = record("with-helper");
        assert.strictEqual(processGroup(pid as number).length, 2, "the shell and its helper run in the job's group");
        const result = runner("stop", "with-helper", "--grace", "5");
        assert.strictEqual(result.status, 0, result.stderr);
        assert.strictEqual(job("with-helper").state, "stopped");
        await eventually(() => processGroup(pid as number).length === 0,
            () => `still in the job's process group after the stop: ${processGroup(pid as number).join(", ")}`);
    });

    it("a job started from a terminal still runs, and lists as running, after the terminal closes", () => {
        mkdirSync(path.join(jobsDir, "from-terminal"), { recursive: true });
        // As `ssh -t machine gpu-notebook-job start …` runs it: a shell in the terminal's session
        // starts the job and waits at the prompt until the terminal goes away.
        runInClosedTerminal(["sh", "-c", '"$0" "$@" && echo job-started && read -r _', JOB_RUNNER, "start", "from-terminal",
            ...jobs.options, "--", "sleep", "600"], "job-started");
        assert.strictEqual(job("from-terminal").state, "running");
        const { supervisor_pid: supervisor, pid } = record("from-terminal");
        assert.ok(alive(supervisor), "the supervisor outlived the terminal");
        assert.ok(alive(pid), "the job outlived the terminal");
        runner("stop", "from-terminal", "--grace", "1");
    });

    it("a supervisor ended as at shutdown leaves its job interrupted, not failed", async () => {
        start("shutdown", ["sleep", "60"], "--restart-on-boot", "1");
        const { supervisor_pid: supervisor, pid } = record("shutdown");
        process.kill(supervisor as number, "SIGTERM");
        await jobs.waitForState("shutdown", "interrupted");
        assert.strictEqual(record("shutdown").ended_at, null);
        assert.ok(!alive(pid), "the job ended with its supervisor");
        assert.match(log("shutdown"), /interrupted \(exit status 143\): the supervisor was told to end/);
    });

    describe("boot, after the machine stopped under running jobs", () => {
        it("marks a job interrupted once its run dir is emptied, and restarts it once per boot", async () => {
            start("rebooted", ["sh", "-c", "echo run >> runs.txt; echo ran; exec sleep 60"], "--restart-on-boot", "1");
            await jobs.waitForLog("rebooted", "ran");
            reboot("rebooted");
            assert.strictEqual(job("rebooted").state, "interrupted");
            const boot = runner("boot");
            assert.strictEqual(boot.status, 0, boot.stderr);
            assert.match(boot.stdout, /job rebooted: interrupted, restart 1 of 1/);
            const entry = await jobs.waitForState("rebooted", "running");
            assert.strictEqual(entry.restarts, 1);
            const supervisor = record("rebooted").supervisor_pid;
            assert.strictEqual(runner("boot").stdout, "", "a second run in the same boot changes nothing");
            assert.strictEqual(record("rebooted").supervisor_pid, supervisor);
            const runs = path.join(jobsDir, "rebooted", "runs.txt");
            await eventually(() => readFileSync(runs, "utf8") === "run\nrun\n", () => `the same command ran again in the same folder: ${readFileSync(runs, "utf8")}`);
        });

        it("restarts a job with one restart left (restarts one below the limit)", async () => {
            interrupted("one-left", 2, 3);
            assert.strictEqual(job("one-left").state, "interrupted");
            assert.match(runner("boot").stdout, /job one-left: interrupted, restart 3 of 3/);
            const entry = await jobs.waitForState("one-left", "succeeded");
            assert.strictEqual(entry.restarts, 3);
            assert.strictEqual(readFileSync(path.join(jobsDir, "one-left", "resumed.txt"), "utf8"), "resumed\n");
        });

        it("leaves a job interrupted when its restarts are used up (restarts at the limit)", () => {
            interrupted("used-up", 3, 3);
            assert.match(runner("boot").stdout, /job used-up: interrupted, not restarted \(restarts used: 3 of 3\)/);
            const entry = job("used-up");
            assert.strictEqual(entry.state, "interrupted");
            assert.strictEqual(entry.restarts, 3);
            assert.ok(!existsSync(path.join(jobsDir, "used-up", "resumed.txt")), "the command did not run");
            assert.match(log("used-up"), /not restarted \(restarts used: 3 of 3\)/);
        });

        it("leaves a job without --restart-on-boot interrupted", () => {
            interrupted("no-restart", 0, 0);
            assert.match(runner("boot").stdout, /job no-restart: interrupted, not restarted \(restart-on-boot is off\)/);
            assert.strictEqual(job("no-restart").state, "interrupted");
        });
    });

    it("the idle watcher's status reports uptime, its state, the runner's running jobs, the GPU and the notebooks' disk", async () => {
        const bin = path.join(dir, "bin");
        mkdirSync(bin, { recursive: true });
        writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 'Tesla T4, 37, 1024, 15360'\n");
        chmodSync(path.join(bin, "nvidia-smi"), 0o755);
        const idleState = path.join(dir, "idle.json");
        writeFileSync(idleState, JSON.stringify({ checked_at: Date.now() / 1000, verdict: "keep", reason: "active:job", limit: 60, minutes_left: 60 }));
        start("for-status", ["sleep", "60"]);
        const status = (...args: string[]) => {
            const result = spawnSync(IDLE_WATCHER, ["status", "--json", ...jobs.options, "--job-runner", JOB_RUNNER, ...args], { encoding: "utf8", timeout: 20_000 });
            assert.strictEqual(result.status, 0, result.stderr);
            return JSON.parse(result.stdout);
        };
        const known = status("--idle-state", idleState, "--nvidia-smi", path.join(bin, "nvidia-smi"));
        assert.ok(known.uptime_seconds > 0);
        assert.strictEqual(known.idle.reason, "active:job");
        assert.deepStrictEqual(known.gpus, [{ name: "Tesla T4", utilization_percent: 37, memory_used_mib: 1024, memory_total_mib: 15360 }]);
        assert.deepStrictEqual(known.jobs.map((entry: JobEntry) => entry.name), ["for-status"]);
        assert.strictEqual(known.disk.path, dir);
        assert.ok(known.disk.used_bytes > 0 && known.disk.total_bytes >= known.disk.used_bytes);
        const unknown = status("--idle-state", path.join(dir, "none.json"), "--nvidia-smi", path.join(dir, "none"));
        assert.strictEqual(unknown.idle, null);
        assert.match(unknown.idle_error, /^unknown: no state from the idle watcher/);
        assert.strictEqual(unknown.gpus, null);
        assert.match(unknown.gpu_error, /^no GPU information/);
        runner("stop", "for-status", "--grace", "1");
    });
});
