// The user scripts on a stack with config `notebooks` (a fleet), for real: two notebooks made by
// real program runs (test/support/fleet.ts), each machine stood in for by Debian's sshd with
// that notebook's host key and login key, alice's notebook by an HTTPS server with her
// certificate. --notebook must pick the right machine, keys and files; handout must write a
// folder that logs in on its own; notebooks, stop and start read the stack config through a
// stand-in Pulumi CLI. Every server listens on 127.0.0.1 on a free port and is stopped after.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir, userInfo } from "os";
import * as path from "path";

import { idleActivity } from "../components/contract";
import { buildFleet, Fleet } from "./support/fleet";
import {
    closeSharedConnections, HttpsFixture, runScript as runIn, ScriptResult, Sshd, SSHD, startHttps, startSshd, stopProcess,
} from "./support/scripts";
import { StandInStack } from "./support/stand-ins";
import { freePort, requireCommands } from "./support/system";

const STACK = "test";

describe("scripts/ on a stack with notebooks, against real servers on 127.0.0.1", function () {
    this.timeout(60_000);
    let dir = "";
    let home = "";
    let fleet: Fleet;
    let fleetFile = "";
    let singleFile = "";
    let pulumiCli: StandInStack;
    const sshd: Record<string, Sshd> = {};
    let aliceNotebook: HttpsFixture | undefined;
    let baseEnv: NodeJS.ProcessEnv = {};
    // The stack config behind the fleet, as the stand-in CLI keeps it: as deployed.
    let stackConfig: Record<string, unknown> = {};

    /** The environment a script runs with: the fleet's outputs, SSH to `machine`'s sshd. */
    function envFor(machine: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
        return { ...baseEnv, GPU_NOTEBOOK_SSH_PORT: String(sshd[machine]?.port), ...overrides };
    }

    /** Runs a script of the stand-in stack's project, which the stand-in CLI keeps the config of. */
    function runScript(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<ScriptResult> {
        return runIn(name, args, env, 30_000, pulumiCli.project);
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
        // Deployed so: alice set to stop, bob with an idle stop of his own.
        const entries = {
            alice: { exposeNotebook: "false", notebookPort: String(alicePort), running: "false" },
            bob: { instanceType: "g5.xlarge", idleStopMinutes: "30" },
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
        pulumiCli = new StandInStack(dir, STACK);

        baseEnv = { ...process.env };
        for (const name of ["INIT_CWD", "DISPLAY", "WAYLAND_DISPLAY", "GPU_NOTEBOOK_NAME"]) {
            delete baseEnv[name];
        }
        Object.assign(baseEnv, {
            HOME: home,
            ...pulumiCli.env(),
            GPU_NOTEBOOK_STACK: STACK,
            GPU_NOTEBOOK_OUTPUTS_FILE: fleetFile,
            GPU_NOTEBOOK_SSH_HOST: "127.0.0.1",
            GPU_NOTEBOOK_SSH_USER: userInfo().username,
        });
    });

    beforeEach(() => pulumiCli?.setConfig(stackConfig));

    after(async () => {
        // A shared connection left open would keep its sshd session, and the suite's process, alive for 10 minutes.
        closeSharedConnections(home);
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
            assertRefused(result, /stack test has 2 notebooks deployed \(alice, bob\); choose one with --notebook NAME or GPU_NOTEBOOK_NAME=NAME/);
            assert.strictEqual(existsSync(path.join(dir, "empty-home")), false);
        });

        it("refuses a name the stack does not have, listing the ones it has", async () => {
            const result = await runScript("ssh", ["--notebook", "carol", "true"], envFor("alice"));
            assertRefused(result, /--notebook carol: stack test has no notebook carol deployed; its deployed notebooks: alice, bob/);
        });

        it("names GPU_NOTEBOOK_NAME when that is where a wrong name came from", async () => {
            const result = await runScript("tunnel", [], envFor("alice", { GPU_NOTEBOOK_NAME: "Alice" }));
            assertRefused(result, /GPU_NOTEBOOK_NAME Alice: stack test has no notebook Alice deployed; its deployed notebooks: alice, bob/);
        });

        it("refuses --notebook on a stack with a single notebook", async () => {
            const result = await runScript("ssh", ["--notebook", "alice", "true"], envFor("alice", { GPU_NOTEBOOK_OUTPUTS_FILE: singleFile }));
            assertRefused(result, /--notebook alice: stack test has one notebook deployed, which has no name \(its outputs have no notebooks\), so there is none to choose; run without --notebook/);
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

    describe("handout", () => {
        const pem = (name: string) => String(fleet.single[name].notebookCertificatePem);
        const secretsOf = (name: string) => (fleet.outputs.notebookSecrets as Record<string, Record<string, string>>)[name];

        /**
         * ssh with nothing but the handout's config to the sshd standing in for `machine`, run in the
         * handout's folder, or in `cwd` naming the config by its full path.
         */
        function sshFromHandout(folder: string, machine: string, command: string, cwd = folder) {
            return spawnSync("ssh", ["-F", cwd === folder ? "ssh_config" : path.join(folder, "ssh_config"), "-o", "HostName=127.0.0.1",
                "-p", String(sshd[machine].port), "-l", userInfo().username, `gpu-notebook-${STACK}-alice`, command], {
                cwd, encoding: "utf8", timeout: 30_000, env: { ...baseEnv, HOME: path.join(dir, "student-home") },
            });
        }

        // One handout for alice, which the first two tests read.
        let written: ScriptResult;
        let folder = "";
        before(async () => {
            const out = path.join(dir, "handouts-one");
            folder = path.join(out, `${STACK}-alice`);
            pulumiCli.setConfig(stackConfig);
            written = await runScript("handout", ["--notebook", "alice", "--out", out], envFor("alice"));
        });

        it("writes a private folder with the URL, password, certificate and fingerprint, key, known_hosts and ssh config", () => {
            const result = written;
            assert.strictEqual(result.status, 0, result.stderr);
            const mode = (file: string) => statSync(path.join(folder, file)).mode & 0o777;
            const read = (file: string) => readFileSync(path.join(folder, file), "utf8");
            assert.strictEqual(mode("."), 0o700);
            assert.deepStrictEqual(readdirSync(folder).sort(), ["README.txt", "certificate-sha256.txt", "known_hosts",
                "notebook.crt", "password.txt", "ssh-key.pem", "ssh_config", "url.txt"]);
            assert.strictEqual(read("password.txt").trim(), secretsOf("alice").notebookPassword);
            assert.strictEqual(read("ssh-key.pem").trim(), secretsOf("alice").sshPrivateKey.trim());
            assert.strictEqual(mode("password.txt"), 0o600);
            assert.strictEqual(mode("ssh-key.pem"), 0o600);
            assert.strictEqual(read("url.txt").trim(), fleet.single.alice.notebookUrl);
            assert.strictEqual(read("notebook.crt"), pem("alice"));
            const fingerprint = new X509Certificate(pem("alice")).fingerprint256;
            assert.strictEqual(read("certificate-sha256.txt").trim(), fingerprint);
            assert.strictEqual(read("known_hosts").trim(), fleet.single.alice.sshKnownHosts);
            const readme = read("README.txt");
            assert.ok(readme.includes(fingerprint), "the README shows the fingerprint to compare");
            assert.ok(readme.includes(`ssh -F ssh_config gpu-notebook-${STACK}-alice`));
            // alice's notebook is reached through SSH only: the README says how.
            assert.ok(readme.includes(`-L 127.0.0.1:${aliceNotebook?.port}:127.0.0.1:${aliceNotebook?.port}`), readme);
            assert.match(readme, /switches itself off after 60 minutes without activity/);
            assert.ok(readme.replace(/\s+/g, " ").includes(`without activity, which is: ${idleActivity()}.`), `every activity the watcher counts:\n${readme}`);
            assert.ok(!readme.includes(secretsOf("alice").notebookPassword), "the password is in password.txt only");
            assert.match(result.stdout, new RegExp(`wrote ${folder} for alice\\. It holds secrets \\(password\\.txt and ssh-key\\.pem`));
        });

        it("its ssh config logs in from any folder, and refuses the machine once its known_hosts entry is gone", async () => {
            const out = path.join(dir, "handouts-anywhere");
            const handout = path.join(out, `${STACK}-alice`);
            const result = await runScript("handout", ["--notebook", "alice", "--out", out], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr);
            const elsewhere = path.join(dir, "somewhere-else");
            mkdirSync(elsewhere, { recursive: true });
            const login = sshFromHandout(handout, "alice", "echo from-anywhere", elsewhere);
            assert.strictEqual(login.status, 0, login.stderr + sshd.alice.log());
            assert.strictEqual(login.stdout, "from-anywhere\n");
            // A config that trusted a first-seen key (accept-new) would log in here, and write it down.
            writeFileSync(path.join(handout, "known_hosts"), "");
            const marker = path.join(dir, "ran-without-a-pinned-key");
            const unpinned = sshFromHandout(handout, "alice", `touch ${marker}`, elsewhere);
            assert.strictEqual(unpinned.status, 255, unpinned.stdout);
            assert.match(unpinned.stderr, /Host key verification failed/);
            assert.strictEqual(existsSync(marker), false);
            assert.strictEqual(readFileSync(path.join(handout, "known_hosts"), "utf8"), "", "nothing was added to known_hosts");
        });

        it("its ssh config logs in from the folder, even moved elsewhere, and refuses a machine with another host key", () => {
            assert.strictEqual(written.status, 0, written.stderr);
            const moved = path.join(dir, "unzipped-by-alice");
            renameSync(folder, moved);
            const login = sshFromHandout(moved, "alice", "echo from-the-handout");
            assert.strictEqual(login.status, 0, login.stderr + sshd.alice.log());
            assert.strictEqual(login.stdout, "from-the-handout\n");
            const marker = path.join(dir, "impostor-ran-the-handout-command");
            const impostor = sshFromHandout(moved, "bob", `touch ${marker}`);
            assert.strictEqual(impostor.status, 255);
            assert.match(impostor.stderr, /Host key verification failed/);
            assert.strictEqual(existsSync(marker), false);
        });

        it("leaves a folder that is not empty alone unless --force", async () => {
            const out = path.join(dir, "handouts-again");
            const folder = path.join(out, `${STACK}-bob`);
            mkdirSync(folder, { recursive: true });
            writeFileSync(path.join(folder, "password.txt"), "given out last week");
            const refused = await runScript("handout", ["--notebook", "bob", "--out", out], envFor("bob"));
            assertRefused(refused, /is not empty; it may be an earlier handout already given out\. Choose another --out, or rewrite its files with --force/);
            assert.strictEqual(readFileSync(path.join(folder, "password.txt"), "utf8"), "given out last week");
            const forced = await runScript("handout", ["--notebook", "bob", "--out", out, "--force"], envFor("bob"));
            assert.strictEqual(forced.status, 0, forced.stderr);
            assert.strictEqual(readFileSync(path.join(folder, "password.txt"), "utf8").trim(), secretsOf("bob").notebookPassword);
        });

        it("--all writes one folder per notebook, each with its own idle stop", async () => {
            const out = path.join(dir, "handouts-all");
            const result = await runScript("handout", ["--all", "--out", out], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.deepStrictEqual(readdirSync(out).sort(), [`${STACK}-alice`, `${STACK}-bob`]);
            const bobReadme = readFileSync(path.join(out, `${STACK}-bob`, "README.txt"), "utf8");
            assert.match(bobReadme, /switches itself off after 30 minutes without activity/);
            assert.ok(bobReadme.includes(String(fleet.single.bob.notebookUrl)));
            assert.ok(bobReadme.includes("npm run start -- --notebook bob"));
        });

        it("without --notebook or --all, refuses and lists the notebooks, writing nothing", async () => {
            const out = path.join(dir, "handouts-none");
            const result = await runScript("handout", ["--out", out], envFor("alice"));
            assertRefused(result, /stack test has 2 notebooks deployed \(alice, bob\)/);
            assert.strictEqual(existsSync(out), false);
        });
    });

    describe("notebooks", () => {
        it("lists each notebook's type, state from the stack config, price and URL, and what they cost together", async () => {
            const result = await runScript("notebooks", [], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr);
            const lines = result.stdout.split("\n");
            const row = (name: string) => lines.find((line) => line.startsWith(`${name} `))?.split(/\s{2,}/);
            assert.deepStrictEqual(row("alice"), ["alice", "g4dn.xlarge", "stopped", "$0.526", String(fleet.single.alice.notebookUrl)]);
            assert.deepStrictEqual(row("bob"), ["bob", "g5.xlarge", "running", "$1.006", String(fleet.single.bob.notebookUrl)]);
            assert.match(result.stdout, /Together: \$1\.532 per hour while all run; \$1\.006 per hour for the 1 running\./);
        });

        it("says which notebooks of the config are not deployed yet", async () => {
            pulumiCli.setConfig({ ...stackConfig, notebooks: { ...(stackConfig.notebooks as object), carol: {} } });
            const result = await runScript("notebooks", [], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /In the config, not deployed yet: carol\. npm run up creates them\./);
        });

        it("lists the one notebook of a stack without notebooks, by the running setting deployed", async () => {
            pulumiCli.setConfig({ allowedCidrs: ["198.51.100.7/32"], running: "false" });
            const result = await runScript("notebooks", [], envFor("alice", { GPU_NOTEBOOK_OUTPUTS_FILE: singleFile }));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /one notebook deployed, without a name \(the scripts need no --notebook\)/);
            assert.match(result.stdout, /^-\s+g4dn\.xlarge\s+stopped\s+\$0\.526\s+https:\/\/127\.0\.0\.1:/m);
        });
    });

    describe("a stack of one notebook deployed, with a class new in its config", () => {
        const CLASS = { allowedCidrs: ["198.51.100.7/32"], notebooks: { alice: {}, bob: {}, carol: { instanceType: "g5.xlarge" } } };
        beforeEach(() => pulumiCli.setConfig(CLASS));

        it("notebooks says one notebook is deployed and the class is not yet, without contradicting itself", async () => {
            const result = await runScript("notebooks", [], envFor("alice", { GPU_NOTEBOOK_OUTPUTS_FILE: singleFile }));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /^Stack test: one notebook deployed, without a name/m);
            assert.match(result.stdout, /In the config, not deployed yet: alice, bob, carol\. npm run up creates them in place of the notebook without a name/);
            assert.doesNotMatch(result.stdout, /config has no notebooks/);
        });

        it("handout --notebook carol says carol is not deployed, not that the config has no notebooks", async () => {
            const out = path.join(dir, "handouts-carol");
            const result = await runScript("handout", ["--notebook", "carol", "--out", out], envFor("alice", { GPU_NOTEBOOK_OUTPUTS_FILE: singleFile }));
            assertRefused(result, /--notebook carol: stack test has one notebook deployed, which has no name .*a notebook added to the config is deployed by npm run up/);
            assert.doesNotMatch(result.stderr, /config has no notebooks/);
            assert.strictEqual(existsSync(out), false);
        });

        it("stop --notebook carol sets carol's running in the config, which has her", async () => {
            const result = await runScript("power", ["stop", "--notebook", "carol"], envFor("alice"));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.deepStrictEqual((pulumiCli.config()["gpu-notebook:notebooks"] as Record<string, unknown>).carol,
                { instanceType: "g5.xlarge", running: false });
        });
    });
});
