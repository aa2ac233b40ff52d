// The user scripts for real: the program runs under mocks (real keys, a real certificate), then
// Debian's sshd serves its host key and authorises its login key, local HTTPS servers present its
// certificate (or another one), and scripts/ssh, copy, tunnel and notebook must verify exactly
// those. Every server listens on 127.0.0.1 on a free port and is stopped after the suite.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as net from "net";
import * as http from "http";
import { tmpdir, userInfo } from "os";
import * as path from "path";

import { ecdsaP256Material, ed25519Material, selfSignedCertificate } from "../components/offline/key-material";
import { notebookDirOf } from "../components/boot";
import { deployUnderMocks } from "./support/machine";
import { VALID_CONFIG } from "./support/program";
import { StandInStack } from "./support/stand-ins";
import { eventually } from "./support/jobs";
import { freePort, requireCommands, waitForPort } from "./support/system";
import {
    closeSharedConnections, HttpsFixture, httpsGet, ROOT, RunningScript, runScript, ScriptResult, SCRIPTS, Sshd, SSHD, startHttps, startSshd,
    stopProcess,
} from "./support/scripts";

const STACK = "test";
/** curl's own words, which npm run notebook puts in its own (curl 7.88 and 8.x). */
const CURL_ADVICE = /web page mentioned above|Couldn't connect to server|SSL connection timeout|Operation timed out|curl: \(/;
/** The hint ssh, copy and notebook end with when the machine does not answer. */
const UNREACHABLE_HINT = /npm run start(.|\n)*npm run allow-my-ip(.|\n)*first boot/;

/** Whether something accepts connections on 127.0.0.1:port right now. */
function portOpen(port: number): Promise<boolean> {
    return waitForPort(port, 0).then(() => true, () => false);
}

/**
 * Waits (at most 10 s) for the port to close. The script exits a moment before the ssh it started
 * lets go of its listening socket on a loaded machine; a forward kept by a shared connection would
 * stay open for its 10 minutes.
 */
function portCloses(port: number, what: string): Promise<void> {
    return eventually(async () => !(await portOpen(port)), () => what, 10_000);
}


describe("scripts/ against real servers on 127.0.0.1", function () {
    this.timeout(60_000);
    let dir = "";
    let home = "";
    let outputs: Record<string, string> = {};
    let outputsFile = "";
    let genuine: Sshd | undefined;
    let impostor: Sshd | undefined;
    let notebook: HttpsFixture | undefined;
    let baseEnv: NodeJS.ProcessEnv = {};

    /** The environment a test runs a script with: outputs from the file, SSH to the genuine sshd. */
    function envFor(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
        return { ...baseEnv, GPU_NOTEBOOK_SSH_PORT: String(genuine?.port), ...overrides };
    }

    /** Another outputs file: the program's outputs with some values replaced. */
    function outputsWith(name: string, changes: Record<string, string>): string {
        const file = path.join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify({ ...outputs, ...changes }), { mode: 0o600 });
        return file;
    }

    before(async function () {
        requireCommands(this, SSHD, "ssh", "scp", "rsync", "curl", "openssl", "ss");
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-scripts-"));
        home = path.join(dir, "home");
        mkdirSync(home, { mode: 0o700 });

        // Unexposed, on a free port: notebookUrl is then https://127.0.0.1:<port>/, served below.
        const notebookPort = await freePort();
        const machine = await deployUnderMocks({ ...VALID_CONFIG, exposeNotebook: "false", notebookPort: String(notebookPort) });
        outputs = machine.outputs;
        outputsFile = outputsWith("outputs", {});
        genuine = await startSshd(path.join(dir, "sshd"), machine.hostPrivateKey, machine.loginPublicKey);
        impostor = await startSshd(path.join(dir, "impostor-sshd"), ed25519Material().privateKeyOpenssh, machine.loginPublicKey);
        notebook = await startHttps(machine.tlsPrivateKey, outputs.notebookCertificatePem, '{"server":"the notebook"}', notebookPort);

        baseEnv = { ...process.env };
        // npm's INIT_CWD would move scripts/copy; a display would let scripts/notebook open a browser;
        // a notebook name is refused by a stack with one notebook.
        for (const name of ["INIT_CWD", "DISPLAY", "WAYLAND_DISPLAY", "GPU_NOTEBOOK_NAME"]) {
            delete baseEnv[name];
        }
        Object.assign(baseEnv, {
            HOME: home,
            GPU_NOTEBOOK_STACK: STACK,
            GPU_NOTEBOOK_OUTPUTS_FILE: outputsFile,
            GPU_NOTEBOOK_SSH_HOST: "127.0.0.1",
            GPU_NOTEBOOK_SSH_USER: userInfo().username,
        });
    });

    after(async () => {
        closeSharedConnections(home);
        await Promise.all([stopProcess(genuine?.process), stopProcess(impostor?.process)]);
        await new Promise<void>((resolve) => (notebook ? notebook.server.close(() => resolve()) : resolve()));
        if (dir) {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("ssh", () => {
        it("runs a remote command on the machine presenting the pinned host key, with no prompt", async () => {
            const result = await runScript("ssh", ["echo", "pinned-and-verified"], envFor());
            assert.strictEqual(result.status, 0, result.stderr + genuine?.log());
            assert.strictEqual(result.stdout, "pinned-and-verified\n");
            assert.ok(!/continue connecting|password/i.test(result.stderr), result.stderr);
        });

        it("writes the login key 0600 and the known_hosts line to per-stack files", async () => {
            await runScript("ssh", ["true"], envFor());
            const keyFile = path.join(home, ".ssh", `gpu-notebook-${STACK}.pem`);
            assert.strictEqual(readFileSync(keyFile, "utf8").trim(), outputs.sshPrivateKey.trim());
            assert.strictEqual(statSync(keyFile).mode & 0o777, 0o600);
            assert.strictEqual(readFileSync(path.join(home, ".ssh", `gpu-notebook-${STACK}.known_hosts`), "utf8"),
                outputs.sshKnownHosts + "\n");
        });

        it("refuses a machine presenting a different host key, and runs nothing there", async () => {
            const marker = path.join(dir, "impostor-ran-the-command");
            const result = await runScript("ssh", ["touch", marker], envFor({ GPU_NOTEBOOK_SSH_PORT: String(impostor?.port) }));
            assert.strictEqual(result.status, 255, result.stdout);
            assert.match(result.stderr, /Host key verification failed/);
            assert.doesNotMatch(result.stderr, /could not be reached/, "a machine that answered is not called unreachable");
            assert.strictEqual(existsSync(marker), false, "the command did not run on the impostor");
        });

        it("ends with what to do when the machine cannot be reached: start it, allow your address, or wait for the first boot", async () => {
            const result = await runScript("ssh", ["true"], envFor({ GPU_NOTEBOOK_SSH_PORT: String(await freePort()) }));
            assert.strictEqual(result.status, 255);
            assert.match(result.stderr, /Connection refused\r?\n(.|\n)*the machine could not be reached/);
            assert.match(result.stderr, UNREACHABLE_HINT);
        });

        it("connects with a timeout of at most 10 s, so a stopped machine is reported while you wait", async () => {
            await runScript("ssh", ["true"], envFor());
            const config = readFileSync(path.join(home, ".ssh", `gpu-notebook-${STACK}.ssh_config`), "utf8");
            const seconds = Number(/^\s*ConnectTimeout (\d+)$/m.exec(config)?.[1]);
            assert.ok(seconds >= 1 && seconds <= 10, `ConnectTimeout ${seconds}`);
        });

        it("passes options through to ssh, such as -L", async () => {
            const localPort = await freePort();
            const forward = `127.0.0.1:${localPort}:127.0.0.1:${notebook?.port}`;
            const script = new RunningScript("ssh", ["-L", forward, "-N"], envFor(), 30_000);
            try {
                await waitForPort(localPort, 15_000);
                assert.strictEqual(await httpsGet(`https://127.0.0.1:${localPort}/api`, outputs.notebookCertificatePem),
                    '{"server":"the notebook"}');
            } finally {
                script.stop();
                await script.exited;
            }
            // A forward made through the shared connection would outlive the command.
            await portCloses(localPort, "the forward did not end with the command");
        });
    });

    describe("code and ssh-config: an editor's way in", () => {
        const userConfig = () => path.join(home, ".ssh", "config");
        const MINE = "Host mine\n    HostName 192.0.2.1\n";
        /** A `code` first on PATH that records how it was called. */
        function withCode(): { env: NodeJS.ProcessEnv; calls: () => string } {
            const bin = path.join(dir, "code-bin");
            mkdirSync(bin, { recursive: true });
            const log = path.join(dir, "code-calls");
            rmSync(log, { force: true });
            writeFileSync(path.join(bin, "code"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n`, { mode: 0o755 });
            return { env: envFor({ PATH: `${bin}:${process.env.PATH}` }), calls: () => (existsSync(log) ? readFileSync(log, "utf8") : "") };
        }

        it("ssh-config prints a Host entry with the pinned host key that ssh logs in with", async () => {
            const printed = await runScript("ssh-config", [], envFor());
            assert.strictEqual(printed.status, 0, printed.stderr);
            assert.match(printed.stdout, new RegExp(`^Host gpu-notebook-${STACK}$`, "m"));
            assert.match(printed.stdout, /StrictHostKeyChecking yes/);
            const entry = path.join(dir, "entry.ssh_config");
            writeFileSync(entry, printed.stdout);
            const login = spawnSync("ssh", ["-F", entry, `gpu-notebook-${STACK}`, "echo", "through-the-entry"], { encoding: "utf8", timeout: 30_000 });
            assert.strictEqual(login.stdout, "through-the-entry\n", login.stderr);
        });

        it("code adds nothing to ~/.ssh/config without a yes, and says how", async () => {
            rmSync(userConfig(), { force: true });
            const { env, calls } = withCode();
            const refused = await runScript("code", [], env);
            assert.strictEqual(refused.status, 1);
            assert.match(refused.stderr, /npm run code -- --yes/);
            assert.ok(!existsSync(userConfig()));
            assert.strictEqual(calls(), "");
        });

        it("code --yes adds the Include once, at the top in a marked block, opens ~/notebooks, and --remove-include restores the file", async () => {
            writeFileSync(userConfig(), MINE, { mode: 0o600 });
            const { env, calls } = withCode();
            for (let run = 0; run < 2; run++) {
                const opened = await runScript("code", ["--yes"], env);
                assert.strictEqual(opened.status, 0, opened.stderr);
            }
            const config = readFileSync(userConfig(), "utf8");
            assert.strictEqual(config.match(/^Include /gm)?.length, 1, config);
            assert.match(config, /^# >>> gpu-notebook[^\n]*\nInclude "[^"]+\/\.ssh\/gpu-notebook-\*\.ssh_config"\n# <<< gpu-notebook <<<\n\nHost mine\n/);
            assert.strictEqual(statSync(userConfig()).mode & 0o777, 0o600);
            const remoteDir = notebookDirOf(outputs.sshUser);
            assert.strictEqual(calls(), `--folder-uri vscode-remote://ssh-remote+gpu-notebook-${STACK}${remoteDir}\n`.repeat(2));
            // The entry VS Code finds through ~/.ssh/config logs in with the pinned host key.
            const login = spawnSync("ssh", ["-F", userConfig(), `gpu-notebook-${STACK}`, "echo", "through-the-include"], { encoding: "utf8", timeout: 30_000 });
            assert.strictEqual(login.stdout, "through-the-include\n", login.stderr);
            const removed = await runScript("code", ["--remove-include"], env);
            assert.strictEqual(removed.status, 0, removed.stderr);
            assert.strictEqual(readFileSync(userConfig(), "utf8"), MINE);
        });

        it("code without VS Code's code command prints the vscode:// link and what to install", async () => {
            const result = await runScript("code", ["--yes"], envFor({ PATH: "/usr/bin:/bin" }));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.ok(result.stdout.includes(`vscode://vscode-remote/ssh-remote+gpu-notebook-${STACK}${notebookDirOf(outputs.sshUser)}`), result.stdout);
            assert.match(result.stdout, /Remote - SSH/);
        });
    });

    describe("copy", () => {
        for (const tool of ["rsync", "scp"]) {
            it(`round-trips a file byte for byte through the machine (${tool})`, async () => {
                const flags = tool === "scp" ? ["--scp"] : [];
                const original = path.join(dir, `original-${tool}.bin`);
                const remote = path.join(dir, `on-the-machine-${tool}`);
                const back = path.join(dir, `back-${tool}.bin`);
                mkdirSync(remote);
                writeFileSync(original, randomBytes(300 * 1024));
                const up = await runScript("copy", [...flags, original, `:${remote}/`], envFor());
                assert.strictEqual(up.status, 0, up.stderr);
                const down = await runScript("copy", [...flags, `:${remote}/${path.basename(original)}`, back], envFor());
                assert.strictEqual(down.status, 0, down.stderr);
                assert.ok(readFileSync(back).equals(readFileSync(original)), "the copy is byte-identical");
            });
        }

        it("takes local paths relative to the folder npm was run in (INIT_CWD)", async () => {
            const here = path.join(dir, "where-npm-ran");
            const remote = path.join(dir, "on-the-machine-relative");
            mkdirSync(here);
            mkdirSync(remote);
            writeFileSync(path.join(here, "notes.txt"), "relative to INIT_CWD");
            const result = await runScript("copy", ["notes.txt", `:${remote}/`], envFor({ INIT_CWD: here }));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.strictEqual(readFileSync(path.join(remote, "notes.txt"), "utf8"), "relative to INIT_CWD");
        });

        for (const tool of ["rsync", "scp"]) {
            it(`ends with the same hint when the machine cannot be reached (${tool})`, async () => {
                const result = await runScript("copy", [...(tool === "scp" ? ["--scp"] : []), path.join(dir, "a"), ":notebooks/"],
                    envFor({ GPU_NOTEBOOK_SSH_PORT: String(await freePort()) }));
                assert.notStrictEqual(result.status, 0);
                assert.match(result.stderr, /Connection refused/);
                assert.match(result.stderr, UNREACHABLE_HINT);
            });
        }

        it("refuses when no path names the machine's side", async () => {
            const result = await runScript("copy", [path.join(dir, "a"), path.join(dir, "b")], envFor());
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, /write the machine's side as :PATH/);
        });

        it("refuses a machine presenting a different host key", async () => {
            const original = path.join(dir, "not-for-impostors.txt");
            writeFileSync(original, "secret work");
            const result = await runScript("copy", [original, `:${dir}/impostor-copy.txt`],
                envFor({ GPU_NOTEBOOK_SSH_PORT: String(impostor?.port) }));
            assert.notStrictEqual(result.status, 0);
            assert.match(result.stderr, /Host key verification failed/);
            assert.strictEqual(existsSync(path.join(dir, "impostor-copy.txt")), false);
        });
    });

    describe("tunnel", () => {
        it("forwards a local port to the notebook and prints a URL that verifies with the notebook's certificate", async function () {
            // Every wait here is bounded, none tuned to an idle machine: the script's watchdog
            // (SIGKILL, which would show as no exit status) fires well after the opening and the
            // request could take on a loaded one.
            this.timeout(180_000);
            const localPort = await freePort();
            const script = new RunningScript("tunnel", ["--port", String(localPort)], envFor(), 150_000);
            try {
                const url = `https://127.0.0.1:${localPort}/`;
                await script.waitFor(url, 90_000);
                assert.strictEqual(await httpsGet(`${url}api`, outputs.notebookCertificatePem), '{"server":"the notebook"}');
                // Only this computer reaches the notebook through it: no other address listens on the port.
                const listening = spawnSync("ss", ["-Hltn", `sport = :${localPort}`], { encoding: "utf8" });
                assert.strictEqual(listening.status, 0, listening.stderr);
                assert.deepStrictEqual(listening.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/)[3]), [`127.0.0.1:${localPort}`]);
            } finally {
                script.terminate();
            }
            // Had its ssh outlived it, the output would stay open until the watchdog killed the group.
            const result = await script.exited;
            assert.strictEqual(result.status, 0, `exit status ${result.status} after ${result.ms} ms: ${result.stderr}`);
            await portCloses(localPort, "the forward did not end with the tunnel");
        });

        it("says so when the local port is taken", async () => {
            const result = await runScript("tunnel", ["--port", String(notebook?.port)], envFor());
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, new RegExp(`port ${notebook?.port} is already in use here`));
        });
    });

    describe("notebook", () => {
        it("prints the URL and password and waits for the notebook, verifying its certificate", async () => {
            const result = await runScript("notebook", ["--no-browser", "--timeout", "20"], envFor());
            assert.strictEqual(result.status, 0, result.stderr);
            assert.ok(result.stdout.includes(`Notebook: ${outputs.notebookUrl}`), result.stdout);
            assert.ok(result.stdout.includes(`Password: ${outputs.notebookPassword}`));
            assert.match(result.stdout, /The notebook answered after \d+ s\./);
        });

        it("refuses a server presenting another certificate, at once and without sending anything", async () => {
            const other = ecdsaP256Material();
            const otherCert = selfSignedCertificate({
                privateKeyPem: other.privateKeyPem, commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"],
                dnsNames: ["localhost"], validityPeriodHours: 24,
            });
            const impostorServer = await startHttps(other.privateKeyPem, otherCert, '{"server":"an impostor"}');
            try {
                const file = outputsWith("impostor-notebook", { notebookUrl: `https://127.0.0.1:${impostorServer.port}/` });
                const result = await runScript("notebook", ["--no-browser", "--timeout", "30"],
                    envFor({ GPU_NOTEBOOK_OUTPUTS_FILE: file }));
                assert.strictEqual(result.status, 3, result.stdout + result.stderr);
                assert.match(result.stderr, /REFUSED, certificate mismatch: .* presented a certificate that is not this notebook's/);
                // curl's own line about the certificate is kept as the detail; its advice is not.
                assert.match(result.stderr, /was not sent\. \(curl: \(60\) SSL certificate problem: [^\n]+\)\n$/);
                assert.doesNotMatch(result.stderr, /web page mentioned above/);
                assert.ok(result.ms < 20_000, `refused after ${result.ms} ms, not at the end of the wait`);
                assert.strictEqual(impostorServer.requests, 0, "no HTTP request reached the impostor");
            } finally {
                await new Promise((resolve) => impostorServer.server.close(resolve));
            }
        });

        it("opens the SSH tunnel itself when the notebook is not exposed and none is open", async () => {
            const localPort = await freePort();
            const script = new RunningScript("notebook", ["--no-browser", "--timeout", "20", "--port", String(localPort)], envFor(), 30_000);
            try {
                await script.waitFor("The tunnel stays open until Ctrl-C.", 25_000);
                assert.ok(script.stdout.includes(`Notebook: https://127.0.0.1:${localPort}/`), script.stdout);
                assert.match(script.stdout, /opening the tunnel/);
                assert.strictEqual(await httpsGet(`https://127.0.0.1:${localPort}/api`, outputs.notebookCertificatePem),
                    '{"server":"the notebook"}');
            } finally {
                script.terminate();
            }
            assert.strictEqual((await script.exited).status, 0, "the script and its tunnel ended");
        });

        it("gives up after --timeout when the notebook does not answer, saying why", async () => {
            const closedPort = await freePort();
            const file = outputsWith("silent-notebook", { notebookUrl: `https://127.0.0.1:${closedPort}/` });
            // Through the tunnel to a port nothing listens on: connections open and die at once.
            const result = await runScript("notebook", ["--no-browser", "--timeout", "1", "--port", String(await freePort())],
                envFor({ GPU_NOTEBOOK_OUTPUTS_FILE: file }));
            assert.strictEqual(result.status, 1, result.stdout + result.stderr);
            // How many seconds the first attempt took depends on the machine's load.
            assert.match(result.stderr, /^Waiting for the notebook: \d+ s \(/m);
            assert.match(result.stderr, /the notebook did not answer within 1 s/);
            assert.match(result.stderr, UNREACHABLE_HINT);
            assert.ok(result.ms < 20_000, `gave up after ${result.ms} ms`);
        });

        it("with --timeout 5, gives up after about 5 s even when each attempt hangs", async () => {
            // Accepts connections and never answers: a curl attempt lasts until its own time limit.
            const held: net.Socket[] = [];
            const silent = net.createServer((socket) => { held.push(socket); });
            await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
            try {
                const file = outputsWith("hanging-notebook", { notebookUrl: `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/` });
                const result = await runScript("notebook", ["--no-browser", "--timeout", "5"], envFor({ GPU_NOTEBOOK_OUTPUTS_FILE: file }));
                assert.strictEqual(result.status, 1, result.stdout + result.stderr);
                assert.match(result.stderr, new RegExp(`the notebook did not answer within 5 s \\(timed out: no answer from https://127\\.0\\.0\\.1:\\d+/\\)`));
                assert.doesNotMatch(result.stderr, CURL_ADVICE);
                // The script starts (reading outputs, writing the certificate) before the wait counts.
                assert.ok(result.ms >= 4_000 && result.ms < 8_000, `gave up after ${result.ms} ms`);
            } finally {
                held.forEach((socket) => socket.destroy());
                await new Promise((resolve) => silent.close(resolve));
            }
        });

        it("says the connection was refused when nothing listens at the notebook's address, in its own words", async () => {
            const file = outputsWith("refusing-notebook", { notebookUrl: `https://${outputs.publicIp}:8888/` });
            const result = await runScript("notebook", ["--no-browser", "--timeout", "2"], envFor({
                GPU_NOTEBOOK_OUTPUTS_FILE: file, GPU_NOTEBOOK_HTTPS_HOST: "127.0.0.1", GPU_NOTEBOOK_HTTPS_PORT: String(await freePort()),
            }));
            assert.strictEqual(result.status, 1, result.stdout + result.stderr);
            const reason = `connection refused: nothing accepts connections at https://${outputs.publicIp}:8888/ yet`;
            assert.match(result.stderr, /^Waiting for the notebook: \d+ s \(connection refused: /m);
            assert.ok(result.stderr.includes(`the notebook did not answer within 2 s (${reason}).`), result.stderr);
            assert.doesNotMatch(result.stderr, CURL_ADVICE);
            assert.match(result.stderr, UNREACHABLE_HINT);
            assert.ok(result.ms < 15_000, `gave up after ${result.ms} ms`);
        });

        it("checks an exposed notebook's certificate for its public address (reached through the test-only redirect)", async () => {
            const file = outputsWith("exposed-notebook", { notebookUrl: `https://${outputs.publicIp}:8888/` });
            const result = await runScript("notebook", ["--no-browser", "--timeout", "20"], envFor({
                GPU_NOTEBOOK_OUTPUTS_FILE: file, GPU_NOTEBOOK_HTTPS_HOST: "127.0.0.1", GPU_NOTEBOOK_HTTPS_PORT: String(notebook?.port),
            }));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.ok(result.stdout.includes(`Notebook: https://${outputs.publicIp}:8888/`), result.stdout);
            assert.match(result.stdout, /The notebook answered after \d+ s\./);
        });
    });
});

describe("scripts/lib/connect.sh: which failures get the unreachable hint", () => {
    /** Runs a stand-in for ssh that prints `message` and exits with `status`, through run_reaching_machine. */
    function failWith(message: string, status = 255) {
        const script = '. scripts/lib/common.sh && . scripts/lib/connect.sh && run_reaching_machine sh -c \'echo "$1" >&2; exit "$2"\' _ "$@"';
        return spawnSync("bash", ["-c", script, "_", message, String(status)], { cwd: ROOT, encoding: "utf8" });
    }

    // OpenSSH's words on Linux and macOS, as ssh, scp and rsync pass them on.
    const unreachable = [
        "ssh: connect to host 203.0.113.5 port 22: Connection timed out",
        "ssh: connect to host 203.0.113.5 port 22: Operation timed out",
        "ssh: connect to host 203.0.113.5 port 22: Connection refused",
        "ssh: connect to host 203.0.113.5 port 22: No route to host",
        "ssh: connect to host 203.0.113.5 port 22: Network is unreachable",
        "ssh: Could not resolve hostname notebook.example: Name or service not known",
        "Connection timed out during banner exchange",
        "kex_exchange_identification: read: Connection reset by peer",
    ];
    for (const message of unreachable) {
        it(`"${message}" ends with the hint, and the status is kept`, () => {
            const result = failWith(message);
            assert.strictEqual(result.status, 255);
            assert.ok(result.stderr.startsWith(`${message}\n`), result.stderr);
            assert.match(result.stderr, UNREACHABLE_HINT);
        });
    }

    it("a machine that answered (wrong host key, refused login) or a command that failed gets no hint", () => {
        for (const [message, status] of [["Host key verification failed.", 255], ["ubuntu@203.0.113.5: Permission denied (publickey).", 255],
            ["ssh: connect to host 203.0.113.5 port 22: Connection refused", 0], ["python: can't open file 'train.py'", 2]] as const) {
            const result = failWith(message, status);
            assert.strictEqual(result.status, status);
            assert.doesNotMatch(result.stderr, /could not be reached/, message);
        }
    });
});

describe("scripts/allow-my-ip in a stack of several notebooks (stand-in Pulumi CLI, address service on 127.0.0.1)", function () {
    this.timeout(30_000);
    let dir = "";
    let ipService: http.Server | undefined;
    let pulumiCli: StandInStack;
    let env: NodeJS.ProcessEnv = {};
    const MY_IP = "192.0.2.44";

    /** Runs allow-my-ip on a stack with `config`; returns what it printed, with the CLI's record. */
    function allowMyIp(config: Record<string, unknown>, args: string[] = []): Promise<ScriptResult> {
        pulumiCli.setConfig(config);
        return runScript("allow-my-ip", args, env, 30_000, pulumiCli.project);
    }

    async function allowMyIpOk(config: Record<string, unknown>, args: string[] = []): Promise<ScriptResult> {
        const result = await allowMyIp(config, args);
        assert.strictEqual(result.status, 0, result.stderr);
        return result;
    }

    before(async function () {
        requireCommands(this, "curl");
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-allow-"));
        pulumiCli = new StandInStack(dir, STACK);
        ipService = http.createServer((_request, response) => response.end(`${MY_IP}\n`));
        await new Promise<void>((resolve) => ipService?.listen(0, "127.0.0.1", resolve));
        const port = (ipService.address() as { port: number }).port;
        env = {
            ...process.env,
            ...pulumiCli.env(),
            GPU_NOTEBOOK_IP_URL: `http://127.0.0.1:${port}/`,
            GPU_NOTEBOOK_STACK: STACK,
        };
        delete env.GPU_NOTEBOOK_NAME;
    });

    after(async () => {
        await new Promise<void>((resolve) => (ipService ? ipService.close(() => resolve()) : resolve()));
        if (dir) {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("in a stack with notebooks", () => {
        const CLASS = { allowedCidrs: ["10.0.0.0/8"], notebooks: { alice: { allowedCidrs: ["198.51.100.7/32"] }, bob: {} } };

        it("with --notebook, appends to that notebook's own list only", async () => {
            await allowMyIpOk(CLASS, ["--notebook", "alice"]);
            assert.deepStrictEqual(pulumiCli.configChanges(),
                [["config", "set", "--path", "notebooks.alice.allowedCidrs[1]", `${MY_IP}/32`]]);
            assert.deepStrictEqual(pulumiCli.config()["gpu-notebook:notebooks"],
                { alice: { allowedCidrs: ["198.51.100.7/32", `${MY_IP}/32`] }, bob: {} });
        });

        it("gives a notebook without its own list one that starts from the top-level networks it inherited, and says so", async () => {
            const result = await allowMyIpOk(CLASS, ["--notebook", "bob"]);
            assert.deepStrictEqual(pulumiCli.configChanges(), [
                ["config", "set", "--path", "notebooks.bob.allowedCidrs[0]", "10.0.0.0/8"],
                ["config", "set", "--path", "notebooks.bob.allowedCidrs[1]", `${MY_IP}/32`],
            ]);
            assert.match(result.stdout, /bob had no allowedCidrs of its own and used the top-level ones \(10\.0\.0\.0\/8\)/);
            assert.match(result.stdout, /later changes to the top-level allowedCidrs no longer reach it/);
        });

        it("changes nothing when the inherited networks already allow the address", async () => {
            const result = await allowMyIpOk({ ...CLASS, allowedCidrs: [`${MY_IP}/32`] }, ["--notebook", "bob"]);
            assert.deepStrictEqual(pulumiCli.configChanges(), []);
            assert.match(result.stdout, /already allowed to reach bob/);
        });

        it("refuses to guess the notebook, listing them, and changes nothing", async () => {
            const result = await allowMyIp(CLASS);
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stderr, /the config of stack test has 2 notebooks \(alice, bob\); choose one with --notebook NAME/);
            assert.deepStrictEqual(pulumiCli.configChanges(), []);
        });

        it("refuses a name the stack does not have, listing the ones it has", async () => {
            const result = await allowMyIp(CLASS, ["--notebook", "carol"]);
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stderr, /--notebook carol: the config of stack test has no notebook carol; its notebooks: alice, bob/);
            assert.deepStrictEqual(pulumiCli.configChanges(), []);
        });
    });

    it("refuses a list of networks the deploy would refuse, naming the key, instead of adding to it", async () => {
        const result = await allowMyIp({ allowedCidrs: ["10.0.0.0/8", 5] });
        assert.strictEqual(result.status, 1, result.stdout);
        assert.match(result.stderr, /gpu-notebook:allowedCidrs = .* is not accepted: a list of strings/);
        assert.deepStrictEqual(pulumiCli.configChanges(), []);
    });

    it("refuses --notebook on a stack with a single notebook, changing nothing", async () => {
        const result = await allowMyIp({ allowedCidrs: ["10.0.0.0/8"] }, ["--notebook", "alice"]);
        assert.strictEqual(result.status, 1, result.stdout);
        assert.match(result.stderr, /--notebook alice: the config of stack test names no notebooks .*run without --notebook/);
        assert.deepStrictEqual(pulumiCli.configChanges(), []);
    });
});

describe("scripts/ as files", () => {
    // Shell scripts by their first line, so a script in another language can sit beside them.
    const isShell = (file: string) => /^#!\/(usr\/)?bin\/(env )?bash\b|^# shellcheck shell=bash\b/.test(readFileSync(file, "utf8"));
    const scripts = readdirSync(SCRIPTS)
        .filter((name) => statSync(path.join(SCRIPTS, name)).isFile() && isShell(path.join(SCRIPTS, name)));

    it("each has an npm script and answers --help without touching a stack", () => {
        const npmScripts = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
        for (const name of scripts) {
            // Most run as `npm run <name>`; power serves two (`npm run stop`, `npm run start`).
            const runners = Object.keys(npmScripts).filter((key) => new RegExp(`scripts/${name}( |$)`).test(npmScripts[key]));
            assert.ok(runners.length > 0, `an npm script runs scripts/${name}`);
            const result = spawnSync("bash", [path.join(SCRIPTS, name), "--help"], {
                encoding: "utf8", timeout: 10_000, env: { ...process.env, PATH: "/usr/bin:/bin", GPU_NOTEBOOK_OUTPUTS_FILE: "/nonexistent" },
            });
            assert.strictEqual(result.status, 0, `${name} --help: ${result.stderr}`);
            assert.doesNotMatch(result.stdout, /^set -/m, `${name} --help prints its header, not its code`);
            for (const runner of runners) {
                assert.match(result.stdout, new RegExp(`npm run ${runner}\\b`), `${name} --help says how to run it (npm run ${runner})`);
            }
        }
    });
});
