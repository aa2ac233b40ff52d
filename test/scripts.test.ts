// The user scripts for real: the program runs under mocks (real keys, a real certificate), then
// Debian's sshd serves its host key and authorises its login key, local HTTPS servers present its
// certificate (or another one), and scripts/ssh, copy, tunnel and notebook must verify exactly
// those. Every server listens on 127.0.0.1 on a free port and is stopped after the suite.
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as http from "http";
import { tmpdir, userInfo } from "os";
import * as path from "path";

import { ecdsaP256Material, ed25519Material, selfSignedCertificate } from "../components/offline/key-material";
import { unwrap } from "../components/offline/run-program";
import { FakePulumi } from "./support/fake-pulumi";
import { machineKeys } from "./support/fleet";
import { runProgram, VALID_CONFIG } from "./support/program";
import { freePort, requireCommands, waitForPort } from "./support/system";
import {
    HttpsFixture, httpsGet, ROOT, RunningScript, runScript, ScriptResult, SCRIPTS, Sshd, SSHD, startHttps, startSshd, stopProcess,
} from "./support/scripts";

const STACK = "test";


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
        requireCommands(this, SSHD, "ssh", "scp", "rsync", "curl", "openssl");
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-scripts-"));
        home = path.join(dir, "home");
        mkdirSync(home, { mode: 0o700 });

        // Unexposed, on a free port: notebookUrl is then https://127.0.0.1:<port>/, served below.
        const notebookPort = await freePort();
        const run = await runProgram({ ...VALID_CONFIG, exposeNotebook: "false", notebookPort: String(notebookPort) });
        for (const [name, output] of Object.entries(run.outputs)) {
            outputs[name] = String(await unwrap(output as pulumi.Output<unknown>));
        }
        outputsFile = outputsWith("outputs", {});
        const machine = machineKeys(run);
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
            assert.strictEqual(existsSync(marker), false, "the command did not run on the impostor");
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
        it("forwards a local port to the notebook and prints a URL that verifies with the notebook's certificate", async () => {
            const localPort = await freePort();
            const script = new RunningScript("tunnel", ["--port", String(localPort)], envFor(), 30_000);
            try {
                const url = `https://127.0.0.1:${localPort}/`;
                await script.waitFor(url, 20_000);
                assert.strictEqual(await httpsGet(`${url}api`, outputs.notebookCertificatePem), '{"server":"the notebook"}');
            } finally {
                script.terminate();
            }
            // Had its ssh outlived it, the output would stay open until the watchdog killed the group.
            const result = await script.exited;
            assert.strictEqual(result.status, 0, result.stderr);
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
                assert.match(result.stderr, /REFUSED: .* presented a certificate that is not this notebook's/);
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
            assert.ok(result.ms < 20_000, `gave up after ${result.ms} ms`);
        });
    });
});

describe("scripts/allow-my-ip (fake Pulumi CLI, address service on 127.0.0.1)", function () {
    this.timeout(30_000);
    let dir = "";
    let ipService: http.Server | undefined;
    let pulumiCli: FakePulumi;
    let env: NodeJS.ProcessEnv = {};
    const MY_IP = "192.0.2.44";

    /** Runs allow-my-ip on a stack with `config`; returns what it printed, with the CLI's record. */
    function allowMyIp(config: Record<string, unknown>, args: string[] = []): Promise<ScriptResult> {
        pulumiCli.setConfig(config);
        return runScript("allow-my-ip", args, env);
    }

    async function allowMyIpOk(config: Record<string, unknown>, args: string[] = []): Promise<ScriptResult> {
        const result = await allowMyIp(config, args);
        assert.strictEqual(result.status, 0, result.stderr);
        return result;
    }

    before(async function () {
        requireCommands(this, "curl");
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-allow-"));
        pulumiCli = new FakePulumi(dir);
        ipService = http.createServer((_request, response) => response.end(`${MY_IP}\n`));
        await new Promise<void>((resolve) => ipService?.listen(0, "127.0.0.1", resolve));
        const port = (ipService.address() as { port: number }).port;
        env = {
            ...process.env,
            PATH: pulumiCli.path(),
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

    it("appends the current address to an allowedCidrs list with one config change", async () => {
        const result = await allowMyIpOk({ allowedCidrs: ["198.51.100.7/32"] });
        assert.deepStrictEqual(pulumiCli.configChanges(), [["config", "set", "--path", "allowedCidrs[1]", `${MY_IP}/32`]]);
        assert.ok(pulumiCli.calls().some((call) => call.join(" ") === `stack select --create ${STACK}`), "works on the chosen stack");
        assert.match(result.stdout, /npm run up/);
    });

    it("changes nothing when the address is already allowed", async () => {
        const result = await allowMyIpOk({ allowedCidrs: ["10.0.0.0/8", `${MY_IP}/32`] });
        assert.deepStrictEqual(pulumiCli.configChanges(), []);
        assert.match(result.stdout, /already allowed/);
    });

    it("with --replace, makes the current address the only allowed network", async () => {
        await allowMyIpOk({ allowedCidrs: ["198.51.100.7/32", "10.0.0.0/8"] }, ["--replace"]);
        assert.deepStrictEqual(pulumiCli.configChanges(), [
            ["config", "rm", "--path", "allowedCidrs"],
            ["config", "set", "--path", "allowedCidrs[0]", `${MY_IP}/32`],
        ]);
    });

    it("starts a list when allowedCidrs is unset", async () => {
        await allowMyIpOk({});
        assert.deepStrictEqual(pulumiCli.configChanges(), [["config", "set", "--path", "allowedCidrs[0]", `${MY_IP}/32`]]);
    });

    it("rewrites a comma-separated string as a list, keeping its networks", async () => {
        await allowMyIpOk({ allowedCidrs: "198.51.100.7/32, 10.0.0.0/8" });
        assert.deepStrictEqual(pulumiCli.configChanges(), [
            ["config", "rm", "--path", "allowedCidrs"],
            ["config", "set", "--path", "allowedCidrs[0]", "198.51.100.7/32"],
            ["config", "set", "--path", "allowedCidrs[1]", "10.0.0.0/8"],
            ["config", "set", "--path", "allowedCidrs[2]", `${MY_IP}/32`],
        ]);
    });

    describe("in a stack with notebooks", () => {
        const CLASS = { allowedCidrs: ["10.0.0.0/8"], notebooks: { alice: { allowedCidrs: ["198.51.100.7/32"] }, bob: {} } };

        it("with --notebook, appends to that notebook's own list only", async () => {
            await allowMyIpOk(CLASS, ["--notebook", "alice"]);
            assert.deepStrictEqual(pulumiCli.configChanges(),
                [["config", "set", "--path", "notebooks.alice.allowedCidrs[1]", `${MY_IP}/32`]]);
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
            assert.match(result.stderr, /stack test has 2 notebooks \(alice, bob\); choose one with --notebook NAME/);
            assert.deepStrictEqual(pulumiCli.configChanges(), []);
        });

        it("refuses a name the stack does not have, listing the ones it has", async () => {
            const result = await allowMyIp(CLASS, ["--notebook", "carol"]);
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stderr, /--notebook carol: stack test has no notebook carol; its notebooks: alice, bob/);
            assert.deepStrictEqual(pulumiCli.configChanges(), []);
        });
    });

    it("refuses --notebook on a stack with a single notebook, changing nothing", async () => {
        const result = await allowMyIp({ allowedCidrs: ["10.0.0.0/8"] }, ["--notebook", "alice"]);
        assert.strictEqual(result.status, 1, result.stdout);
        assert.match(result.stderr, /--notebook alice: stack test has a single notebook .*run without --notebook/);
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
