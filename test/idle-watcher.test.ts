// The idle watcher as the instance runs it: its bytes and its command line are taken from the user
// data the program renders, and it watches a real Jupyter server (Debian's jupyter_server, HTTPS
// with the program's certificate, as an unprivileged user) with a real kernel, a fake nvidia-smi on
// PATH, real TCP connections for SSH sessions and a fake instance metadata service. Times are
// injected with --now, so "an hour later" takes milliseconds.
import * as assert from "assert";
import { execFile, execFileSync } from "child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { createServer, IncomingMessage, Server as HttpServer, ServerResponse } from "http";
import * as https from "https";
import { AddressInfo, createServer as createTcpServer, Server as TcpServer, Socket, connect } from "net";
import { tmpdir } from "os";
import * as path from "path";

import { INSTANCE_PATHS } from "../components/boot";
import { startJupyter, JupyterServer } from "./support/jupyter";
import { unwrap } from "../components/offline/run-program";
import { runShared, VALID_CONFIG } from "./support/program";
import { userDataOf, writtenFiles } from "./support/user-data";
import { DEBIAN_PYTHON, delay, requireCommands } from "./support/system";


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
    let fakeBin: string;
    let kernelId: string;
    let stateCounter = 0;

    /**
     * Runs the watcher's rendered command with test overrides (by default: --idle-minutes 60
     * --dry-run) and returns what it printed. Asynchronous, so servers in this process can answer it.
     */
    function run(options: { now: number; state: string; args?: string[]; gpu?: string; path?: string; dryRun?: boolean }): Promise<string> {
        writeFileSync(path.join(root, "gpu-load"), options.gpu ?? "0\n");
        const args = [
            ...watcherCommand.slice(1), "--state", options.state, "--now", String(options.now),
            ...(options.dryRun === false ? [] : ["--dry-run"]), ...(options.args ?? ["--idle-minutes", "60"]),
        ];
        return new Promise((resolve, reject) => execFile(watcherCommand[0], args, {
            encoding: "utf8",
            timeout: 30_000,
            env: { PATH: options.path ?? `${fakeBin}:/usr/bin:/bin`, FAKE_GPU_LOAD: path.join(root, "gpu-load") },
        }, (error, stdout, stderr) => (error ? reject(new Error(`watcher failed: ${error.message}\n${stderr}`)) : resolve(stdout.trim()))));
    }

    function watch(options: { now: number; state: string; args?: string[]; gpu?: string; path?: string }): Promise<string> {
        return run({ ...options, args: ["--idle-minutes", "60", ...(options.args ?? [])] });
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

    async function waitForKernelState(wanted: string[]): Promise<void> {
        for (let attempt = 0; attempt < 150; attempt++) {
            if (wanted.includes((await kernel()).execution_state)) {
                return;
            }
            await delay(100);
        }
        assert.fail(`kernel never reached ${wanted.join("/")}: ${JSON.stringify(await kernel())}`);
    }

    /**
     * Sends code to the kernel over its own channels, as a notebook cell would, and returns once
     * the kernel reports the wanted execution state.
     */
    function executeInKernel(code: string, until: "busy" | "idle"): void {
        const connectionFile = path.join(root, "home/ubuntu/.local/share/jupyter/runtime", `kernel-${kernelId}.json`);
        // wait_for_ready: until the kernel answers and the iopub subscription is live, messages can be missed.
        execFileSync(DEBIAN_PYTHON, ["-c", [
            "import sys, jupyter_client",
            "client = jupyter_client.BlockingKernelClient(connection_file=sys.argv[1])",
            "client.load_connection_file(); client.start_channels()",
            "client.wait_for_ready(timeout=20)",
            "client.execute(sys.argv[2])",
            "while client.get_iopub_msg(timeout=20)['content'].get('execution_state') != sys.argv[3]: pass",
            "client.stop_channels()",
        ].join("\n"), connectionFile, code, until], { timeout: 30_000 });
    }

    /** Epoch seconds a little after both the wall clock and the kernel's last activity. */
    async function startOfTest(): Promise<number> {
        const last = Date.parse((await kernel()).last_activity) / 1000;
        return Math.max(Date.now() / 1000, last) + 1;
    }

    before(async function () {
        requireCommands(this, DEBIAN_PYTHON, "python3-module:jupyter_server", "python3-module:ipykernel",
            "python3-module:jupyter_client", "ss", "openssl");
        root = mkdtempSync(path.join(tmpdir(), "gpu-notebook-idle-"));
        chmodSync(root, 0o755);
        const nobody = { uid: Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" })), gid: Number(execFileSync("id", ["-g", "nobody"], { encoding: "utf8" })) };

        // What the program hands the instance.
        const run = await runShared(VALID_CONFIG);
        certPem = await unwrap(run.outputs.notebookCertificatePem);
        const files = writtenFiles(userDataOf(run.cloud.one("aws:ec2/instance:Instance")));
        const file = (filePath: string) => {
            const found = files.find((entry) => entry.path === filePath);
            assert.ok(found, `user data writes ${filePath}`);
            return found.content;
        };
        const relocate = (text: string) => text
            .split("/etc/gpu-notebook").join(`${root}/etc/gpu-notebook`)
            .split("/usr/local/lib/gpu-notebook").join(`${root}/usr/local/lib/gpu-notebook`)
            .split("/run/gpu-notebook-idle").join(`${root}/run/gpu-notebook-idle`)
            .split("/home/ubuntu").join(`${root}/home/ubuntu`);
        for (const entry of files) {
            const target = path.join(root, entry.path);
            mkdirSync(path.dirname(target), { recursive: true });
            writeFileSync(target, relocate(entry.content), { mode: Number.parseInt(entry.permissions, 8) });
            if (entry.owner.startsWith("ubuntu:")) {
                chownSync(target, nobody.uid, nobody.gid);
            }
        }
        const home = path.join(root, "home/ubuntu");
        mkdirSync(path.join(home, "notebooks"), { recursive: true });
        execFileSync("chown", ["-R", `${nobody.uid}:${nobody.gid}`, home]);

        // The notebook unit's ExecStartPre makes the token, as root, for the notebook user.
        const prepare = unitCommand(relocate(file(INSTANCE_PATHS.serviceUnit)), "ExecStartPre")
            .map((word) => (word === "ubuntu" ? "nobody" : word));
        execFileSync(prepare[0], prepare.slice(1));
        const tokenFile = path.join(root, INSTANCE_PATHS.apiTokenFile);
        token = readFileSync(tokenFile, "utf8").trim();
        assert.match(token, /^[0-9a-f]{64}$/);
        assert.strictEqual(statSync(tokenFile).mode & 0o777, 0o600);
        assert.strictEqual(statSync(tokenFile).uid, nobody.uid);

        jupyter = await startJupyter({
            configFile: path.join(root, INSTANCE_PATHS.jupyterConfig),
            cwd: path.join(home, "notebooks"),
            home,
            uid: nobody.uid,
            gid: nobody.gid,
        });
        // The idle unit's command, pointed at this server's port.
        watcherCommand = unitCommand(relocate(file(INSTANCE_PATHS.idleService)), "ExecStart")
            .map((word) => word.replace("https://127.0.0.1:8888/", `${jupyter.baseUrl}/`));

        fakeBin = path.join(root, "fake-bin");
        mkdirSync(fakeBin);
        // nvidia-smi's answer to the watcher's query: one utilisation line per GPU, from a file.
        writeFileSync(path.join(fakeBin, "nvidia-smi"),
            "#!/bin/sh\n[ \"$*\" = \"--query-gpu=utilization.gpu --format=csv,noheader,nounits\" ] || exit 2\ncat \"$FAKE_GPU_LOAD\"\n",
            { mode: 0o755 });
        writeFileSync(path.join(fakeBin, "systemctl"), `#!/bin/sh\necho "$*" >> ${root}/systemctl.log\n`, { mode: 0o755 });

        const created = await api("POST", "/api/kernels");
        assert.strictEqual(created.status, 201, JSON.stringify(created.body));
        kernelId = created.body.id;
        // Let the new kernel finish starting, so later activity is only what a test causes.
        executeInKernel("1", "idle");
        await waitForKernelState(["idle"]);
        let last = "";
        for (let attempt = 0; attempt < 40 && last !== (await kernel()).last_activity; attempt++) {
            last = (await kernel()).last_activity;
            await delay(250);
        }
    });

    after(async () => {
        if (jupyter) {
            if (kernelId) {
                await api("DELETE", `/api/kernels/${kernelId}`).catch(() => undefined);
            }
            await jupyter.stop();
        }
        if (root) {
            rmSync(root, { recursive: true, force: true });
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
            assert.match(line, /verdict=stop idle=61m limit=60m\(option\) .*gpu=0% ssh=0 reason=idle_for_the_limit action=dry-run/);
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
    });

    describe("activity", () => {
        it("a busy kernel keeps the machine up past the limit", async () => {
            const start = await startOfTest();
            const state = freshState();
            await watch({ now: start, state });
            executeInKernel("import time; time.sleep(60)", "busy");
            await waitForKernelState(["busy"]);
            const line = await watch({ now: start + 61 * MINUTE, state });
            assert.match(line, /verdict=keep idle=0m .*jupyter=1_kernels,1_busy.* reason=active:jupyter/);
            await api("POST", `/api/kernels/${kernelId}/interrupt`);
            await waitForKernelState(["idle"]);
        });

        it("recent kernel activity keeps it up, and counts from that activity", async () => {
            const lastActivity = Math.ceil(Date.parse((await kernel()).last_activity) / 1000);
            const state = freshState();
            writeFileSync(state, JSON.stringify({ last_active: lastActivity - 120 * MINUTE, limit: 60 }));
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

        describe("SSH sessions", () => {
            let listener: TcpServer;
            let port: number;
            const accepted: Socket[] = [];

            before(async () => {
                // Stands in for sshd: the watcher counts established connections to the SSH port
                // (terminals, scp and tunnels alike), whatever speaks on it.
                listener = createTcpServer((socket) => { accepted.push(socket); });
                await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
                port = (listener.address() as AddressInfo).port;
            });

            after(async () => {
                accepted.forEach((socket) => socket.destroy());
                await new Promise((resolve) => listener.close(resolve));
            });

            it("an open SSH connection keeps it up; once closed, idle counts again", async () => {
                const start = await startOfTest();
                const state = freshState();
                const args = ["--ssh-port", String(port)];
                await watch({ now: start, state, args });
                const client = connect({ host: "127.0.0.1", port });
                await new Promise((resolve) => client.once("connect", resolve));
                try {
                    assert.match(await watch({ now: start + 61 * MINUTE, state, args }), /verdict=keep idle=0m .*ssh=1 reason=active:ssh/);
                } finally {
                    client.destroy();
                }
                for (let attempt = 0; attempt < 50 && accepted.some((socket) => !socket.destroyed); attempt++) {
                    await delay(20);
                }
                assert.match(await watch({ now: start + 122 * MINUTE, state, args }), /verdict=stop idle=61m .*ssh=0/);
            });

            it("connections to other ports are not SSH sessions", async () => {
                const other = connect({ host: "127.0.0.1", port: jupyter.port });
                await new Promise((resolve) => other.once("connect", resolve));
                try {
                    const line = await watch({ now: await startOfTest(), state: freshState(), args: ["--ssh-port", String(port)] });
                    assert.match(line, / ssh=0 /);
                } finally {
                    other.destroy();
                }
            });
        });
    });

    describe("its limit and its action", () => {
        let imds: HttpServer;
        let imdsUrl: string;
        /** The tag's value; undefined answers 404, as IMDS does when tags are not exposed. */
        let tagValue: string | undefined = "15";
        const seen: string[] = [];

        before(async () => {
            // IMDSv2 as on the instance: a PUT for a session token, then reads that must carry it.
            imds = createServer((request: IncomingMessage, response: ServerResponse) => {
                seen.push(`${request.method} ${request.url}`);
                if (request.method === "PUT" && request.url === "/latest/api/token" &&
                    request.headers["x-aws-ec2-metadata-token-ttl-seconds"]) {
                    response.end("imds-session-token");
                } else if (request.method === "GET" && request.url === "/latest/meta-data/tags/instance/idleStopMinutes" &&
                    request.headers["x-aws-ec2-metadata-token"] === "imds-session-token") {
                    response.statusCode = tagValue === undefined ? 404 : 200;
                    response.end(tagValue ?? "");
                } else {
                    response.statusCode = 401;
                    response.end();
                }
            });
            await new Promise<void>((resolve) => imds.listen(0, "127.0.0.1", resolve));
            imdsUrl = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
        });

        after(async () => {
            await new Promise((resolve) => imds.close(resolve));
        });

        /** The watcher without --idle-minutes, as the unit runs it. */
        function watchWithTag(now: number, state: string): Promise<string> {
            assert.ok(!watcherCommand.includes("--idle-minutes"), "the unit does not fix the limit; the tag does");
            return run({ now, state, args: ["--imds-url", imdsUrl] });
        }

        it("takes its limit from the instance tag through IMDSv2", async () => {
            tagValue = "15";
            const start = await startOfTest();
            const state = freshState();
            await watchWithTag(start, state);
            assert.match(await watchWithTag(start + 14 * MINUTE, state), /verdict=keep idle=14m limit=15m\(tag\)/);
            assert.match(await watchWithTag(start + 16 * MINUTE, state), /verdict=stop idle=16m limit=15m\(tag\)/);
            assert.ok(seen.includes("PUT /latest/api/token"));
        });

        it("never stops when the tag says 0", async () => {
            tagValue = "0";
            const start = await startOfTest();
            const state = freshState();
            await watchWithTag(start, state);
            assert.match(await watchWithTag(start + 1000 * MINUTE, state), /verdict=keep idle=1000m limit=0m\(tag\) .*reason=disabled/);
        });

        it("falls back to the last known limit when the tag cannot be read", async () => {
            tagValue = "20";
            const start = await startOfTest();
            const state = freshState();
            await watchWithTag(start, state);
            tagValue = undefined;
            const line = await watchWithTag(start + 21 * MINUTE, state);
            assert.match(line, /instance tag idleStopMinutes unreadable/);
            assert.match(line, /verdict=stop idle=21m limit=20m\(fallback\)/);
        });

        it("without --dry-run, powers off through systemctl only when the verdict is stop", async () => {
            const start = await startOfTest();
            const state = freshState();
            const log = path.join(root, "systemctl.log");
            rmSync(log, { force: true });
            const real = (now: number) => run({ now, state, dryRun: false, args: ["--idle-minutes", "60"] });
            await real(start);
            await real(start + 30 * MINUTE);
            assert.throws(() => readFileSync(log), "no power-off while under the limit");
            assert.match(await real(start + 61 * MINUTE), /verdict=stop .*action=poweroff/);
            assert.strictEqual(readFileSync(log, "utf8"), "poweroff\n");
        });
    });
});
