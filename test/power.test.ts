// npm run stop / npm run start in a stack of several notebooks: the script sets a notebook's own
// `running` (or, with --all, the top-level one) and applies it, through whatever Pulumi CLI is on
// PATH (here the stand-in, which records its calls and keeps the stack file). A single
// notebook's stop and start are tested with the other scripts in scripts-up.test.ts.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { StandInStack } from "./support/stand-ins";

describe("scripts/power (npm run stop / start)", () => {
    let dir: string;
    let pulumiCli: StandInStack;

    beforeEach(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-power-"));
        pulumiCli = new StandInStack(dir);
    });

    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function powerWith(name: string | undefined, ...args: string[]) {
        const env: NodeJS.ProcessEnv = { ...process.env, ...pulumiCli.env(), GPU_NOTEBOOK_NAME: name };
        if (name === undefined) {
            delete env.GPU_NOTEBOOK_NAME;
        }
        return spawnSync("bash", [path.join(pulumiCli.project, "scripts", "power"), ...args], { encoding: "utf8", env });
    }

    const power = (...args: string[]) => powerWith(undefined, ...args);

    /** The calls that change something (config changes, the update, a new stack), not the reads. */
    function changes(): string[] {
        const reads = (call: string[]) => (call[0] === "config" && call[1] === "--json") || (call[0] === "stack" && !call.includes("--create"));
        return pulumiCli.calls().filter((call) => !reads(call)).map((call) => call.join(" ").replace(/ ?--event-log \S+/, ""));
    }

    describe("in a stack with notebooks", () => {
        const CLASS = { running: "true", notebooks: { alice: {}, bob: { running: true }, carol: { instanceType: "g5.xlarge" } } };

        it("stop --notebook alice sets only alice's running, then applies it", () => {
            pulumiCli.setConfig(CLASS);
            const result = power("stop", "--notebook", "alice", "--yes");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.deepStrictEqual(changes(), [
                "config set --path notebooks.alice.running false", "up --yes",
            ]);
        });

        it("takes the notebook from GPU_NOTEBOOK_NAME too", () => {
            pulumiCli.setConfig(CLASS);
            const result = powerWith("carol", "start");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.ok(changes().includes("config set --path notebooks.carol.running true"), changes().join("\n"));
        });

        it("refuses to stop without a notebook name, listing them, and changes nothing", () => {
            pulumiCli.setConfig(CLASS);
            const result = power("stop");
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stderr, /the config of stack dev has 3 notebooks \(alice, bob, carol\); choose one with --notebook NAME/);
            assert.deepStrictEqual(changes(), []);
        });

        it("refuses a name the stack's config does not have, listing the ones it has", () => {
            pulumiCli.setConfig(CLASS);
            const result = power("stop", "--notebook", "dave");
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stderr, /--notebook dave: the config of stack dev has no notebook dave; its notebooks: alice, bob, carol/);
            assert.deepStrictEqual(changes(), []);
        });

        it("writes the notebook's own running into the stack file as the CLI does, nested, keeping its comments", () => {
            pulumiCli.setStackFile([
                "# Term 1: three students",
                "config:",
                "  gpu-notebook:notebooks:",
                "    alice: {}  # front row",
                "    bob:",
                "",
            ].join("\n"));
            const result = power("stop", "--notebook", "bob");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.deepStrictEqual(pulumiCli.config(), { "gpu-notebook:notebooks": { alice: {}, bob: { running: false } } });
            const text = readFileSync(pulumiCli.stackFile(), "utf8");
            assert.match(text, /^# Term 1: three students$/m);
            assert.match(text, /alice: \{\} # front row$/m);
        });

        it("stop --all sets the top-level running and removes each notebook's own, so all of them stop", () => {
            pulumiCli.setConfig(CLASS);
            const result = power("stop", "--all");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.deepStrictEqual(changes(), [
                "config rm --path notebooks.bob.running", "config set running false", "up",
            ]);
        });
    });

    it("refuses --notebook on a stack with a single notebook, changing nothing", () => {
        pulumiCli.setConfig({ running: "true" });
        const result = power("stop", "--notebook", "alice");
        assert.strictEqual(result.status, 1, result.stdout);
        assert.match(result.stderr, /--notebook alice: the config of stack dev names no notebooks/);
        assert.deepStrictEqual(changes(), []);
    });

    describe("with nothing deployed", () => {
        for (const action of ["stop", "start"]) {
            it(`${action} says nothing is deployed, fails, and creates no stack, writes no stack file, runs no update`, () => {
                const result = power(action);
                assert.strictEqual(result.status, 1, result.stdout);
                assert.strictEqual(result.stderr, "gpu-notebook: nothing is deployed in stack dev: create it with npm run up\n");
                assert.deepStrictEqual(changes(), []);
                assert.ok(!pulumiCli.exists(), "no stack was created");
                assert.ok(!existsSync(pulumiCli.stackFile()), "no Pulumi.dev.yaml was written");
            });
        }
    });

    it("start tells the program to start this notebook; stop and up do not (running.ts)", () => {
        pulumiCli.setConfig({ running: "false" });
        for (const action of ["start", "stop"]) {
            const result = power(action);
            assert.strictEqual(result.status, 0, result.stderr);
        }
        const ups = pulumiCli.recorded().filter((call) => call.argv[0] === "up");
        assert.deepStrictEqual(ups.map((call) => call.env?.GPU_NOTEBOOK_START), ["notebook", undefined]);
    });

    it("without a passphrase and a terminal, refuses before changing anything, saying what to set", () => {
        pulumiCli.setConfig({ running: "true" });
        const env: NodeJS.ProcessEnv = { ...process.env, ...pulumiCli.env() };
        delete env.PULUMI_CONFIG_PASSPHRASE;
        delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
        const result = spawnSync("bash", [path.join(pulumiCli.project, "scripts", "power"), "stop"], { encoding: "utf8", env });
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /stack dev keeps its secrets with a Pulumi passphrase, and none is given here: set PULUMI_CONFIG_PASSPHRASE/);
        assert.deepStrictEqual(changes(), []);
    });
});
