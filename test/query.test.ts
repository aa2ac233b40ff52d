// The query program (scripts/lib/query.ts), which answers every question the bash scripts ask of
// config, outputs, capacity and region, as table tests of its answers; and the outputs it keeps
// for the next command, which an up or a destroy between two calls must never leave stale.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { profileSetting, regionForNewStack } from "../scripts/lib/region";
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
        assert.deepStrictEqual(answer.fields, ["outputs", "dev", JSON.stringify(fleet), "publicIp", "203.0.113.1", "running", "true",
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

    /** The stand-in's `up` deploying these outputs (or `destroy`). */
    function pulumi(args: string[], outputs?: Record<string, unknown>): void {
        const file = path.join(dir, "outputs.json");
        writeFileSync(file, JSON.stringify({ values: outputs ?? {}, secrets: [] }));
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

    it("is not used without the stack's passphrase: the CLI is asked, and says what is missing", () => {
        pulumi(["up"], { publicIp: "203.0.113.1" });
        assert.strictEqual(publicIp().status, 0);
        const before = stack.calls().length;
        const ran = spawnSync("bash", ["-c", ". scripts/lib/common.sh && . scripts/lib/outputs.sh && load_outputs"],
            { cwd: stack.project, env: { ...process.env, ...env(), PULUMI_CONFIG_PASSPHRASE: undefined }, encoding: "utf8" });
        assert.strictEqual(ran.status, 1);
        assert.match(ran.stderr, /keeps its secrets with a Pulumi passphrase, and none is given here/);
        assert.strictEqual(stack.calls().length - before, 1);
    });
});
