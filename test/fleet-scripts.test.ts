// The user scripts on a stack with config `notebooks` (a fleet), for real: two notebooks made by
// real program runs (test/support/fleet.ts), each machine stood in for by Debian's sshd with
// that notebook's host key and login key, alice's notebook by an HTTPS server with her
// certificate. --notebook must pick the right machine, keys and files; handout must write a
// folder that logs in on its own; notebooks, stop and start read the stack config through a
// stand-in Pulumi CLI. Every server listens on 127.0.0.1 on a free port and is stopped after.
import * as assert from "assert";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir, userInfo } from "os";
import * as path from "path";

import { FakePulumi } from "./support/fake-pulumi";
import { buildFleet, Fleet } from "./support/fleet";
import { HttpsFixture, runScript, ScriptResult, Sshd, SSHD, startHttps, startSshd, stopProcess } from "./support/scripts";
import { freePort, requireCommands } from "./support/system";

const STACK = "test";

describe("scripts/ on a stack with notebooks, against real servers on 127.0.0.1", function () {
    this.timeout(60_000);
    let dir = "";
    let home = "";
    let fleet: Fleet;
    let fleetFile = "";
    let singleFile = "";
    let pulumiCli: FakePulumi;
    const sshd: Record<string, Sshd> = {};
    let aliceNotebook: HttpsFixture | undefined;
    let baseEnv: NodeJS.ProcessEnv = {};
    // The stack config behind the fleet, as the stand-in CLI reports it: alice is set to stop.
    let stackConfig: Record<string, unknown> = {};

    /** The environment a script runs with: the fleet's outputs, SSH to `machine`'s sshd. */
    function envFor(machine: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
        return { ...baseEnv, GPU_NOTEBOOK_SSH_PORT: String(sshd[machine]?.port), ...overrides };
    }

    function sshFile(suffix: string): string {
        return path.join(home, ".ssh", `gpu-notebook-${STACK}${suffix}`);
    }

    function assertRefused(result: ScriptResult, message: RegExp): void {
        assert.strictEqual(result.status, 1, result.stdout + result.stderr);
        assert.match(result.stderr, message);
    }

    before(async function () {
        requireCommands(this, SSHD, "ssh", "scp", "curl");
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-fleet-"));
        home = path.join(dir, "home");
        mkdirSync(home, { mode: 0o700 });
        // alice: SSH only (her URL is https://127.0.0.1:<port>/, served below); bob: a bigger GPU.
        const alicePort = await freePort();
        const entries = {
            alice: { exposeNotebook: "false", notebookPort: String(alicePort) },
            bob: { instanceType: "g5.xlarge" },
        };
        fleet = await buildFleet(entries);
        fleetFile = path.join(dir, "fleet.json");
        writeFileSync(fleetFile, JSON.stringify(fleet.outputs), { mode: 0o600 });
        singleFile = path.join(dir, "single.json");
        writeFileSync(singleFile, JSON.stringify(fleet.single.alice), { mode: 0o600 });
        stackConfig = {
            allowedCidrs: ["198.51.100.7/32"],
            notebooks: { alice: { ...entries.alice, running: false }, bob: { ...entries.bob, idleStopMinutes: 30 } },
        };

        for (const [name, machine] of Object.entries(fleet.machines)) {
            sshd[name] = await startSshd(path.join(dir, `sshd-${name}`), machine.hostPrivateKey, machine.loginPublicKey);
        }
        aliceNotebook = await startHttps(fleet.machines.alice.tlsPrivateKey, String(fleet.single.alice.notebookCertificatePem),
            '{"server":"alice\'s notebook"}', alicePort);
        pulumiCli = new FakePulumi(dir);

        baseEnv = { ...process.env };
        for (const name of ["INIT_CWD", "DISPLAY", "WAYLAND_DISPLAY", "GPU_NOTEBOOK_NAME"]) {
            delete baseEnv[name];
        }
        Object.assign(baseEnv, {
            HOME: home,
            PATH: pulumiCli.path(),
            GPU_NOTEBOOK_STACK: STACK,
            GPU_NOTEBOOK_OUTPUTS_FILE: fleetFile,
            GPU_NOTEBOOK_SSH_HOST: "127.0.0.1",
            GPU_NOTEBOOK_SSH_USER: userInfo().username,
        });
    });

    beforeEach(() => pulumiCli?.setConfig(stackConfig));

    after(async () => {
        await Promise.all(Object.values(sshd).map((server) => stopProcess(server.process)));
        await new Promise<void>((resolve) => (aliceNotebook ? aliceNotebook.server.close(() => resolve()) : resolve()));
        if (dir) {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("choosing the notebook", () => {
        it("ssh --notebook alice logs in to alice's machine with her key, writing her own files", async () => {
            const result = await runScript("ssh", ["--notebook", "alice", "echo", "reached"], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr + sshd.alice.log());
            assert.strictEqual(result.stdout, "reached\n");
            const secrets = (fleet.outputs.notebookSecrets as Record<string, Record<string, string>>).alice;
            assert.strictEqual(readFileSync(sshFile("-alice.pem"), "utf8").trim(), secrets.sshPrivateKey.trim());
            assert.strictEqual(statSync(sshFile("-alice.pem")).mode & 0o777, 0o600);
            assert.strictEqual(readFileSync(sshFile("-alice.known_hosts"), "utf8"), `${fleet.single.alice.sshKnownHosts}\n`);
            assert.match(readFileSync(sshFile("-alice.ssh_config"), "utf8"), new RegExp(`^Host gpu-notebook-${STACK}-alice$`, "m"));
            assert.strictEqual(existsSync(sshFile(".pem")), false, "no single-notebook files");
        });

        it("refuses bob's machine for alice (another host key) and runs nothing there", async () => {
            const marker = path.join(dir, "bob-ran-alices-command");
            const result = await runScript("ssh", ["--notebook", "alice", "touch", marker], envFor("bob"));
            assert.strictEqual(result.status, 255, result.stdout);
            assert.match(result.stderr, /Host key verification failed/);
            assert.strictEqual(existsSync(marker), false);
        });

        it("takes the notebook from GPU_NOTEBOOK_NAME, and only a leading --notebook: a later one goes to ssh", async () => {
            const result = await runScript("ssh", ["echo", "--notebook", "alice"], envFor("bob", { GPU_NOTEBOOK_NAME: "bob" }));
            assert.strictEqual(result.status, 0, result.stderr + sshd.bob.log());
            assert.strictEqual(result.stdout, "--notebook alice\n", "bob's machine ran the command, --notebook alice and all");
            assert.ok(existsSync(sshFile("-bob.pem")));
        });

        it("without a name, refuses and lists the notebooks, before anything is written", async () => {
            const result = await runScript("ssh", ["true"], envFor("alice", { HOME: path.join(dir, "empty-home") }));
            assertRefused(result, /stack test has 2 notebooks \(alice, bob\); choose one with --notebook NAME or GPU_NOTEBOOK_NAME=NAME/);
            assert.strictEqual(existsSync(path.join(dir, "empty-home")), false);
        });

        it("refuses a name the stack does not have, listing the ones it has", async () => {
            const result = await runScript("ssh", ["--notebook", "carol", "true"], envFor("alice"));
            assertRefused(result, /--notebook carol: stack test has no notebook carol; its notebooks: alice, bob/);
        });

        it("names GPU_NOTEBOOK_NAME when that is where a wrong name came from", async () => {
            const result = await runScript("tunnel", [], envFor("alice", { GPU_NOTEBOOK_NAME: "Alice" }));
            assertRefused(result, /GPU_NOTEBOOK_NAME Alice: stack test has no notebook Alice; its notebooks: alice, bob/);
        });

        it("refuses --notebook on a stack with a single notebook", async () => {
            const result = await runScript("ssh", ["--notebook", "alice", "true"], envFor("alice", { GPU_NOTEBOOK_OUTPUTS_FILE: singleFile }));
            assertRefused(result, /--notebook alice: stack test has a single notebook \(its config has no notebooks\), so there is none to choose; run without --notebook/);
        });

        it("copy --scp --notebook bob copies through bob's machine", async () => {
            const original = path.join(dir, "for-bob.txt");
            const remote = path.join(dir, "on-bobs-machine");
            mkdirSync(remote);
            writeFileSync(original, "bob's data");
            const result = await runScript("copy", ["--scp", "--notebook", "bob", original, `:${remote}/`], envFor("bob"));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.strictEqual(readFileSync(path.join(remote, "for-bob.txt"), "utf8"), "bob's data");
        });

        it("notebook --notebook alice prints her URL and password and verifies her certificate", async () => {
            const result = await runScript("notebook", ["--notebook", "alice", "--no-browser", "--timeout", "20"], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr);
            const secrets = (fleet.outputs.notebookSecrets as Record<string, Record<string, string>>).alice;
            assert.ok(result.stdout.includes(`Notebook: ${fleet.single.alice.notebookUrl}`), result.stdout);
            assert.ok(result.stdout.includes(`Password: ${secrets.notebookPassword}`));
            assert.strictEqual(readFileSync(sshFile("-alice.crt"), "utf8"), fleet.single.alice.notebookCertificatePem);
            assert.ok(aliceNotebook !== undefined && aliceNotebook.requests > 0, "the request reached alice's notebook");
        });
    });
});
