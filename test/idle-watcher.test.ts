// The idle watcher as the instance runs it: its bytes and its command line are taken from the user
// data the program renders, and it watches a real Jupyter server (Debian's jupyter_server, HTTPS
// with the program's certificate, as an unprivileged user) with a real kernel, real jobs of the
// real job runner, real processes of the notebook user, a fake nvidia-smi on PATH, real ssh and
// rsync clients of Debian's sshd, a fake instance metadata service and a fake CloudWatch endpoint.
// Times are injected with --now, so "an hour later" takes milliseconds.
import * as assert from "assert";
import { ChildProcess, execFile, execFileSync, spawn } from "child_process";
import { appendFileSync, chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "fs";
import { createServer, IncomingMessage, Server as HttpServer, ServerResponse } from "http";
import * as https from "https";
import { AddressInfo, connect } from "net";
import { tmpdir } from "os";
import * as path from "path";

import { HEARTBEAT, IDLE_STOP_TAG, INSTANCE_PATHS } from "../components/boot";
import { DEFAULTS } from "../components/config";
import { CREDENTIALS, expectedSignature, INSTANCE_ID, Received, REGION, ROLE } from "./support/aws";
import { eventually } from "./support/jobs";
import { startJupyter, JupyterServer } from "./support/jupyter";
import { unwrap } from "../components/offline/run-program";
import { runShared, VALID_CONFIG } from "./support/program";
import { machineFiles } from "./support/user-data";
import { LocalMachine, SSHD, startLocalMachine, stopLocalMachine } from "./support/scripts";
import { DEBIAN_PYTHON, delay, freePort, requireCommands, waitForPort } from "./support/system";


const MINUTE = 60;

/** The words of a unit's `Key=` line, without systemd's "+" privilege prefix. */
function unitCommand(unit: string, key: string): string[] {
    const line = unit.split("\n").find((entry) => entry.startsWith(`${key}=`));
    assert.ok(line, `the unit has ${key}=`);
    return line.slice(key.length + 1).replace(/^\+/, "").split(" ");
}

describe("the idle watcher, against a real Jupyter server", function () {
    let root: string;
    let jupyter: JupyterServer;
    let certPem: string;
    let token: string;
    let watcherCommand: string[];
    let jobsBootCommand: string[];
    let fakeBin: string;
    let kernelId: string;
    let stateCounter = 0;
    let nobody: { uid: number; gid: number };
    let imds: HttpServer;
    let imdsUrl: string;
    /** The limit tag's value; undefined answers 404, as IMDS does when tags are not exposed. */
    let tagValue: string | undefined = "15";
    const imdsSeen: string[] = [];
    let cloudwatch: HttpServer;
    let cloudwatchUrl: string;
    let cloudwatchStatus = 200;
    const published: Received[] = [];
    const started: ChildProcess[] = [];

    /**
     * Runs the watcher's rendered command with test overrides (by default: --idle-minutes 60
     * --dry-run, and this suite's IMDS) and returns what it printed. Asynchronous, so servers in
     * this process can answer it.
     */
    function run(options: { now: number; state: string; args?: string[]; gpu?: string; path?: string; dryRun?: boolean }): Promise<string> {
        writeFileSync(path.join(root, "gpu-load"), options.gpu ?? "0\n");
        const args = [
            ...watcherCommand.slice(1), "--state", options.state, "--now", String(options.now), "--imds-url", imdsUrl,
            ...(options.dryRun === false ? [] : ["--dry-run"]), ...(options.args ?? ["--idle-minutes", "60"]),
        ];
        return new Promise((resolve, reject) => execFile(watcherCommand[0], args, {
            encoding: "utf8",
            timeout: 30_000,
            env: { PATH: options.path ?? `${fakeBin}:/usr/bin:/bin`, FAKE_GPU_LOAD: path.join(root, "gpu-load") },
        }, (error, stdout, stderr) => (error ? reject(new Error(`watcher failed: ${error.message}\n${stderr}`)) : resolve(stdout.trim()))));
    }

    /**
     * Runs a second apart make the notebook server's own answers to the watcher (a TLS handshake
     * each) look like tens of percent of a core, where on the instance runs are a minute apart:
     * tests of the other rules put the CPU rule out of reach; it has its own tests.
     */
    const CPU_OUT_OF_REACH = ["--cpu-threshold", "1000"];

    /** The watcher with --idle-minutes 60 and the CPU rule out of reach. */
    function watch(options: { now: number; state: string; args?: string[]; gpu?: string; path?: string }): Promise<string> {
        return run({ ...options, args: ["--idle-minutes", "60", ...CPU_OUT_OF_REACH, ...(options.args ?? [])] });
    }

    function verdict(line: string): string {
        const match = /verdict=(\w+)/.exec(line);
        assert.ok(match, `a verdict in: ${line}`);
        return match[1];
    }

    function freshState(): string {
        stateCounter += 1;
        return path.join(root, `state-${stateCounter}.json`);
    }

    /** A state file as the watcher leaves it, with the idle clock started `minutesAgo` before `now`. */
    function stateSince(now: number, minutesAgo: number): string {
        const state = freshState();
        writeFileSync(state, JSON.stringify({ last_active: now - minutesAgo * MINUTE, limit: 60 }));
        return state;
    }

    /** GET (or POST) a Jupyter API path over HTTPS trusting only the notebook's certificate. */
    function api(method: string, apiPath: string, withToken = true): Promise<{ status: number; body: any }> { // any: JSON
        return new Promise((resolve, reject) => {
            const request = https.request(`${jupyter.baseUrl}${apiPath}`, {
                method,
                ca: certPem,
                // The certificate names the instance's public address, as on AWS; it is pinned by `ca`.
                checkServerIdentity: () => undefined,
                headers: withToken ? { Authorization: `token ${token}` } : {},
                timeout: 10_000,
            }, (response: IncomingMessage) => {
                let text = "";
                response.on("data", (chunk) => { text += chunk; });
                response.on("end", () => {
                    let body: unknown = text;
                    try { body = JSON.parse(text); } catch { /* not JSON */ }
                    resolve({ status: response.statusCode ?? 0, body });
                });
            });
            request.on("timeout", () => request.destroy(new Error(`timeout on ${apiPath}`)));
            request.on("error", reject);
            request.end(method === "POST" ? "{}" : undefined);
        });
    }

    async function kernel(): Promise<{ execution_state: string; last_activity: string }> {
        const { body } = await api("GET", `/api/kernels/${kernelId}?no_track_activity=1`);
        return body;
    }

    async function waitForKernelState(wanted: string[], seconds = 15): Promise<void> {
        for (let attempt = 0; attempt < seconds * 10; attempt++) {
            if (wanted.includes((await kernel()).execution_state)) {
                return;
            }
            await delay(100);
        }
        assert.fail(`kernel never reached ${wanted.join("/")} in ${seconds} s: ${JSON.stringify(await kernel())}`);
    }

    /**
     * Sends code to the kernel over its own channels, as a notebook cell would, and returns once
     * the kernel reports the wanted execution state. The client first waits (up to 60 s) for the
     * kernel to answer kernel_info; on a loaded machine its heartbeat can look dead that long, so
     * a client that gives up is replaced once by a fresh one.
     */
    function executeInKernel(code: string, until: "busy" | "idle"): void {
        const connectionFile = path.join(root, "home/ubuntu/.local/share/jupyter/runtime", `kernel-${kernelId}.json`);
        execFileSync(DEBIAN_PYTHON, ["-c", [
            "import sys, jupyter_client",
            "for attempt in (1, 2):",
            "    client = jupyter_client.BlockingKernelClient(connection_file=sys.argv[1])",
            "    client.load_connection_file(); client.start_channels()",
            "    try:",
            "        client.wait_for_ready(timeout=60)",
            "        break",
            "    except RuntimeError:",
            "        client.stop_channels()",
            "        if attempt == 2: raise",
            "client.execute(sys.argv[2])",
            "while client.get_iopub_msg(timeout=60)['content'].get('execution_state') != sys.argv[3]: pass",
            "client.stop_channels()",
        ].join("\n"), connectionFile, code, until], { timeout: 150_000 });
    }

    /** Epoch seconds a little after both the wall clock and the kernel's last activity. */
    async function startOfTest(): Promise<number> {
        const last = Date.parse((await kernel()).last_activity) / 1000;
        return Math.max(Date.now() / 1000, last) + 1;
    }

    /** The job runner as the user scripts run it over SSH: the installed file, as the notebook user. */
    function jobRunner(args: string[]): string {
        return execFileSync(path.join(root, INSTANCE_PATHS.jobRunner), [
            ...args.slice(0, 2), "--jobs-dir", path.join(root, "home/ubuntu/notebooks/jobs"),
            "--run-dir", path.join(root, INSTANCE_PATHS.jobsRunDir), ...args.slice(2),
        ], { encoding: "utf8", uid: nobody.uid, gid: nobody.gid, env: { PATH: "/usr/bin:/bin", HOME: path.join(root, "home/ubuntu") }, timeout: 30_000 });
    }

    let jobCount = 0;
    /** Starts a job of the notebook user; returns its name. */
    function startJob(command: string, options: string[] = []): string {
        jobCount += 1;
        const name = `job-${jobCount}`;
        jobRunner(["prepare", name]);
        jobRunner(["start", name, ...options, "--", "sh", "-c", command]);
        return name;
    }

    function listedJob(name: string): { state: string; ended_at: number | null } {
        const found = JSON.parse(jobRunner(["list", "--json"])).jobs.find((job: { name: string }) => job.name === name);
        assert.ok(found, `job ${name} is listed`);
        return found;
    }

    /** Waits (up to 20 s) for a job to end; returns when it did, as the runner recorded it. */
    async function jobEnd(name: string): Promise<number> {
        for (let attempt = 0; attempt < 200; attempt++) {
            const job = listedJob(name);
            if (job.ended_at !== null) {
                return job.ended_at;
            }
            await delay(100);
        }
        assert.fail(`job ${name} did not end: ${JSON.stringify(listedJob(name))}`);
    }

    before(async function () {
        // Bounded by the kernel's start: two kernels, each with two clients waiting 60 s at most.
        this.timeout(5 * 60_000);
        requireCommands(this, DEBIAN_PYTHON, "python3-module:jupyter_server", "python3-module:ipykernel",
            "python3-module:jupyter_client", "ss", "openssl", "systemd-tmpfiles");
        root = mkdtempSync(path.join(tmpdir(), "gpu-notebook-idle-"));
        chmodSync(root, 0o755);
        nobody = { uid: Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" })), gid: Number(execFileSync("id", ["-g", "nobody"], { encoding: "utf8" })) };

        // What the program hands the instance.
        const run = await runShared(VALID_CONFIG);
        certPem = await unwrap(run.outputs.notebookCertificatePem);
        const files = machineFiles(run.cloud, run.cloud.one("aws:ec2/instance:Instance"));
        const file = (filePath: string) => {
            const found = files.find((entry) => entry.path === filePath);
            assert.ok(found, `the machine gets ${filePath}`);
            return found.content;
        };
        const relocate = (text: string) => text
            .split("/etc/gpu-notebook").join(`${root}/etc/gpu-notebook`)
            .split("/usr/local/lib/gpu-notebook").join(`${root}/usr/local/lib/gpu-notebook`)
            .split("/run/gpu-notebook-").join(`${root}/run/gpu-notebook-`)
            .split("/home/ubuntu").join(`${root}/home/ubuntu`);
        for (const entry of files) {
            const target = path.join(root, entry.path);
            mkdirSync(path.dirname(target), { recursive: true });
            // tmpfiles.d entries name paths inside the root systemd-tmpfiles is given.
            writeFileSync(target, entry.path === INSTANCE_PATHS.jobsTmpfiles ? entry.content : relocate(entry.content),
                { mode: Number.parseInt(entry.permissions, 8) });
            if (entry.owner.startsWith("ubuntu:")) {
                chownSync(target, nobody.uid, nobody.gid);
            }
        }
        const home = path.join(root, "home/ubuntu");
        mkdirSync(path.join(home, "notebooks"), { recursive: true });
        execFileSync("chown", ["-R", `${nobody.uid}:${nobody.gid}`, home]);
        // The jobs' run directory as the boot makes it: from the tmpfiles.d entry, for "ubuntu" (here nobody's ids).
        for (const [name, line] of [["passwd", `ubuntu:x:${nobody.uid}:${nobody.gid}::/home/ubuntu:/bin/bash`], ["group", `ubuntu:x:${nobody.gid}:`]]) {
            copyFileSync(`/etc/${name}`, path.join(root, "etc", name));
            appendFileSync(path.join(root, "etc", name), `${line}\n`);
        }
        execFileSync("systemd-tmpfiles", ["--create", `--root=${root}`, path.join(root, INSTANCE_PATHS.jobsTmpfiles)]);

        // The notebook unit's first ExecStartPre makes the token, as root, for the notebook user:
        // `+/bin/sh -c '<script>'`, split as systemd splits it.
        const makeToken = /^ExecStartPre=\+(\/bin\/sh) (-c) '([^']+)'$/m.exec(relocate(file(INSTANCE_PATHS.serviceUnit)));
        assert.ok(makeToken, "the notebook unit makes the token with a shell command");
        const script = makeToken[3].replace(/ ubuntu: /g, " nobody: ");
        execFileSync(makeToken[1], [makeToken[2], script]);
        const tokenFile = path.join(root, INSTANCE_PATHS.apiTokenFile);
        token = readFileSync(tokenFile, "utf8").trim();
        assert.match(token, /^[0-9a-f]{64}$/);
        assert.strictEqual(statSync(tokenFile).mode & 0o777, 0o600);
        assert.strictEqual(statSync(tokenFile).uid, nobody.uid);
        execFileSync(makeToken[1], [makeToken[2], script]);
        assert.strictEqual(readFileSync(tokenFile, "utf8").trim(), token, "a later start keeps the token");

        jupyter = await startJupyter({
            configFile: path.join(root, INSTANCE_PATHS.jupyterConfig),
            cwd: path.join(home, "notebooks"),
            home,
            uid: nobody.uid,
            gid: nobody.gid,
        });
        // The idle unit's command, pointed at this server; the notebook user is nobody here, in the machine file.
        const machineFile = path.join(root, INSTANCE_PATHS.machineFile);
        const machine = JSON.parse(readFileSync(machineFile, "utf8"));
        writeFileSync(machineFile, JSON.stringify({ ...machine, notebook: { ...machine.notebook, user: "nobody" } }));
        watcherCommand = [...unitCommand(relocate(file(INSTANCE_PATHS.idleService)), "ExecStart"), "--jupyter-url", `${jupyter.baseUrl}/`];
        jobsBootCommand = unitCommand(relocate(file(INSTANCE_PATHS.jobsService)), "ExecStart");

        fakeBin = path.join(root, "fake-bin");
        mkdirSync(fakeBin);
        // nvidia-smi's answer to the watcher's query: one utilisation line per GPU, from a file.
        writeFileSync(path.join(fakeBin, "nvidia-smi"),
            "#!/bin/sh\n[ \"$*\" = \"--query-gpu=utilization.gpu --format=csv,noheader,nounits\" ] || exit 2\ncat \"$FAKE_GPU_LOAD\"\n",
            { mode: 0o755 });
        writeFileSync(path.join(fakeBin, "systemctl"), `#!/bin/sh\necho "$*" >> ${root}/systemctl.log\n`, { mode: 0o755 });

        // IMDSv2 as on the instance: a PUT for a session token, then reads that must carry it.
        const metadata: Record<string, () => string | undefined> = {
            [`tags/instance/${IDLE_STOP_TAG}`]: () => tagValue,
            "placement/region": () => REGION,
            "instance-id": () => INSTANCE_ID,
            "iam/security-credentials/": () => ROLE,
            [`iam/security-credentials/${ROLE}`]: () => JSON.stringify({ Code: "Success", Type: "AWS-HMAC", ...CREDENTIALS }),
        };
        imds = createServer((request: IncomingMessage, response: ServerResponse) => {
            imdsSeen.push(`${request.method} ${request.url}`);
            const answer = metadata[(request.url ?? "").replace("/latest/meta-data/", "")];
            if (request.method === "PUT" && request.url === "/latest/api/token" && request.headers["x-aws-ec2-metadata-token-ttl-seconds"]) {
                response.end("imds-session-token");
            } else if (request.method === "GET" && answer && request.headers["x-aws-ec2-metadata-token"] === "imds-session-token") {
                const value = answer();
                response.statusCode = value === undefined ? 404 : 200;
                response.end(value ?? "");
            } else {
                response.statusCode = 401;
                response.end();
            }
        });
        await new Promise<void>((resolve) => imds.listen(0, "127.0.0.1", resolve));
        imdsUrl = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
        cloudwatch = createServer((request: IncomingMessage, response: ServerResponse) => {
            let body = "";
            request.on("data", (chunk) => { body += chunk; });
            request.on("end", () => {
                published.push({ headers: request.headers, body });
                response.statusCode = cloudwatchStatus;
                response.end(cloudwatchStatus === 200 ? "<PutMetricDataResponse/>" : "<Error><Code>AccessDenied</Code></Error>");
            });
        });
        await new Promise<void>((resolve) => cloudwatch.listen(0, "127.0.0.1", resolve));
        cloudwatchUrl = `http://127.0.0.1:${(cloudwatch.address() as AddressInfo).port}/`;

        // A kernel as a notebook starts one, ready once it answered a client's kernel_info request
        // (executeInKernel waits for that). A kernel that died starting, which happens on a loaded
        // machine, is replaced once.
        for (let attempt = 1; ; attempt++) {
            const created = await api("POST", "/api/kernels");
            assert.strictEqual(created.status, 201, JSON.stringify(created.body));
            kernelId = created.body.id;
            try {
                executeInKernel("1", "idle");
                break;
            } catch (error) {
                await api("DELETE", `/api/kernels/${kernelId}`).catch(() => undefined);
                if (attempt === 2) {
                    throw error;
                }
            }
        }
        // Let the new kernel finish starting, so later activity is only what a test causes.
        await waitForKernelState(["idle"]);
        let last = "";
        for (let attempt = 0; attempt < 40 && last !== (await kernel()).last_activity; attempt++) {
            last = (await kernel()).last_activity;
            await delay(250);
        }
    });

    after(async () => {
        for (const child of started) {
            child.kill("SIGKILL");
        }
        if (jupyter) {
            if (kernelId) {
                await api("DELETE", `/api/kernels/${kernelId}`).catch(() => undefined);
            }
            await jupyter.stop();
        }
        for (const server of [imds, cloudwatch]) {
            await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
        }
        if (root) {
            rmSync(root, { recursive: true, force: true });
        }
    });

    afterEach(() => {
        // Each test starts without jobs: the ones a test left are stopped and their folders removed.
        const jobsDir = path.join(root, "home/ubuntu/notebooks/jobs");
        for (const job of JSON.parse(jobRunner(["list", "--json"])).jobs) {
            if (job.state === "running") {
                jobRunner(["stop", job.name, "--grace", "1"]);
            }
            rmSync(path.join(jobsDir, job.name), { recursive: true, force: true });
        }
    });

    describe("authentication", () => {
        it("reads the API with the token made on the instance, which Jupyter never prints", async () => {
            assert.strictEqual((await api("GET", "/api/kernels", false)).status, 403, "no token, no API");
            const line = await watch({ now: await startOfTest(), state: freshState() });
            assert.match(line, /jupyter=1_kernels,0_busy,last_activity=\d{4}-/);
            assert.ok(!jupyter.output().includes(token), "the token is not in the server's log");
            assert.ok(!line.includes(token), "nor in the watcher's");
        });

        it("sees Jupyter as unreachable, not active, with a wrong token", async () => {
            const badToken = path.join(root, "bad-token");
            writeFileSync(badToken, "0".repeat(64));
            const line = await watch({ now: await startOfTest(), state: freshState(), args: ["--token-file", badToken] });
            assert.match(line, /jupyter=unreachable\(Forbidden\)/);
        });
    });

    describe("idle", () => {
        it("keeps an idle machine under the limit and stops it past the limit", async () => {
            const start = await startOfTest();
            const state = freshState();
            assert.match(await watch({ now: start, state }), /verdict=keep idle=0m .* reason=idle_under_the_limit/);
            assert.match(await watch({ now: start + 59 * MINUTE, state }), /verdict=keep idle=59m/);
            const line = await watch({ now: start + 61 * MINUTE, state });
            assert.match(line, /verdict=stop idle=61m limit=60m\(option\) .*jobs=none .*gpu=0% ssh=none heartbeat=0\(dry-run\) reason=idle_for_the_limit action=dry-run/);
        });

        it("does not count its own API polling as activity", async () => {
            const before = { status: (await api("GET", "/api/status")).body.last_activity, kernel: (await kernel()).last_activity };
            const start = await startOfTest();
            const state = freshState();
            for (const minutes of [0, 15, 30, 45]) {
                assert.strictEqual(verdict(await watch({ now: start + minutes * MINUTE, state })), "keep");
            }
            assert.strictEqual(verdict(await watch({ now: start + 61 * MINUTE, state })), "stop");
            assert.strictEqual((await api("GET", "/api/status")).body.last_activity, before.status,
                "five watcher runs left the server's activity clock alone");
            assert.strictEqual((await kernel()).last_activity, before.kernel, "and the kernel's");
            // The control: a tracked read (what the watcher avoids) does move the server's clock.
            await api("GET", "/api/kernels");
            assert.notStrictEqual((await api("GET", "/api/status")).body.last_activity, before.status);
        });

        it("leaves a world-readable state with the verdict and the minutes left, for npm run status", async () => {
            const start = await startOfTest();
            const state = freshState();
            await watch({ now: start, state });
            await watch({ now: start + 20 * MINUTE, state });
            assert.strictEqual(statSync(state).mode & 0o777, 0o644);
            const saved = JSON.parse(readFileSync(state, "utf8"));
            assert.deepStrictEqual({ ...saved, cpu: undefined, cpu_percent: undefined, conditions: undefined }, {
                checked_at: start + 20 * MINUTE, verdict: "keep", reason: "idle_under_the_limit", idle_seconds: 20 * MINUTE,
                limit: 60, minutes_left: 40, running_jobs: [], last_active: start, cpu: undefined, cpu_percent: undefined,
                // The stall limit the program renders by default (machine.json's unattended.jobStallMinutes).
                stalled_jobs: [], stall_minutes: DEFAULTS.jobStallMinutes, jobs: {}, conditions: undefined,
            });
            // Every condition with its state, for npm run status's explanation.
            assert.deepStrictEqual({ ...saved.conditions, kernels: undefined, cpu: undefined }, {
                jobs: [], ssh: { connections: 0, in_use: 0 }, gpu: { percent: 0, counted: false }, kernels: undefined, cpu: undefined,
            });
            assert.strictEqual(saved.conditions.kernels.counted, false);
            assert.strictEqual(typeof saved.cpu_percent, "number", "the second run of a boot measures the user's CPU");
        });
    });

    describe("activity", () => {
        it("a busy kernel keeps the machine up past the limit", async () => {
            const start = await startOfTest();
            const state = freshState();
            await watch({ now: start, state });
            executeInKernel("import time; time.sleep(60)", "busy");
            await waitForKernelState(["busy"]);
            const line = await watch({ now: start + 61 * MINUTE, state });
            assert.match(line, /verdict=keep idle=0m .*jupyter=1_kernels,1_busy.* heartbeat=1\(dry-run\) reason=active:jupyter/);
            await api("POST", `/api/kernels/${kernelId}/interrupt`);
            await waitForKernelState(["idle"]);
        });

        it("recent kernel activity keeps it up, and counts from that activity", async () => {
            const lastActivity = Math.ceil(Date.parse((await kernel()).last_activity) / 1000);
            const state = stateSince(lastActivity, 120);
            assert.match(await watch({ now: lastActivity + 30 * MINUTE, state }), /verdict=keep idle=30m .* reason=active:jupyter/);
            assert.match(await watch({ now: lastActivity + 61 * MINUTE, state }), /verdict=stop idle=61m/);
        });

        it("GPU load keeps it up; a GPU at or under the threshold does not", async () => {
            const start = await startOfTest();
            const state = freshState();
            await watch({ now: start, state });
            const busy = await watch({ now: start + 61 * MINUTE, state, gpu: "0\n87\n" });
            assert.match(busy, /verdict=keep idle=0m .*gpu=0,87% .*reason=active:gpu/);
            const quiet = await watch({ now: start + 122 * MINUTE, state, gpu: "5\n0\n" });
            assert.match(quiet, /verdict=stop idle=61m .*gpu=5,0%/);
        });

        it("a machine without nvidia-smi is judged on the rest", async () => {
            const start = await startOfTest();
            const state = freshState();
            await watch({ now: start, state, path: "/usr/bin:/bin" });
            assert.match(await watch({ now: start + 61 * MINUTE, state, path: "/usr/bin:/bin" }),
                /verdict=stop .*gpu=unknown\(FileNotFoundError\)/);
        });

        describe("SSH connections, through Debian's sshd with real clients", () => {
            // The watcher counts a connection only while it does something: a terminal with input
            // or output within the limit, or a command still running. Runs here use the real clock
            // (a terminal's idleness is the kernel's clock), with the idle clock set 61 minutes back.
            let machine: LocalMachine;
            let sshArgs: string[];
            let badToken: string;
            const clients: ChildProcess[] = [];

            before(async function () {
                this.timeout(60_000);
                requireCommands(this, SSHD, "ssh", "rsync");
                badToken = path.join(root, "ssh-bad-token");
                writeFileSync(badToken, "0".repeat(64));
                machine = await startLocalMachine(path.join(root, "ssh-machine"), "idle");
                const knownHosts = path.join(root, "ssh-machine", "known_hosts");
                writeFileSync(knownHosts, `${machine.outputs.sshKnownHosts}\n`);
                sshArgs = [
                    "-i", path.join(root, "ssh-machine", "keys", "login"), "-p", String(machine.sshd.port),
                    "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", `HostKeyAlias=${machine.outputs.publicIp}`,
                    "-o", "StrictHostKeyChecking=yes", "-o", "ControlPath=none", "-o", "LogLevel=ERROR",
                ];
            });

            // The next test starts with no session left: an orphaned rsync would count as one.
            afterEach(async function () {
                this.timeout(30_000);
                for (const client of clients.splice(0)) {
                    try {
                        process.kill(-client.pid!, "SIGKILL");
                    } catch {
                        // already gone
                    }
                }
                const established = () => execFileSync("ss", ["-Htn", "state", "established", `( sport = :${machine.sshd.port} )`], { encoding: "utf8" }).trim();
                await eventually(() => established() === "", () => `SSH sessions still open after their clients were killed:\n${established()}`);
            });

            after(async () => {
                await stopLocalMachine(machine);
            });

            const host = () => `${String(machine.env.GPU_NOTEBOOK_SSH_USER)}@127.0.0.1`;

            /** A real ssh client to the local machine; its output is collected in `seen`. */
            function client(command: string, args: string[], seen: { text: string } = { text: "" }): ChildProcess {
                // Its own process group: rsync's ssh is killed with it, and its session ends.
                const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
                child.stdout?.on("data", (chunk) => { seen.text += chunk; });
                child.stderr?.on("data", (chunk) => { seen.text += chunk; });
                clients.push(child);
                return child;
            }

            /**
             * The watcher on the real clock, with nothing active for the last 61 minutes, the limit
             * 60. Jupyter is out of its reach (a wrong token): the suite's kernel was used seconds ago.
             */
            async function watchNow(): Promise<string> {
                const now = await startOfTest();
                return watch({ now, state: stateSince(now, 61), args: ["--ssh-port", String(machine.sshd.port), "--token-file", badToken] });
            }

            /** Runs the watcher until its line matches (at most 20 s): the client is connected, its session set up. */
            async function watchUntil(pattern: RegExp): Promise<string> {
                let line = "";
                for (const deadline = Date.now() + 20_000; Date.now() < deadline; await delay(200)) {
                    line = await watchNow();
                    if (pattern.test(line)) {
                        return line;
                    }
                }
                assert.fail(`the watcher never saw ${pattern} in 20 s; last: ${line}`);
            }

            /** Sets a terminal's last input and output two hours back, as after a weekend without use. */
            function ageTerminal(line: string): void {
                const terminal = /terminal_(pts\/\d+)_idle/.exec(line)?.[1];
                assert.ok(terminal, `a terminal in: ${line}`);
                const twoHoursAgo = Date.now() / 1000 - 2 * 60 * MINUTE;
                utimesSync(`/dev/${terminal}`, twoHoursAgo, twoHoursAgo);
            }

            it("an idle `ssh -N` tunnel does not keep the machine up", async () => {
                const local = await freePort();
                client("ssh", [...sshArgs, "-N", "-L", `127.0.0.1:${local}:127.0.0.1:${jupyter.port}`, host()]);
                await waitForPort(local, 20_000);
                const line = await watchNow();
                assert.match(line, /verdict=stop idle=61m .*ssh=0_of_1_counted\(ignored:127\.0\.0\.1:\d+=no_session\) heartbeat=0\(dry-run\) reason=idle_for_the_limit/);
            });

            it("an interactive shell idle past the limit does not keep it up; one just used does", async () => {
                const seen = { text: "" };
                client("ssh", [...sshArgs, "-tt", host()], seen);
                const used = await watchUntil(/counted:127\.0\.0\.1:\d+=terminal_pts/);
                assert.match(used, /verdict=keep idle=0m .*ssh=1_of_1_counted\(counted:127\.0\.0\.1:\d+=terminal_pts\/\d+_idle_0m\) heartbeat=1\(dry-run\) reason=active:ssh$/);
                ageTerminal(used);
                const line = await watchNow();
                assert.match(line, /verdict=stop idle=61m .*ssh=0_of_1_counted\(ignored:127\.0\.0\.1:\d+=terminal_pts\/\d+_idle_120m\) heartbeat=0\(dry-run\) reason=idle_for_the_limit/);
            });

            it("a shell printing every second keeps it up", async () => {
                client("ssh", [...sshArgs, "-tt", host(), "while true; do date; sleep 1; done"]);
                ageTerminal(await watchUntil(/counted:127\.0\.0\.1:\d+=terminal_pts/));
                // The kernel moves the terminal's time at its next output, a second later at most.
                await delay(2_000);
                const line = await watchNow();
                assert.match(line, /verdict=keep idle=0m .*ssh=1_of_1_counted\(counted:127\.0\.0\.1:\d+=terminal_pts\/\d+_idle_0m\) heartbeat=1\(dry-run\) reason=active:ssh$/);
            });

            it("a long rsync keeps it up while it runs", async () => {
                const source = path.join(root, "ssh-machine", "dataset.bin");
                writeFileSync(source, Buffer.alloc(4 * 1024 * 1024, 7));
                // 4 MiB at 16 KiB/s: minutes, far longer than the test.
                client("rsync", ["--bwlimit=16", "-e", ["ssh", ...sshArgs].join(" "), source, `${host()}:${path.join(root, "ssh-machine", "copy.bin")}`]);
                const line = await watchUntil(/counted:127\.0\.0\.1:\d+=command_rsync/);
                assert.match(line, /verdict=keep idle=0m .*ssh=1_of_1_counted\(counted:127\.0\.0\.1:\d+=command_rsync\) heartbeat=1\(dry-run\) reason=active:ssh$/);
            });

            it("connections to other ports are not SSH connections", async () => {
                const other = connect({ host: "127.0.0.1", port: jupyter.port });
                await new Promise((resolve) => other.once("connect", resolve));
                try {
                    assert.match(await watchNow(), / ssh=none /);
                } finally {
                    other.destroy();
                }
            });

            it("a --stop-when-done job does not stop the machine while a command runs over SSH, and does once only a tunnel is left", async () => {
                const name = startJob("true", ["--stop-when-done"]);
                const ended = await jobEnd(name);
                const state = stateSince(ended, 1);
                const args = ["--ssh-port", String(machine.sshd.port)];
                const command = client("ssh", [...sshArgs, host(), "sleep 120"]);
                const local = await freePort();
                client("ssh", [...sshArgs, "-N", "-L", `127.0.0.1:${local}:127.0.0.1:${jupyter.port}`, host()]);
                await waitForPort(local, 20_000);
                let line = "";
                for (const deadline = Date.now() + 20_000; !/command_sleep/.test(line) && Date.now() < deadline; await delay(200)) {
                    line = await watch({ now: Math.max(await startOfTest(), ended + 2 * MINUTE), state, args });
                }
                assert.match(line, new RegExp(`verdict=keep idle=0m .*jobs=done\\(${name}\\) .*ssh=1_of_2_counted.*command_sleep.*reason=active:\\S*ssh`));
                command.kill("SIGKILL");
                await new Promise((resolve) => command.once("exit", resolve));
                for (const deadline = Date.now() + 20_000; /command_sleep/.test(line) && Date.now() < deadline; await delay(200)) {
                    line = await watch({ now: Math.max(await startOfTest(), ended + 2 * MINUTE) + 2 * MINUTE, state, args });
                }
                assert.match(line, new RegExp(`verdict=stop .*ssh=0_of_1_counted\\(ignored:[^)]*=no_session\\) .*reason=job_done:${name}`));
            });
        });
    });

    describe("jobs, as the job runner lists them", () => {
        it("a running job keeps the machine up far past the limit, even with zero CPU and GPU, and its heartbeat says active", async () => {
            const name = startJob("sleep 300");
            assert.strictEqual(listedJob(name).state, "running");
            const start = await startOfTest();
            const state = stateSince(start, 0);
            // Five hours after the idle clock last moved, and the job asks for nothing.
            const line = await watch({ now: start + 5 * 60 * MINUTE, state, gpu: "0\n" });
            assert.match(line, new RegExp(`verdict=keep idle=0m limit=60m\\(option\\) .*jobs=running\\(${name}\\) cpu=\\S+ .*gpu=0% .*heartbeat=1\\(dry-run\\) reason=active:jobs$`));
            assert.deepStrictEqual(JSON.parse(readFileSync(state, "utf8")).running_jobs, [name]);
            assert.match(line, new RegExp(`^gpu-notebook-idle: dry-run: would call CloudWatch PutMetricData region=${REGION} ` +
                `namespace=${HEARTBEAT.namespace} metric=${HEARTBEAT.metricName} dimension=${HEARTBEAT.dimension}=${INSTANCE_ID} value=1$`, "m"));
            jobRunner(["stop", name, "--grace", "1"]);
            assert.strictEqual(listedJob(name).state, "stopped");
        });

        it("after the last job ends, the idle clock starts from its end: idle past the limit gives stop", async () => {
            const name = startJob("sleep 0.5");
            const ended = await jobEnd(name);
            // The machine had been idle for hours before the job ended (the kernel's last use, if
            // later, moves the clock too, but to well before the job's end).
            const state = stateSince(ended, 3 * 60);
            assert.match(await watch({ now: ended + 59 * MINUTE, state }), /verdict=keep idle=59m .*heartbeat=1\(dry-run\) reason=active:\S*jobs$/);
            assert.match(await watch({ now: ended + 61 * MINUTE, state }), /verdict=stop idle=61m .*heartbeat=0\(dry-run\) reason=idle_for_the_limit/);
        });

        it("--stop-when-done stops the machine a minute after the job ends, not before", async () => {
            const name = startJob("sleep 0.5", ["--stop-when-done"]);
            const ended = await jobEnd(name);
            const state = stateSince(ended, 10);
            const early = await watch({ now: ended + 50, state });
            assert.match(early, new RegExp(`verdict=keep idle=0m .*jobs=done\\(${name}\\) .*reason=active:\\S*jobs$`));
            assert.strictEqual(JSON.parse(readFileSync(state, "utf8")).minutes_left, 1);
            assert.match(await watch({ now: ended + 70, state }), new RegExp(`verdict=stop idle=1m .*reason=job_done:${name} action=dry-run`));
        });

        it("a --stop-when-done job that ended before this boot does not stop the machine again", async () => {
            const name = startJob("true", ["--stop-when-done"]);
            const ended = await jobEnd(name);
            // The machine stopped, and was started again later: /run is empty, the boot is after the job.
            const bootedAt = ended + 10 * MINUTE;
            const state = freshState();
            const args = ["--boot-time", String(bootedAt)];
            await watch({ now: bootedAt + MINUTE, state, args });
            const line = await watch({ now: bootedAt + 5 * MINUTE, state, args });
            assert.match(line, /verdict=keep idle=4m .*jobs=none .*reason=idle_under_the_limit/);
        });

        it("after a reboot, a job the machine stopped under is interrupted, not running, and no longer keeps it up", async () => {
            const name = startJob("sleep 300");
            const start = await startOfTest();
            assert.match(await watch({ now: start, state: freshState() }), new RegExp(`jobs=running\\(${name}\\)`));
            // Power off: the job and its supervisor die with the machine, and /run comes back empty.
            const runDir = path.join(root, INSTANCE_PATHS.jobsRunDir);
            const marker = readFileSync(path.join(runDir, `${name}.pid`), "utf8").split(" ")[0];
            const record = JSON.parse(readFileSync(path.join(root, "home/ubuntu/notebooks/jobs", name, "job.json"), "utf8"));
            for (const pid of [Number(marker), -record.pid]) {
                try { process.kill(pid, "SIGKILL"); } catch { /* gone already */ }
            }
            for (const entry of readdirSync(runDir)) {
                rmSync(path.join(runDir, entry), { force: true });
            }
            // At boot, the jobs unit runs the runner's boot command as the notebook user.
            const boot = execFileSync(jobsBootCommand[0], jobsBootCommand.slice(1), { encoding: "utf8", uid: nobody.uid, gid: nobody.gid, env: { PATH: "/usr/bin:/bin", HOME: path.join(root, "home/ubuntu") } });
            assert.match(boot, new RegExp(`job ${name}: interrupted, not restarted`));
            const state = freshState();
            const rebooted = start + 10 * MINUTE;
            const line = await watch({ now: rebooted, state, args: ["--boot-time", String(rebooted)] });
            assert.match(line, new RegExp(`verdict=keep idle=0m .*jobs=interrupted\\(${name}\\) .*heartbeat=0\\(dry-run\\) reason=idle_under_the_limit`));
            assert.deepStrictEqual(JSON.parse(readFileSync(state, "utf8")).running_jobs, []);
            assert.match(await watch({ now: rebooted + 61 * MINUTE, state, args: ["--boot-time", String(rebooted)] }), /verdict=stop idle=61m/);
        });
    });

    describe("the notebook user's CPU", () => {
        // Measured for a user running nothing but what the test starts (the real one also runs
        // Jupyter, whose answers to back-to-back test runs would blur the numbers).
        let daemon: { uid: number; gid: number };
        const asDaemon = ["--user", "daemon"];

        before(() => {
            daemon = { uid: Number(execFileSync("id", ["-u", "daemon"], { encoding: "utf8" })), gid: Number(execFileSync("id", ["-g", "daemon"], { encoding: "utf8" })) };
        });

        /** A process of the user, as a `nohup python train.py &` started by hand would be. */
        function userProcess(code: string): ChildProcess {
            const child = spawn(DEBIAN_PYTHON, ["-c", code], { uid: daemon.uid, gid: daemon.gid, stdio: "ignore" });
            started.push(child);
            return child;
        }

        /** Two runs of the watcher `seconds` apart, with the default CPU threshold unless `args` sets one. */
        async function measured(seconds: number, args: string[] = []): Promise<string[]> {
            const start = await startOfTest();
            const state = freshState();
            const first = await run({ now: start, state, args: ["--idle-minutes", "60", ...asDaemon, ...args] });
            await delay(seconds * 1000);
            return [first, await run({ now: start + 61 * MINUTE, state, args: ["--idle-minutes", "60", ...asDaemon, ...args] })];
        }

        it("a CPU-busy process of the user, with no job, kernel or SSH, keeps the machine up", async () => {
            const child = userProcess("while True: pass");
            try {
                const [first, later] = await measured(1.5);
                // The first run of a boot has nothing to compare with: not active on CPU alone.
                assert.match(first, /verdict=keep .* cpu=first_sample .*heartbeat=0\(dry-run\) reason=idle_under_the_limit$/);
                assert.match(later, /verdict=keep idle=0m .*jobs=none cpu=\d+%\(daemon\) .*ssh=none heartbeat=1\(dry-run\) reason=active:cpu$/);
                assert.ok(Number(/cpu=(\d+)%/.exec(later)?.[1]) > 10, later);
            } finally {
                child.kill("SIGKILL");
            }
        });

        it("a user whose processes only wait does not keep it up", async () => {
            const child = userProcess("import time; time.sleep(60)");
            try {
                const [, later] = await measured(1);
                assert.match(later, /verdict=stop idle=61m .*cpu=0%\(daemon\) .*reason=idle_for_the_limit action=dry-run$/);
            } finally {
                child.kill("SIGKILL");
            }
        });

        it("counts as busy only above --cpu-threshold", async () => {
            const child = userProcess("while True: pass");
            try {
                // One spinning process uses one core at most: 150% is out of its reach.
                const [, later] = await measured(1, ["--cpu-threshold", "150"]);
                assert.match(later, /verdict=stop .*cpu=\d+%\(daemon\) .*reason=idle_for_the_limit action=dry-run$/);
            } finally {
                child.kill("SIGKILL");
            }
        });
    });

    describe("the heartbeat", () => {
        it("in dry-run, prints the call it would make and sends nothing", async () => {
            published.length = 0;
            imdsSeen.length = 0;
            const line = await watch({ now: await startOfTest(), state: freshState(), args: ["--monitoring-url", cloudwatchUrl] });
            assert.match(line, new RegExp(`^gpu-notebook-idle: dry-run: would call CloudWatch PutMetricData region=${REGION} ` +
                `namespace=GpuNotebook metric=Active dimension=InstanceId=${INSTANCE_ID} value=0$`, "m"));
            assert.strictEqual(published.length, 0, "nothing reached CloudWatch");
            assert.ok(!imdsSeen.some((seen) => seen.includes("security-credentials")), "no credentials were even fetched");
        });

        it("publishes Active for this instance, signed with the instance role's credentials", async () => {
            published.length = 0;
            const start = await startOfTest();
            const line = await run({ now: start, state: freshState(), dryRun: false, args: ["--idle-minutes", "60", ...CPU_OUT_OF_REACH, "--monitoring-url", cloudwatchUrl] });
            assert.match(line, /verdict=keep .*heartbeat=0 reason=/);
            assert.strictEqual(published.length, 1);
            const [sent] = published;
            assert.deepStrictEqual(Object.fromEntries(new URLSearchParams(sent.body)), {
                Action: "PutMetricData",
                Version: "2010-08-01",
                Namespace: HEARTBEAT.namespace,
                "MetricData.member.1.MetricName": HEARTBEAT.metricName,
                "MetricData.member.1.Value": "0",
                "MetricData.member.1.Dimensions.member.1.Name": HEARTBEAT.dimension,
                "MetricData.member.1.Dimensions.member.1.Value": INSTANCE_ID,
            });
            assert.strictEqual(sent.headers["x-amz-security-token"], CREDENTIALS.Token);
            const authorization = String(sent.headers.authorization);
            assert.match(authorization, new RegExp(`^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.AccessKeyId}/\\d{8}/${REGION}/monitoring/aws4_request, ` +
                "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$"));
            assert.strictEqual(/Signature=(\w+)/.exec(authorization)?.[1], expectedSignature(sent, CREDENTIALS.SecretAccessKey));
        });

        it("signs as AWS's documented Signature Version 4 example does", () => {
            // docs.aws.amazon.com/general/latest/gr/sigv4-create-canonical-request.html: IAM ListUsers.
            const watcher = path.join(root, INSTANCE_PATHS.idleWatcher);
            const out = execFileSync(DEBIAN_PYTHON, ["-B", "-c", [
                "import importlib.util, sys",
                "spec = importlib.util.spec_from_file_location('watcher', sys.argv[1])",
                "watcher = importlib.util.module_from_spec(spec); spec.loader.exec_module(watcher)",
                "print(watcher.sign('GET', 'https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08', b'', 'us-east-1', 'iam',",
                "    {'AccessKeyId': 'AKIDEXAMPLE', 'SecretAccessKey': 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'}, '20150830T123600Z',",
                "    {'content-type': 'application/x-www-form-urlencoded; charset=utf-8'})['authorization'])",
            ].join("\n"), watcher], { encoding: "utf8" });
            assert.strictEqual(out.trim(), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, " +
                "SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
        });

        it("a failed publish is logged, and the watcher still decides and acts", async () => {
            cloudwatchStatus = 403;
            const log = path.join(root, "systemctl.log");
            rmSync(log, { force: true });
            try {
                const start = await startOfTest();
                const state = freshState();
                const args = ["--idle-minutes", "60", ...CPU_OUT_OF_REACH, "--monitoring-url", cloudwatchUrl];
                await run({ now: start, state, dryRun: false, args });
                const line = await run({ now: start + 61 * MINUTE, state, dryRun: false, args });
                assert.match(line, /verdict=stop .*heartbeat=0\(failed:Forbidden\) reason=idle_for_the_limit action=poweroff/);
                assert.strictEqual(readFileSync(log, "utf8"), "poweroff\n");
            } finally {
                cloudwatchStatus = 200;
            }
        });
    });

    describe("its limit and its action", () => {
        /** The watcher without --idle-minutes, as the unit runs it. */
        function watchWithTag(now: number, state: string): Promise<string> {
            assert.ok(!watcherCommand.includes("--idle-minutes"), "the unit does not fix the limit; the tag does");
            return run({ now, state, args: CPU_OUT_OF_REACH });
        }

        it("takes its limit from the instance tag through IMDSv2", async () => {
            tagValue = "15";
            imdsSeen.length = 0;
            const start = await startOfTest();
            const state = freshState();
            await watchWithTag(start, state);
            assert.match(await watchWithTag(start + 14 * MINUTE, state), /verdict=keep idle=14m limit=15m\(tag\)/);
            assert.match(await watchWithTag(start + 16 * MINUTE, state), /verdict=stop idle=16m limit=15m\(tag\)/);
            assert.ok(imdsSeen.includes("PUT /latest/api/token"));
            assert.ok(imdsSeen.includes(`GET /latest/meta-data/tags/instance/${IDLE_STOP_TAG}`));
        });

        it("never stops when the tag says 0", async () => {
            tagValue = "0";
            const start = await startOfTest();
            const state = freshState();
            await watchWithTag(start, state);
            assert.match(await watchWithTag(start + 1000 * MINUTE, state), /verdict=keep idle=1000m limit=0m\(tag\) .*reason=disabled/);
            assert.strictEqual(JSON.parse(readFileSync(state, "utf8")).minutes_left, null);
        });

        it("falls back to the last known limit when the tag cannot be read, and to the product default before that", async () => {
            tagValue = "20";
            const start = await startOfTest();
            const state = freshState();
            await watchWithTag(start, state);
            tagValue = undefined;
            const line = await watchWithTag(start + 21 * MINUTE, state);
            assert.match(line, /instance tag idleStopMinutes unreadable/);
            assert.match(line, /verdict=stop idle=21m limit=20m\(fallback\)/);
            assert.match(await watchWithTag(start, freshState()), /verdict=keep idle=0m limit=60m\(fallback\)/);
            tagValue = "15";
        });

        it("without --dry-run, powers off through systemctl only when the verdict is stop", async () => {
            const start = await startOfTest();
            const state = freshState();
            const log = path.join(root, "systemctl.log");
            rmSync(log, { force: true });
            const real = (now: number) => run({ now, state, dryRun: false, args: ["--idle-minutes", "60", ...CPU_OUT_OF_REACH, "--monitoring-url", cloudwatchUrl] });
            await real(start);
            await real(start + 30 * MINUTE);
            assert.throws(() => readFileSync(log), "no power-off while under the limit");
            assert.match(await real(start + 61 * MINUTE), /verdict=stop .*action=poweroff/);
            assert.strictEqual(readFileSync(log, "utf8"), "poweroff\n");
        });
    });
});
