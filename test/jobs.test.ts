// The job scripts for real: scripts/job, jobs, job-logs, job-stop and status reach Debian's sshd
// on 127.0.0.1 through the pinned, shared SSH connection, and drive the real job runner there
// (components/boot/gpu-notebook-job, pointed at a temporary jobs folder and run dir).
import * as assert from "assert";
import { chmodSync, closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { INSTANCE_PATHS } from "../components/boot";
import { alive, Jobs } from "./support/jobs";
import { sharedMachine } from "./support/shared-servers";
import {
    closeSharedConnections, IDLE_WATCHER, JOB_RUNNER, LocalMachine, RunningScript, runScript, ScriptResult, SCRIPTS, SSHD, sshdConnectionProcesses,
} from "./support/scripts";
import { DEBIAN_PYTHON, freePort, requireCommands } from "./support/system";

const STACK = "jobs";
const TIMESTAMP = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

describe("the job scripts against a real sshd and the real job runner", function () {
    this.timeout(60_000);
    let dir = "";
    let jobsDir = "";
    let project = "";
    let machine: LocalMachine | undefined;
    let env: NodeJS.ProcessEnv = {};
    let jobs: Jobs;

    function run(script: string, args: string[], overrides: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
        return runScript(script, args, { ...env, ...overrides });
    }

    const job = (name: string) => jobs.job(name);
    const record = (name: string) => jobs.record(name);
    const log = (name: string) => jobs.log(name);

    /** Lets a job started with `sh wait.sh` end, with exit status `code`. */
    function release(name: string, code: number): void {
        // Whole or not at all: wait.sh reads the file as soon as it exists, and an empty one is `exit ""`.
        const file = path.join(jobsDir, name, "release");
        writeFileSync(`${file}.partial`, String(code));
        renameSync(`${file}.partial`, file);
    }

    /** Connections sshd accepted so far (LogLevel VERBOSE logs each one). */
    function logins(): number {
        return (machine?.sshd.log().match(/Accepted publickey/g) ?? []).length;
    }

    before(async function () {
        requireCommands(this, SSHD, "ssh", "rsync", DEBIAN_PYTHON);
        // Short: ssh's shared-connection socket lives under HOME, and socket paths are short.
        dir = mkdtempSync(path.join(tmpdir(), "gnj-"));
        jobsDir = path.join(dir, "jobs");
        mkdirSync(path.join(dir, "bin"));
        writeFileSync(path.join(dir, "bin", "nvidia-smi"), "#!/bin/sh\necho 'Tesla T4, 37, 1024, 15360'\n");
        chmodSync(path.join(dir, "bin", "nvidia-smi"), 0o755);
        writeFileSync(path.join(dir, "idle.json"), JSON.stringify({
            checked_at: Date.now() / 1000, verdict: "keep", reason: "active:jobs", idle_seconds: 0, limit: 60,
            minutes_left: 60, running_jobs: [], cpu_percent: 0,
        }));
        project = path.join(dir, "project");
        for (const folder of [".git", "node_modules", "data"]) {
            mkdirSync(path.join(project, folder), { recursive: true });
            writeFileSync(path.join(project, folder, "file"), folder);
        }
        writeFileSync(path.join(project, "train.py"), "print('training')\n");
        // Runs until the test writes `release` into the job's folder, then exits with its content.
        writeFileSync(path.join(project, "wait.sh"),
            'echo "working in $(pwd)"\nwhile [ ! -e release ]; do sleep 0.1; done\necho released\nexit "$(cat release)"\n');
        machine = await sharedMachine();
        jobs = new Jobs(jobsDir, path.join(dir, "run"));
        const statusArgs = [...jobs.options, "--job-runner", JOB_RUNNER, "--idle-state", path.join(dir, "idle.json"), "--nvidia-smi", path.join(dir, "bin", "nvidia-smi")];
        env = {
            ...machine.env, GPU_NOTEBOOK_STACK: STACK, GPU_NOTEBOOK_JOB_RUNNER: JOB_RUNNER, GPU_NOTEBOOK_JOB_RUNNER_ARGS: jobs.options.join(" "),
            GPU_NOTEBOOK_IDLE_WATCHER: IDLE_WATCHER, GPU_NOTEBOOK_IDLE_WATCHER_ARGS: statusArgs.join(" "),
        };
    });

    after(async () => {
        if (machine) {
            jobs.stopAll();
            closeSharedConnections(machine.home); // sshd is shared; the connections are this suite's
        }
        if (dir) {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("copies the folder and starts the command, which keeps running after the SSH client is killed", async () => {
        const script = new RunningScript("job", ["--dir", project, "--name", "outlives", "--exclude", "data", "--follow",
            "--", "sh", "wait.sh"], env, 30_000);
        await script.waitFor("working in", 20_000);
        script.stop("SIGKILL"); // the terminal, its script and the ssh client, all at once
        const { stdout } = await script.exited;
        assert.match(stdout, /Job outlives runs on the machine/);
        assert.ok(stdout.includes("npm run job-logs -- outlives --follow"), stdout);
        assert.ok(stdout.includes("npm run job-stop -- outlives"), stdout);
        assert.ok(stdout.includes(`npm run copy -- :${path.join(jobsDir, "outlives")} ./`), stdout);
        const { pid } = record("outlives");
        assert.ok(alive(pid), "the job's process is alive after its SSH client was killed");
        assert.strictEqual(job("outlives").state, "running");
        const copy = path.join(jobsDir, "outlives");
        assert.strictEqual(readFileSync(path.join(copy, "train.py"), "utf8"), "print('training')\n");
        for (const left of [".git", "node_modules", "data"]) {
            assert.ok(!existsSync(path.join(copy, left)), `${left} is not copied`);
        }
        assert.match(log("outlives"), new RegExp(`^${TIMESTAMP} working in ${copy}$`, "m"));

        release("outlives", 0);
        await jobs.waitForState("outlives", "succeeded");
        assert.match(log("outlives"), new RegExp(`^${TIMESTAMP} released$`, "m"));
    });

    it("names a job after its folder and the time on the user's clock when no name is given", async () => {
        const result = await run("job", ["--dir", project, "--", "true"]);
        assert.strictEqual(result.status, 0, result.stderr);
        const name = /^Job (\S+) runs/m.exec(result.stdout)?.[1] ?? "";
        assert.match(name, /^project-\d{8}-\d{4}(-\d+)?$/);
        assert.ok(existsSync(path.join(jobsDir, name, "job.json")), name);
    });

    it("jobs shows a job running, then failed with its exit code, which --follow returns", async () => {
        const started = await run("job", ["--dir", project, "--name", "fails-later", "--", "sh", "wait.sh"]);
        assert.strictEqual(started.status, 0, started.stderr);
        const running = await run("jobs", []);
        assert.match(running.stdout, /^fails-later +running +\S+ \S+ +\d+ (s|min) +sh wait\.sh$/m);
        const follower = new RunningScript("job-logs", ["fails-later", "--follow"], env, 30_000);
        await follower.waitFor("working in", 20_000);
        release("fails-later", 3);
        const followed = await follower.exited;
        assert.strictEqual(followed.status, 3, followed.stderr);
        assert.match(followed.stdout, new RegExp(`^${TIMESTAMP} released$`, "m"));
        assert.match(followed.stdout, /failed with exit status 3/);
        assert.match((await run("jobs", [])).stdout, /^fails-later +failed \(exit 3\) /m);
    });

    it("a command that fails at once: --follow shows the error and exits non-zero", async () => {
        const result = await run("job", ["--dir", project, "--name", "fails-at-once", "--follow", "--", DEBIAN_PYTHON, "-c", "raise SystemExit('bad config: no data folder')"]);
        assert.strictEqual(result.status, 1);
        assert.match(result.stdout, /bad config: no data folder/);
        const missing = await run("job", ["--dir", project, "--name", "no-such-command", "--follow", "--", "no-such-command-anywhere"]);
        assert.notStrictEqual(missing.status, 0);
        assert.match(missing.stderr, /cannot run no-such-command-anywhere .*No such file or directory/);
    });

    it("job-stop ends a running job and records it as stopped", async () => {
        const started = await run("job", ["--dir", project, "--name", "to-stop", "--", "sh", "wait.sh"]);
        assert.strictEqual(started.status, 0, started.stderr);
        const { pid } = record("to-stop");
        const stopped = await run("job-stop", ["to-stop", "--grace", "5"]);
        assert.strictEqual(stopped.status, 0, stopped.stderr);
        assert.match(stopped.stdout, /job to-stop stopped/);
        const entry = job("to-stop");
        assert.strictEqual(entry.state, "stopped");
        assert.strictEqual(entry.exit_code, 128 + 15);
        assert.ok(!alive(pid), "the job's process is gone");
    });

    it("Ctrl-C while following stops following, not the job", async () => {
        const started = await run("job", ["--dir", project, "--name", "keeps-going", "--", "sh", "wait.sh"]);
        assert.strictEqual(started.status, 0, started.stderr);
        const follower = new RunningScript("job-logs", ["keeps-going", "--follow"], env, 30_000);
        await follower.waitFor("working in", 20_000);
        follower.stop("SIGINT");
        const result = await follower.exited;
        assert.strictEqual(result.status, 130, result.stdout + result.stderr);
        assert.match(result.stderr, /Stopped following; job keeps-going keeps running/);
        assert.strictEqual((job("keeps-going")).state, "running");
        release("keeps-going", 0);
    });

    it("refuses a second job with a name already taken, before copying anything", async () => {
        const other = path.join(dir, "other-project");
        mkdirSync(other);
        writeFileSync(path.join(other, "not-copied.txt"), "x");
        const result = await run("job", ["--dir", other, "--name", "outlives", "--", "true"]);
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /a job named 'outlives' exists already/);
        assert.ok(!existsSync(path.join(jobsDir, "outlives", "not-copied.txt")), "nothing was copied");
    });

    it("refuses to start a job when the machine does not answer, saying why and what to run", async () => {
        const closed = await freePort();
        const result = await run("job", ["--dir", project, "--name", "unreachable", "--", "true"], { GPU_NOTEBOOK_SSH_PORT: String(closed) });
        assert.notStrictEqual(result.status, 0);
        assert.match(result.stderr, new RegExp(`Not reachable: 127\\.0\\.0\\.1:${closed} refused the connection`));
        assert.match(result.stderr, /npm run start$/m);
        assert.ok(!existsSync(path.join(jobsDir, "unreachable")), "nothing was copied or started");
    });

    describe("warns before copying a folder over 5 GiB, with its size", () => {
        for (const [bytes, warns] of [[5 * 1024 ** 3, false], [5 * 1024 ** 3 + 1, true]] as const) {
            it(`${warns ? "warns" : "does not warn"} at ${bytes} bytes`, async () => {
                const big = path.join(dir, `big-${bytes}`);
                mkdirSync(big);
                const file = openSync(path.join(big, "weights.bin"), "w");
                ftruncateSync(file, bytes); // sparse: no disk used
                closeSync(file);
                // The name is taken, so the script stops after its checks and copies nothing.
                const result = await run("job", ["--dir", big, "--name", "outlives", "--", "true"]);
                assert.strictEqual(result.status, 1);
                assert.strictEqual(/warning: .* holds 5\.0 GiB \(\d+ bytes\) to copy, over 5 GiB/.test(result.stderr), warns, result.stderr);
                assert.match(result.stderr, /exists already/);
            });
        }
    });

    describe("bad input: a clear error, and nothing started", () => {
        const cases: [string, string, string[], RegExp][] = [
            ["no command", "job", ["--name", "x"], /no command to run/],
            ["a --dir that does not exist", "job", ["--dir", "/nonexistent/folder", "--", "true"], /--dir \/nonexistent\/folder is not a folder/],
            ["an unknown option", "job", ["--nmae", "x", "--", "true"], /unknown option --nmae/],
            ["--restart-on-boot 0", "job", ["--restart-on-boot", "0", "--", "true"], /--restart-on-boot 0: give 1 to 100 restarts/],
            ["--restart-on-boot 101", "job", ["--restart-on-boot", "101", "--", "true"], /--restart-on-boot 101: give 1 to 100 restarts/],
            ["job-stop of an unknown job", "job-stop", ["no-such-job"], /no job named 'no-such-job'/],
            ["job-logs of an unknown job", "job-logs", ["no-such-job"], /no job named 'no-such-job'/],
            ["job-logs without a name", "job-logs", [], /which job\?/],
        ];
        for (const [what, script, args, message] of cases) {
            it(`refuses ${what}`, async () => {
                const before = jobs.list();
                const result = await run(script, args, { INIT_CWD: project });
                assert.strictEqual(result.status, 1, result.stdout + result.stderr);
                assert.match(result.stderr, message);
                assert.deepStrictEqual(jobs.list(), before, "no job was started or changed");
            });
        }
    });

    it("reuses one SSH connection for the commands that follow the first", async () => {
        assert.strictEqual((await run("jobs", [])).status, 0);
        const before = logins();
        for (const script of ["jobs", "status"]) {
            assert.strictEqual((await run(script, [])).status, 0);
        }
        assert.strictEqual(logins(), before, "no new SSH login for later commands");
    });

    it("a command after the shared connection died without closing finishes within 30 s, through a new connection", async () => {
        assert.strictEqual((await run("jobs", [])).status, 0);
        // The machine's side stops answering and never closes, as after a laptop's sleep or a
        // dropped NAT entry; sshd itself still accepts new connections.
        const frozen = sshdConnectionProcesses((machine as LocalMachine).sshd);
        frozen.forEach((pid) => process.kill(pid, "SIGSTOP"));
        try {
            const before = logins();
            const result = await runScript("jobs", [], env, 45_000);
            assert.strictEqual(result.status, 0, result.stderr);
            assert.ok(result.ms < 30_000, `took ${result.ms} ms`);
            assert.strictEqual(logins(), before + 1, "one new SSH login");
        } finally {
            for (const pid of frozen) {
                try { process.kill(pid, "SIGCONT"); } catch { /* gone */ }
            }
        }
    });

    describe("connection sharing needs a short enough socket path (86 bytes, macOS's limit less ssh's own 18)", () => {
        // The socket is <HOME>/.ssh/gn-<40 hex digits>: 49 bytes after HOME.
        for (const [length, shared] of [[37, true], [38, false]] as const) {
            it(`${shared ? "shares" : "does not share, yet connects,"} under a ${length}-byte home folder`, async () => {
                const home = `${dir}/${"h".repeat(length - dir.length - 1)}`;
                mkdirSync(home, { mode: 0o700 });
                const result = await run("ssh", ["echo", "connected"], { HOME: home });
                assert.strictEqual(result.status, 0, result.stderr);
                assert.strictEqual(result.stdout, "connected\n");
                const config = readFileSync(path.join(home, ".ssh", `gpu-notebook-${STACK}.ssh_config`), "utf8");
                assert.strictEqual(config.includes("ControlMaster auto"), shared, config);
                closeSharedConnections(home);
            });
        }
    });

    describe("status", () => {
        it("shows the machine, its price, uptime, idle verdict, running jobs, GPU and notebooks' disk", async () => {
            const started = await run("job", ["--dir", project, "--name", "for-status", "--", "sh", "wait.sh"]);
            assert.strictEqual(started.status, 0, started.stderr);
            const result = await run("status", []);
            release("for-status", 0);
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /^Machine: +127\.0\.0\.1:\d+ \(stack jobs\), reachable$/m);
            assert.match(result.stdout, /^Price: +\$0\.526 per hour while it runs/m);
            assert.match(result.stdout, /^Up for: +\d+ (s|min|h \d+ min)$/m);
            assert.match(result.stdout, /^Idle stop: +kept up by jobs; stops 60 min after the last activity$/m);
            assert.match(result.stdout, /^Jobs: +(.*; )?for-status \(\d+ (s|min): sh wait\.sh\)(;|$)/m);
            assert.match(result.stdout, /^GPU: +Tesla T4, 37% busy, 1024 of 15360 MiB memory used$/m);
            assert.match(result.stdout, new RegExp(`^Notebooks: +[\\d.]+ of [\\d.]+ GiB used \\(\\d+%\\) on the (data volume|root disk), ${dir}$`, "m"));
        });

        it("says an update waits for a restart, and a set-up that gave up, from the files the machine's contract names", async () => {
            // The machine file the runner reads on the instance, with its two markers under this test's folder.
            const markers = { updatePending: path.join(dir, "update-pending"), bundleFailed: path.join(dir, "bundle-failed") };
            const machineFile = path.join(dir, "machine.json");
            writeFileSync(machineFile, JSON.stringify({ notebook: { jobsDir }, paths: { jobsRunDir: path.join(dir, "run"), idleState: path.join(dir, "idle.json"), ...markers } }));
            const withMachine = { GPU_NOTEBOOK_IDLE_WATCHER_ARGS: `${env.GPU_NOTEBOOK_IDLE_WATCHER_ARGS} --machine ${machineFile}` };
            const before = await run("status", [], withMachine);
            assert.strictEqual(before.status, 0, before.stderr);
            assert.doesNotMatch(before.stdout, /^(Update|Set-up):/m);
            writeFileSync(markers.updatePending, `${INSTANCE_PATHS.jupyterConfig}\n`);
            writeFileSync(markers.bundleFailed, "the boot bundle could not be fetched (HTTP 403 from S3); next: npm run up\n");
            try {
                const after = await run("status", [], withMachine);
                assert.strictEqual(after.status, 0, after.stderr);
                assert.match(after.stdout, new RegExp(`^Update: +an update waits for a restart: the notebook server takes ${INSTANCE_PATHS.jupyterConfig} at its next start`, "m"));
                assert.match(after.stdout, /^Set-up: +the boot bundle could not be fetched \(HTTP 403 from S3\); next: npm run up$/m);
            } finally {
                rmSync(markers.updatePending);
                rmSync(markers.bundleFailed);
            }
        });

        it("says so when the machine does not answer, with the likely causes and the commands, within 10 s", async () => {
            const closed = await freePort();
            const result = await run("status", [], { GPU_NOTEBOOK_SSH_PORT: String(closed) });
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stdout, new RegExp(`^Machine: +127\\.0\\.0\\.1:${closed} \\(stack jobs\\), NOT reachable$`, "m"));
            assert.match(result.stdout, /the machine is stopped .*: npm run start$/m);
            assert.match(result.stdout, /the address you are at is not allowed .*: npm run allow-my-ip/m);
            assert.match(result.stdout, /first boot takes a few minutes/);
            assert.ok(result.ms < 10_000, `answered after ${result.ms} ms`);
        });
    });

    it("looks for the runner on the machine where the instance installs it", () => {
        const script = readFileSync(path.join(SCRIPTS, "lib", "machine.sh"), "utf8");
        assert.strictEqual(/^JOB_RUNNER_PATH=(\S+) #/m.exec(script)?.[1], INSTANCE_PATHS.jobRunner);
    });

    it("says the machine has not finished its set-up, with the next step, when the runner is not installed yet", async () => {
        const result = await run("status", [], { GPU_NOTEBOOK_IDLE_WATCHER: path.join(dir, "not-installed", "idle-watcher.py") });
        assert.strictEqual(result.status, 1, result.stdout);
        assert.match(result.stderr, /the machine has not finished its set-up/);
        assert.match(result.stdout + result.stderr, /Next step: .*try again shortly.*npm run up/);
        assert.doesNotMatch(result.stdout + result.stderr, /No such file|command not found/);
    });
});
