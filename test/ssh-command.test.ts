// The sshCommand output, pasted as a user would right after `pulumi up`: into bash and zsh, with a
// fresh home (no ~/.ssh), the recording stand-in `pulumi` holding the deployed outputs, and
// Debian's sshd on 127.0.0.1 presenting the program's host key. The only test-only part is an
// `ssh` first on PATH that dials 127.0.0.1 and logs in as the local user: the host key is still
// looked up under the public address (HostKeyAlias), so it is verified exactly as in real use.
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "fs";
import * as path from "path";
import { userInfo } from "os";

import { FLEET_SECRETS_OUTPUT, NO_PULUMI, passphraseFileName, PRIVATE_KEY_OUTPUT, shellWord, sshCommand, sshCommandText } from "../components/ssh-command";
import { ed25519Material } from "../components/offline/key-material";
import { unwrap } from "../components/offline/run-program";
import { buildFleet } from "./support/fleet";
import { deployUnderMocks } from "./support/machine";
import { VALID_CONFIG } from "./support/program";
import { Sshd, SSHD, startSshd, stopProcess } from "./support/scripts";
import { STAND_IN_PULUMI, StandInWorld } from "./support/stand-ins";
import { requireCommands } from "./support/system";

const SHELLS = ["bash", "zsh"];

/**
 * Pastes `command` into `shell` in the stand-in world, then types `input` into the session. An
 * `ssh` first on PATH dials 127.0.0.1:`port` as this user; HostKeyAlias keeps the host key check
 * on the machine's public address.
 */
function pasteInto(world: StandInWorld, command: string, shell: string, port: number | undefined, input: string,
    where: { cwd?: string; withoutGlobalPulumi?: boolean; env?: NodeJS.ProcessEnv } = {}) {
    const dialer = path.join(world.dir, `dial-${port}`);
    mkdirSync(dialer, { recursive: true });
    writeFileSync(path.join(dialer, "ssh"),
        `#!/bin/sh\nexec /usr/bin/ssh -o HostName=127.0.0.1 -p ${port} -o User=${userInfo().username} "$@"\n`, { mode: 0o755 });
    const env = world.env(where.env);
    const path_ = (env.PATH ?? "").split(":").filter((dir) => !(where.withoutGlobalPulumi && dir === world.bin));
    env.PATH = [dialer, ...path_].join(":");
    return spawnSync(shell, ["-c", command], { cwd: where.cwd ?? world.project, env, input, encoding: "utf8", timeout: 30_000 });
}

/**
 * What a first npm run up leaves, through the stand-in: the local backend logged in to, the stack
 * with the outputs, its secrets encrypted with the random passphrase in the file npm run up makes
 * (scripts/lib/pulumi.sh passphrase_file). The shell the command is pasted into has no variable.
 */
function deployAsNpmRunUp(world: StandInWorld): void {
    const file = path.join(world.home, ".pulumi", passphraseFileName("dev"));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, "a random passphrase\n", { mode: 0o600 });
    for (const args of [["login", "--local"], ["stack", "select", "--create", "dev"], ["up", "--yes"]]) {
        const result = spawnSync("pulumi", args, { cwd: world.project, env: world.env({ PULUMI_CONFIG_PASSPHRASE_FILE: file }), encoding: "utf8" });
        assert.strictEqual(result.status, 0, result.stderr);
    }
}

describe("sshCommand: the pasteable SSH command", function () {
    this.timeout(60_000);

    describe("as text", () => {
        const parts = {
            label: "gpu-notebook-dev", user: "ubuntu", ip: "203.0.113.10",
            knownHosts: "203.0.113.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey", stack: "organization/gpu-notebook/dev",
        };

        it("reads the key from the stack's secret output and inlines only the public host key", () => {
            const command = sshCommandText(parts);
            assert.ok(command.includes(`"$p" stack output --show-secrets --stack organization/gpu-notebook/dev ${PRIVATE_KEY_OUTPUT} > "$HOME/.ssh/gpu-notebook-dev.pem.new"`), command);
            assert.ok(command.includes(`printf '%s\\n' '${parts.knownHosts}' > "$HOME/.ssh/gpu-notebook-dev.known_hosts"`), command);
            assert.match(command, / -o StrictHostKeyChecking=yes -o HostKeyAlias=203\.0\.113\.10 ubuntu@203\.0\.113\.10$/);
        });

        it("holds nothing an interactive bash or zsh would expand on paste (history !, comments #) and is one line", () => {
            assert.doesNotMatch(sshCommandText(parts), /[!#\n]/);
        });

        it("refuses a label that could not sit inside a file name in double quotes", () => {
            for (const label of ["dev notebook", 'a"b', "$(x)", ""]) {
                assert.throws(() => sshCommandText({ ...parts, label }), /must match/, label);
            }
            assert.doesNotThrow(() => sshCommandText({ ...parts, label: "gpu-notebook-dev.v2_a" }));
        });

        it("names the stack fully qualified when the engine names an organization, so it works from any folder", async () => {
            const mocks = { newResource: () => ({ id: "unused", state: {} }), call: () => ({}) };
            const args = { label: "gpu-notebook-dev", user: "ubuntu", ip: "203.0.113.10", knownHosts: parts.knownHosts };
            await pulumi.runtime.setMocks(mocks, "gpu-notebook", "dev", false, "acme");
            assert.match(await unwrap(sshCommand(args)), / --stack acme\/gpu-notebook\/dev sshPrivateKey /);
            await pulumi.runtime.setMocks(mocks, "gpu-notebook", "dev", false);
            assert.match(await unwrap(sshCommand(args)), / --stack dev sshPrivateKey /);
        });

        it("quotes any word so bash and zsh both read it back unchanged", function () {
            requireCommands(this, ...SHELLS);
            const words = ["plain-word_1.2", "with space", "it's", "$HOME", "a*b?", "`x`", "semi;colon", "back\\slash", "~tilde"];
            for (const shell of SHELLS) {
                const script = `printf '%s\\n' ${words.map(shellWord).join(" ")}`;
                const result = spawnSync(shell, ["-c", script], { encoding: "utf8" });
                assert.deepStrictEqual(result.stdout.split("\n").slice(0, -1), words, `${shell}: ${script}`);
            }
        });
    });

    describe("pasted after pulumi up, against sshd on 127.0.0.1", () => {
        let world: StandInWorld | undefined;
        let genuine: Sshd | undefined;
        let impostor: Sshd | undefined;
        let outputs: Record<string, string> = {};
        let secrets: string[] = [];

        before(async function () {
            requireCommands(this, SSHD, "ssh", ...SHELLS);
            const machine = await deployUnderMocks(VALID_CONFIG);
            outputs = machine.outputs;
            secrets = machine.secrets;
            const here = new StandInWorld();
            world = here;
            here.setOutputs(outputs, secrets);
            genuine = await startSshd(path.join(here.dir, "sshd"), machine.hostPrivateKey, machine.loginPublicKey);
            impostor = await startSshd(path.join(here.dir, "impostor-sshd"), ed25519Material().privateKeyOpenssh, machine.loginPublicKey);
            deployAsNpmRunUp(here);
        });

        after(async () => {
            await Promise.all([stopProcess(genuine?.process), stopProcess(impostor?.process)]);
            world?.cleanup();
        });

        const paste = (shell: string, port: number | undefined, input: string, where: Parameters<typeof pasteInto>[5] = {}) =>
            pasteInto(world!, outputs.sshCommand, shell, port, input, where);

        it("is a plain output that holds no key material", () => {
            assert.ok(secrets.includes(PRIVATE_KEY_OUTPUT) && !secrets.includes("sshCommand"), secrets.join());
            assert.doesNotMatch(outputs.sshCommand, /PRIVATE KEY|BEGIN/);
            assert.ok(!outputs.sshCommand.includes(outputs.sshPrivateKey.split("\n")[1]), "no line of the private key");
        });

        for (const shell of SHELLS) {
            it(`logs in from ${shell} with nothing set up before, the host key verified and no prompt`, () => {
                const ssh = path.join(world!.home, ".ssh");
                rmSync(ssh, { recursive: true, force: true });
                const result = paste(shell, genuine?.port, "echo logged-in-as-$(whoami)\n");
                assert.strictEqual(result.status, 0, result.stderr + genuine?.log());
                assert.match(result.stdout, new RegExp(`logged-in-as-${userInfo().username}`));
                assert.doesNotMatch(result.stderr, /continue connecting|Permanently added|password|passphrase/i);
                assert.strictEqual(readFileSync(path.join(ssh, "gpu-notebook-dev.pem"), "utf8").trim(), outputs.sshPrivateKey.trim());
                assert.strictEqual(statSync(path.join(ssh, "gpu-notebook-dev.pem")).mode & 0o777, 0o600);
                assert.strictEqual(readFileSync(path.join(ssh, "gpu-notebook-dev.known_hosts"), "utf8"), `${outputs.sshKnownHosts}\n`);
                assert.ok(world!.callLines().some((line) => line.startsWith(`stack output --show-secrets --stack dev ${PRIVATE_KEY_OUTPUT}`)));
            });
        }

        it("honours a passphrase the user set over the file npm run up made", () => {
            const wrong = paste("bash", genuine?.port, "true\n", { env: { PULUMI_CONFIG_PASSPHRASE: "not the stack's" } });
            assert.notStrictEqual(wrong.status, 0);
            assert.match(wrong.stderr, /incorrect passphrase/);
            const file = path.join(world!.home, ".pulumi", passphraseFileName("dev"));
            const right = paste("bash", genuine?.port, "true\n", { env: { PULUMI_CONFIG_PASSPHRASE: readFileSync(file, "utf8").trim() } });
            assert.strictEqual(right.status, 0, right.stderr);
        });

        it("hands ssh the options that pin the host key: StrictHostKeyChecking yes, only the stack's key as known", () => {
            // A stand-in ssh that records the words it was given, one a line.
            const recorder = path.join(world!.dir, "recording-ssh");
            const given = path.join(recorder, "argv");
            mkdirSync(recorder, { recursive: true });
            writeFileSync(path.join(recorder, "ssh"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${given}'\n`, { mode: 0o755 });
            const env = world!.env();
            env.PATH = `${recorder}:${env.PATH}`;
            const result = spawnSync("bash", ["-c", outputs.sshCommand], { cwd: world!.project, env, encoding: "utf8", timeout: 30_000 });
            assert.strictEqual(result.status, 0, result.stderr);
            const words = readFileSync(given, "utf8").split("\n").slice(0, -1);
            // ssh keeps the first value given for an option; keywords are case-insensitive (ssh_config(5)).
            const options = new Map<string, string>();
            words.forEach((word, index) => {
                const option = word === "-o" ? words[index + 1] : word.startsWith("-o") ? word.slice(2) : undefined;
                const [key, ...value] = option?.split("=") ?? [];
                if (option !== undefined && !options.has(key.toLowerCase())) {
                    options.set(key.toLowerCase(), value.join("="));
                }
            });
            assert.strictEqual(options.get("stricthostkeychecking"), "yes");
            assert.strictEqual(options.get("globalknownhostsfile"), "/dev/null");
            assert.strictEqual(readFileSync(options.get("userknownhostsfile") ?? "", "utf8"), `${outputs.sshKnownHosts}\n`);
            assert.strictEqual(options.get("hostkeyalias"), outputs.publicIp);
            assert.ok(!words.includes("-F"), "no config file that could say otherwise");
        });

        it("replaces a key file another tool left readable by others with a private one", () => {
            const key = path.join(world!.home, ".ssh", "gpu-notebook-dev.pem");
            writeFileSync(key, "stale");
            chmodSync(key, 0o644);
            const result = paste("bash", genuine?.port, "true\n");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.strictEqual(statSync(key).mode & 0o777, 0o600);
            assert.ok(!existsSync(`${key}.new`));
        });

        describe("without a global pulumi", () => {
            before(() => {
                // The project's own CLI, as `npm ci` installs it (node_modules/.bin/pulumi), here the stand-in:
                // the npm package's real one would download the CLI.
                const modules = path.join(world!.project, "node_modules");
                rmSync(modules, { force: true });
                mkdirSync(path.join(modules, ".bin"), { recursive: true });
                symlinkSync(STAND_IN_PULUMI, path.join(modules, ".bin", "pulumi"));
            });

            for (const shell of SHELLS) {
                it(`logs in from ${shell} in the project folder, through the project's own CLI`, () => {
                    rmSync(path.join(world!.home, ".ssh"), { recursive: true, force: true });
                    const result = paste(shell, genuine?.port, "echo logged-in-as-$(whoami)\n", { withoutGlobalPulumi: true });
                    assert.strictEqual(result.status, 0, result.stderr);
                    assert.match(result.stdout, new RegExp(`logged-in-as-${userInfo().username}`));
                });

                it(`outside the project folder (${shell}), fails with one sentence saying what to do, and connects nowhere`, () => {
                    const result = paste(shell, genuine?.port, "echo logged-in\n", { withoutGlobalPulumi: true, cwd: world!.home });
                    assert.notStrictEqual(result.status, 0);
                    assert.strictEqual(result.stderr, `${NO_PULUMI}\n`);
                    assert.strictEqual(result.stdout, "");
                });
            }
        });

        it("refuses a machine presenting another host key, and runs nothing there", () => {
            const marker = path.join(world!.dir, "impostor-ran-the-command");
            const result = paste("zsh", impostor?.port, `touch ${marker}\n`);
            assert.strictEqual(result.status, 255, result.stdout);
            assert.match(result.stderr, /Host key verification failed/);
            assert.strictEqual(existsSync(marker), false);
        });
    });

    describe("pasted for one notebook of a fleet, against sshd on 127.0.0.1", () => {
        let world: StandInWorld | undefined;
        let alice: Sshd | undefined;
        let notebooks: Record<string, Record<string, string>> = {};
        let keys: Record<string, Record<string, string>> = {};

        before(async function () {
            requireCommands(this, SSHD, "ssh", ...SHELLS);
            const fleet = await buildFleet({ alice: {}, bob: {} });
            notebooks = fleet.outputs.notebooks as typeof notebooks;
            keys = fleet.outputs[FLEET_SECRETS_OUTPUT] as typeof keys;
            const here = new StandInWorld();
            world = here;
            here.setOutputs(fleet.outputs, [FLEET_SECRETS_OUTPUT]);
            alice = await startSshd(path.join(here.dir, "alice-sshd"), fleet.machines.alice.hostPrivateKey, fleet.machines.alice.loginPublicKey);
            deployAsNpmRunUp(here);
        });

        after(async () => {
            await stopProcess(alice?.process);
            world?.cleanup();
        });

        for (const shell of SHELLS) {
            it(`logs in to alice's machine from ${shell} with alice's key, taken from the fleet's secret map`, () => {
                const result = pasteInto(world!, notebooks.alice.sshCommand, shell, alice?.port, "echo logged-in-as-$(whoami)\n");
                assert.strictEqual(result.status, 0, result.stderr + alice?.log());
                assert.match(result.stdout, new RegExp(`logged-in-as-${userInfo().username}`));
                const key = path.join(world!.home, ".ssh", "gpu-notebook-dev-alice.pem");
                assert.strictEqual(readFileSync(key, "utf8").trim(), keys.alice[PRIVATE_KEY_OUTPUT].trim());
                assert.notStrictEqual(keys.alice[PRIVATE_KEY_OUTPUT], keys.bob[PRIVATE_KEY_OUTPUT]);
                assert.strictEqual(statSync(key).mode & 0o777, 0o600);
            });
        }

        it("is refused by alice's machine when pasted for bob: another host key is pinned", () => {
            const result = pasteInto(world!, notebooks.bob.sshCommand, "bash", alice?.port, "true\n");
            assert.notStrictEqual(result.status, 0);
            assert.match(result.stderr, /Host key verification failed/);
        });
    });
});
