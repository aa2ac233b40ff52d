// The query program (scripts/lib/query.ts), which answers every question the bash scripts ask of
// config, outputs, capacity and region, as table tests of its answers; and the outputs it keeps
// for the next command, which an up or a destroy between two calls must never leave stale.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import type { FleetOutputs } from "../components/fleet";
import { SECRET_OUTPUTS as NOTEBOOK_SECRETS } from "../components/notebook";
import { profileSetting, regionForNewStack } from "../scripts/lib/region";
import { SECRET_OUTPUTS } from "../scripts/lib/stack-outputs";
import { ROOT } from "./support/scripts";
import { StandInStack } from "./support/stand-ins";

/** Runs `query.ts ...args` with `input` on stdin: its status, its answer's fields, its error line. */
function ask(args: string[], input = "", env: NodeJS.ProcessEnv = process.env, cwd = ROOT) {
    const ran = spawnSync(process.execPath, ["--require", path.join(ROOT, "scripts", "lib", "ts-require.js"),
        path.join(ROOT, "scripts", "lib", "query.ts"), ...args], { input, env, cwd, encoding: "utf8" });
    return { status: ran.status, fields: ran.stdout.split("\0").slice(0, -1), stdout: ran.stdout, stderr: ran.stderr.trim() };
}

describe("scripts/lib/query.ts: the scripts' questions, answered by the program", () => {
    it("zone: accepts what the config accepts as a zone, and refuses the rest in one line", () => {
        for (const [zone, ok] of [["us-east-1c", true], ["us-east-1-bos-1a", true], ["east", false], ["us-east-1", false], ["", false]] as const) {
            const answer = ask(["zone", zone]);
            assert.strictEqual(answer.status, ok ? 0 : 1, zone);
            assert.strictEqual(answer.stderr, ok ? "" : `gpu-notebook: --zone ${zone}: an availability zone name of the stack's region, such as us-east-1c`);
        }
    });

    it("instance-type: the names a candidate key holds, nothing else", () => {
        for (const [type, ok] of [["g6.xlarge", true], ["p4d.24xlarge", true], ["g6", false], ["G6.xlarge", false], ["g6.xlarge;rm", false]] as const) {
            assert.strictEqual(ask(["instance-type", type]).status, ok ? 0 : 1, type);
        }
    });

    it("on-demand: refuses, in the program's words, all but a spot notebook with spotFallback on-demand", () => {
        const listing = (values: Record<string, string>) =>
            JSON.stringify(Object.fromEntries(Object.entries({ allowedCidrs: "198.51.100.0/24", ...values }).map(([key, value]) => [`gpu-notebook:${key}`, { value }])));
        const cases: [Record<string, string>, RegExp | undefined][] = [
            [{}, /spot = false is not accepted/],
            [{ spot: "true" }, /spotFallback = "" is not accepted: on-demand/],
            [{ spot: "true", spotFallback: "on-demand" }, undefined],
        ];
        for (const [values, refusal] of cases) {
            const answer = ask(["on-demand", ""], listing(values));
            assert.strictEqual(answer.status, refusal ? 1 : 0, JSON.stringify(values));
            if (refusal) {
                assert.match(answer.stderr, refusal);
                assert.match(answer.stderr, /^gpu-notebook: --on-demand: gpu-notebook:/);
            }
        }
    });

    it("outputs: chooses the notebook, and answers its outputs under single-mode names", () => {
        const fleet = { notebooks: { alice: { publicIp: "203.0.113.1", running: true } }, notebookSecrets: { alice: { sshPrivateKey: "KEY\n" } } };
        const answer = ask(["outputs", "--from", "stdin", "--stack", "dev", "--named", "yes", "--notebook", "alice", "--option", "--notebook"], JSON.stringify(fleet));
        assert.strictEqual(answer.status, 0, answer.stderr);
        assert.deepStrictEqual(answer.fields, ["outputs", "dev", JSON.stringify(fleet), "", "publicIp", "203.0.113.1", "running", "true",
            "sshPrivateKey", "KEY\n", "notebookName", "alice", "end"]);
        const none = ask(["outputs", "--from", "stdin", "--stack", "dev", "--named", "yes", "--notebook", "bob", "--option", "--notebook"], JSON.stringify(fleet));
        assert.strictEqual(none.status, 1);
        assert.match(none.stderr, /--notebook bob: stack dev has no notebook bob deployed; its deployed notebooks: alice/);
        assert.ok(!none.stdout.includes("end"), "a refused answer does not end, so bash takes none of it");
        const empty = ask(["outputs", "--from", "stdin", "--stack", "dev", "--named", "yes"], "{}");
        assert.strictEqual(empty.stderr, "gpu-notebook: stack dev has no notebook deployed (it has no outputs): create it with npm run up");
    });

    it("region: AWS_REGION, AWS_DEFAULT_REGION, the profile's in the shared config file, then us-east-1; refuses a non-name", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-region-"));
        try {
            const config = path.join(dir, "config");
            writeFileSync(config, "[default]\nregion = ap-south-1\n[profile course]\n  ; a comment\nregion=eu-west-3\ns3 =\n  region = us-west-1\n");
            const cases: [NodeJS.ProcessEnv, string, string][] = [
                [{ AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "eu-north-1" }, "eu-west-1", "AWS_REGION"],
                [{ AWS_DEFAULT_REGION: "eu-north-1", AWS_CONFIG_FILE: config }, "eu-north-1", "AWS_DEFAULT_REGION"],
                [{ AWS_CONFIG_FILE: config }, "ap-south-1", "your AWS profile default"],
                [{ AWS_CONFIG_FILE: config, AWS_PROFILE: "course" }, "eu-west-3", "your AWS profile course"],
                [{ AWS_CONFIG_FILE: config, AWS_PROFILE: "nobody" }, "us-east-1", "no region in AWS_REGION, AWS_DEFAULT_REGION or your AWS profile"],
                [{ HOME: dir }, "us-east-1", "no region in AWS_REGION, AWS_DEFAULT_REGION or your AWS profile"],
            ];
            for (const [env, region, source] of cases) {
                assert.deepStrictEqual(regionForNewStack(env), { region, source }, JSON.stringify(env));
            }
            assert.strictEqual(profileSetting("[profile a]\nregion = x\n[b]\nregion = y\n", "b", "region"), undefined, "a config file's profiles are [profile NAME]");
            assert.throws(() => regionForNewStack({ AWS_REGION: "Frankfurt" }), /^Error: Frankfurt \(AWS_REGION\) is not an AWS region name such as us-east-1$/);
            const answer = ask(["region"], "", { PATH: process.env.PATH, HOME: dir, AWS_CONFIG_FILE: config, AWS_PROFILE: "course" });
            assert.deepStrictEqual(answer.fields, ["eu-west-3", "your AWS profile course", "setup"]);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("the outputs a command keeps for the next (scripts/lib/outputs-cache.ts)", function () {
    this.timeout(60_000);
    let dir: string;
    let stack: StandInStack;
    let home: string;

    beforeEach(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-kept-"));
        home = path.join(dir, "home");
        stack = new StandInStack(dir);
        stack.setConfig({ allowedCidrs: ["198.51.100.0/24"] });
        spawnSync("mkdir", ["-m", "700", home]);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const env = () => ({ ...stack.env(), HOME: home, PULUMI_HOME: path.join(home, ".pulumi"), GPU_NOTEBOOK_STACK: "dev" });

    /** The stand-in's `up` deploying these outputs, `secrets` the secret ones (or `destroy`). */
    function pulumi(args: string[], outputs?: Record<string, unknown>, secrets: string[] = []): void {
        const file = path.join(dir, "outputs.json");
        writeFileSync(file, JSON.stringify({ values: outputs ?? {}, secrets }));
        const ran = spawnSync("pulumi", [...args, "--yes", "--stack", "dev"], { cwd: stack.project, env: { ...process.env, ...env(), STAND_IN_OUTPUTS: file }, encoding: "utf8" });
        assert.strictEqual(ran.status, 0, ran.stderr);
    }

    /** What a command reads as publicIp, and how many Pulumi CLI calls that took. */
    function publicIp(): { status: number | null; ip: string; cliCalls: number; stderr: string } {
        const before = stack.calls().length;
        const ran = spawnSync("bash", ["-c", ". scripts/lib/common.sh && . scripts/lib/outputs.sh && load_outputs && stack_output publicIp"],
            { cwd: stack.project, env: { ...process.env, ...env() }, encoding: "utf8" });
        return { status: ran.status, ip: ran.stdout, cliCalls: stack.calls().length - before, stderr: ran.stderr };
    }

    it("answers the second command without the CLI, from a 0600 file, and sees an up and a destroy in between", () => {
        pulumi(["up"], { publicIp: "203.0.113.1" });
        assert.deepStrictEqual({ ...publicIp(), stderr: "" }, { status: 0, ip: "203.0.113.1", cliCalls: 1, stderr: "" });
        assert.deepStrictEqual({ ...publicIp(), stderr: "" }, { status: 0, ip: "203.0.113.1", cliCalls: 0, stderr: "" }, "kept");
        const kept = path.join(home, ".ssh", "gpu-notebook-dev.outputs.json");
        assert.strictEqual(statSync(kept).mode & 0o777, 0o600);
        assert.strictEqual(statSync(path.dirname(kept)).mode & 0o777, 0o700);
        pulumi(["up"], { publicIp: "203.0.113.2" });
        assert.deepStrictEqual({ ...publicIp(), stderr: "" }, { status: 0, ip: "203.0.113.2", cliCalls: 1, stderr: "" }, "after an up: the new address");
        pulumi(["destroy"]);
        const gone = publicIp();
        assert.strictEqual(gone.status, 1);
        assert.match(gone.stderr, /stack dev has no notebook deployed/);
        assert.ok(JSON.parse(readFileSync(kept, "utf8")).outputs.publicIp === "203.0.113.2", "nothing kept from an empty stack");
    });

    // A login key as tls.PrivateKey's privateKeyOpenssh ends: with a newline.
    const loginKey = (who: string) => `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA${who}\n-----END OPENSSH PRIVATE KEY-----\n`;
    const notebook = (who: string, ip: string) => ({
        publicIp: ip, sshUser: "ubuntu", sshKnownHosts: `${ip} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${who}`,
        notebookUrl: `https://${ip}:8888/`, notebookCertificatePem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    });
    const single = { ...notebook("single", "203.0.113.1"), sshPrivateKey: loginKey("single"), notebookPassword: "correct horse battery" };
    const singleSecrets = ["sshPrivateKey", "notebookPassword"];
    const kept = () => path.join(home, ".ssh", "gpu-notebook-dev.outputs.json");
    const pem = () => path.join(home, ".ssh", "gpu-notebook-dev.pem");

    /** Runs bash `script` (common.sh and connect.sh sourced) in the project, with the stand-in ssh first on PATH. */
    function run(script: string, extra: NodeJS.ProcessEnv = {}) {
        const before = stack.calls().length;
        const base: NodeJS.ProcessEnv = env();
        const ran = spawnSync("bash", ["-c", `. scripts/lib/common.sh && . scripts/lib/connect.sh && ${script}`], {
            cwd: stack.project, encoding: "utf8",
            env: { ...process.env, ...base, PATH: `${path.join(dir, "ssh-bin")}${path.delimiter}${base.PATH}`, ...extra },
        });
        return { status: ran.status, stdout: ran.stdout, stderr: ran.stderr, cliCalls: stack.calls().length - before };
    }

    /** `bash scripts/ssh true` as a user types it: its status and the Pulumi CLI calls it made. */
    const sshTrue = (extra: NodeJS.ProcessEnv = {}) => run("bash scripts/ssh true", extra);

    beforeEach(() => {
        // ssh that connects nowhere: no shared connection (-O check fails), anything else succeeds.
        mkdirSync(path.join(dir, "ssh-bin"));
        writeFileSync(path.join(dir, "ssh-bin", "ssh"), '#!/bin/sh\ncase " $* " in *" -O "*) exit 255 ;; esac\nexit 0\n', { mode: 0o755 });
    });

    it("names every output the program makes secret", () => {
        const fleetSecrets: keyof FleetOutputs = "notebookSecrets";
        assert.deepStrictEqual([...SECRET_OUTPUTS].sort(), [...NOTEBOOK_SECRETS, fleetSecrets].sort());
    });

    it("keeps no secret's value, of a single notebook or a fleet", () => {
        const fleet = {
            notebooks: { alice: notebook("alice", "203.0.113.5"), bob: notebook("bob", "203.0.113.6") },
            notebookSecrets: {
                alice: { sshPrivateKey: loginKey("alice"), notebookPassword: "alice's password" },
                bob: { sshPrivateKey: loginKey("bob"), notebookPassword: "bob's password" },
            },
        };
        const cases: [Record<string, unknown>, string[], string[], string][] = [
            [single, singleSecrets, [single.sshPrivateKey, single.notebookPassword], ""],
            [fleet, ["notebookSecrets"], Object.values(fleet.notebookSecrets).flatMap(Object.values), "alice"],
        ];
        for (const [outputs, secrets, values, name] of cases) {
            pulumi(["up"], outputs, secrets);
            const ssh = sshTrue({ GPU_NOTEBOOK_NAME: name });
            assert.deepStrictEqual([ssh.status, ssh.cliCalls], [0, 1], ssh.stderr);
            const text = readFileSync(kept(), "utf8");
            for (const value of values) {
                // As it is, as JSON writes it, and its longest line: no copy of it in any form.
                for (const form of [value, JSON.stringify(value).slice(1, -1), value.split("\n").sort((a, b) => b.length - a.length)[0]]) {
                    assert.ok(!text.includes(form), `the kept outputs hold ${JSON.stringify(form)}: ${text}`);
                }
            }
            assert.strictEqual(JSON.parse(text).outputs.publicIp ?? JSON.parse(text).outputs.notebooks.alice.publicIp,
                name ? "203.0.113.5" : "203.0.113.1", "what is not secret is kept");
            assert.deepStrictEqual([sshTrue({ GPU_NOTEBOOK_NAME: name }).cliCalls], [0], "and used");
        }
    });

    it("answers npm run ssh from the .pem it was written from, and sends a secret question to the CLI", () => {
        pulumi(["up"], single, singleSecrets);
        assert.strictEqual(sshTrue().cliCalls, 1);
        assert.deepStrictEqual(sshTrue(), { status: 0, stdout: "", stderr: "", cliCalls: 0 }, "warm: no CLI call");
        const password = run("load_outputs notebookPassword && stack_output notebookPassword");
        assert.deepStrictEqual([password.status, password.stdout, password.cliCalls], [0, single.notebookPassword, 1], password.stderr);
        // A script that reads a secret without naming it is told so, not sent to npm run up.
        const unnamed = run("load_outputs && stack_output notebookPassword");
        assert.deepStrictEqual([unnamed.status, unnamed.cliCalls], [1, 0]);
        assert.match(unnamed.stderr, /notebookPassword is a secret output, which the kept outputs leave out; this script must name it to load_outputs/);
    });

    it("asks the CLI when the .pem is gone or changed, and the .pem is written again", () => {
        pulumi(["up"], single, singleSecrets);
        assert.strictEqual(sshTrue().cliCalls, 1);
        const written = readFileSync(pem(), "utf8");
        assert.strictEqual(written, single.sshPrivateKey, "the key as prepare_ssh writes it");
        for (const change of [() => rmSync(pem()), () => writeFileSync(pem(), loginKey("someone else"), { mode: 0o600 })]) {
            change();
            assert.deepStrictEqual([sshTrue().cliCalls, readFileSync(pem(), "utf8")], [1, written]);
            assert.strictEqual(sshTrue().cliCalls, 0, "then kept again");
        }
        assert.ok(existsSync(kept()));
    });

    it("needs no passphrase for what it keeps; a secret question without the right one fails at the CLI, as before", () => {
        pulumi(["up"], single, singleSecrets);
        assert.strictEqual(sshTrue().cliCalls, 1);
        const cases: [NodeJS.ProcessEnv, RegExp][] = [
            [{ PULUMI_CONFIG_PASSPHRASE: undefined }, /keeps its secrets with a Pulumi passphrase, and none is given here/],
            [{ PULUMI_CONFIG_PASSPHRASE: "not the user's" }, /is not the one stack dev's secrets were encrypted with/],
        ];
        for (const [extra, refusal] of cases) {
            // The login key is the user's own .pem, which ssh reads without Pulumi: nothing to guard.
            assert.deepStrictEqual(sshTrue(extra), { status: 0, stdout: "", stderr: "", cliCalls: 0 });
            const password = run("load_outputs notebookPassword && stack_output notebookPassword", extra);
            assert.deepStrictEqual([password.status, password.stdout, password.cliCalls], [1, "", 1]);
            assert.match(password.stderr, refusal);
        }
    });
});
