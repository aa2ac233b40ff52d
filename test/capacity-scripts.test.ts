// npm run up and npm run start when EC2 has no GPU free, against the stand-in Pulumi CLI answering
// with EC2's real error text in the engine's event log: what they retry, what they tell the
// program, and what they say.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { writeFileSync } from "fs";
import * as path from "path";

import { ec2CapacityError } from "../components/capacity";
import { runScript, ScriptResult } from "./support/scripts";
import { StandInWorld } from "./support/stand-ins";

const G5 = { instanceType: "g5.xlarge", zone: "us-east-1a", market: "on-demand" } as const;
const tries = (notebook: string, key: string) => ({ resource: notebook, severity: "info", message: `capacity: ${notebook} tries ${key} (1 × NVIDIA A10G (24 GiB)), ...` });
const LAUNCH_REFUSED = {
    status: 255,
    diagnostics: [tries("notebook", "us-east-1a/g5.xlarge/on-demand"),
        { resource: "notebook-instance", severity: "error", message: `1 error occurred:\n\t* ${ec2CapacityError(G5, "launch")}` }],
};
const START_REFUSED = {
    status: 255,
    diagnostics: [tries("notebook", "us-east-1a/g5.xlarge/on-demand"),
        { resource: "notebook-state", severity: "error", message: ec2CapacityError(G5, "start") }],
};
const OTHER_ERROR = { status: 255, diagnostics: [{ resource: "notebook-instance", severity: "error", message: "creating EC2 Instance: VcpuLimitExceeded" }] };
const DONE = { status: 0 };

describe("scripts when EC2 has no GPU free, against the stand-in pulumi", function () {
    this.timeout(60_000);
    const worlds: StandInWorld[] = [];
    after(() => worlds.forEach((world) => world.cleanup()));

    /** A world whose `pulumi up` answers these results in turn; the stack's allowedCidrs already set. */
    function world(results: object[], extraConfig = ""): { here: StandInWorld; env: NodeJS.ProcessEnv } {
        const here = new StandInWorld();
        worlds.push(here);
        const file = path.join(here.dir, "up-results.json");
        writeFileSync(file, JSON.stringify(results));
        writeFileSync(path.join(here.project, "Pulumi.dev.yaml"), "config:\n  aws:region: us-east-1\n  gpu-notebook:allowedCidrs:\n    - 198.51.100.7/32\n" + extraConfig);
        return { here, env: { STAND_IN_UP_RESULTS: file, GPU_NOTEBOOK_RETRY_SECONDS: "0", PULUMI_BACKEND_URL: `file://${here.dir}` } };
    }

    const script = (here: StandInWorld, env: NodeJS.ProcessEnv, name: string, args: string[]): Promise<ScriptResult> =>
        runScript(name, args, here.env(env), 30_000, here.project);
    const ups = (here: StandInWorld) => here.calls().filter((call) => call.argv[0] === "up");

    it("npm run up: a launch EC2 refuses is retried at once, telling the program which candidate was full", async () => {
        const { here, env } = world([LAUNCH_REFUSED, DONE]);
        const result = await script(here, env, "up", []);
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /^gpu-notebook: notebook: no g5\.xlarge free in us-east-1a right now; trying the next candidate$/m);
        const [first, second] = ups(here);
        assert.strictEqual(first.env?.GPU_NOTEBOOK_NO_CAPACITY, "");
        assert.strictEqual(second.env?.GPU_NOTEBOOK_NO_CAPACITY, "notebook=us-east-1a/g5.xlarge/on-demand");
        assert.ok(Number(second.env?.GPU_NOTEBOOK_RUN_STARTED) > 0);
        assert.ok(first.argv.includes("--event-log"));
    });

    it("npm run up: any other error is Pulumi's own, not retried", async () => {
        const { here, env } = world([OTHER_ERROR, DONE]);
        const result = await script(here, env, "up", []);
        assert.strictEqual(result.status, 255);
        assert.strictEqual(ups(here).length, 1);
        assert.doesNotMatch(result.stdout, /free in/);
    });

    it("npm run start: retries a refused start, a line per attempt with how long it waited, then passes --yes", async () => {
        const { here, env } = world([START_REFUSED, START_REFUSED, DONE]);
        const result = await script(here, env, "power", ["start", "--wait", "5"]);
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        const lines = result.stdout.split("\n").filter((line) => line.includes("free in"));
        assert.deepStrictEqual(lines, [
            "gpu-notebook: notebook: no g5.xlarge free in us-east-1a right now; waited 0 of 5 min, trying again in 0 s",
            "gpu-notebook: notebook: no g5.xlarge free in us-east-1a right now; waited 0 of 5 min, trying again in 0 s",
        ]);
        const calls = ups(here);
        assert.strictEqual(calls.length, 3);
        assert.ok(!calls[0].argv.includes("--yes") && calls[2].argv.includes("--yes"));
        // A start never tells the program to try elsewhere: the machine keeps its zone and type.
        assert.ok(calls.every((call) => call.env?.GPU_NOTEBOOK_NO_CAPACITY === ""));
    });

    it("npm run start --wait 0: one attempt, then one line and the commands that help, no stack trace", async () => {
        const { here, env } = world([START_REFUSED]);
        const result = await script(here, env, "power", ["start", "--wait", "0"]);
        assert.strictEqual(result.status, 255);
        assert.strictEqual(ups(here).length, 1);
        assert.match(result.stdout, /^gpu-notebook: notebook: no g5\.xlarge free in us-east-1a right now \(waited 0 of 0 min\)$/m);
        assert.match(result.stdout, /npm run start -- --wait 60 .*\n.*npm run start -- --type TYPE +another of your instanceTypes, in us-east-1a/);
        assert.match(result.stdout, /\n {2}npm run move -- --zone ZONE +another zone that offers one of them: ~\/notebooks goes by snapshot,\n.*its root disk is not kept/);
        assert.doesNotMatch(result.stdout + result.stderr, /^\s+at /m);
    });

    it("npm run start --type asks the program for that type for this notebook", async () => {
        const { here, env } = world([DONE]);
        const result = await script(here, env, "power", ["start", "--type", "g6.xlarge"]);
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        assert.strictEqual(ups(here)[0].env?.GPU_NOTEBOOK_START_TYPE, "notebook=g6.xlarge");
    });

    describe("a spot machine with spotFallback on-demand", () => {
        const SPOT_FALLBACK = '  gpu-notebook:spot: "true"\n  gpu-notebook:spotFallback: on-demand\n';
        const spot = { instanceType: "g5.xlarge", zone: "us-east-1a", market: "spot" } as const;
        const SPOT_START_REFUSED = {
            status: 255,
            diagnostics: [
                { resource: "notebook", severity: "info", message: "capacity: notebook tries us-east-1a/g5.xlarge/spot (1 × NVIDIA A10G (24 GiB)), " +
                    "the zone of the notebook's data volume vol-1; no other candidate: ...; on-demand fallback: $1.006 an hour (+$0.580)" },
                { resource: "notebook-state", severity: "error", message: ec2CapacityError(spot, "start") },
            ],
        };
        const configChanges = (here: StandInWorld) => here.calls().filter((call) => call.argv[0] === "config" && ["set", "rm"].includes(call.argv[1]));

        it("start --wait 0 offers --on-demand, with the price difference, after the wait", async () => {
            const { here, env } = world([SPOT_START_REFUSED], SPOT_FALLBACK);
            const result = await script(here, env, "power", ["start", "--wait", "0"]);
            assert.strictEqual(result.status, 255);
            assert.match(result.stdout, /^gpu-notebook: notebook: no spot g5\.xlarge free in us-east-1a right now \(waited 0 of 0 min\)$/m);
            assert.match(result.stdout, /\n {2}npm run start -- --on-demand +replace the spot machine by an on-demand one in us-east-1a \(\$1\.006 an hour \(\+\$0\.580\)\):\n +data volume and address kept, root disk not\n/);
        });

        it("an on-demand machine's refused start offers no --on-demand", async () => {
            const { here, env } = world([START_REFUSED]);
            const result = await script(here, env, "power", ["start", "--wait", "0"]);
            assert.doesNotMatch(result.stdout, /--on-demand/);
        });

        it("start --on-demand without a terminal and without --yes is refused before anything changes", async () => {
            const { here, env } = world([DONE], SPOT_FALLBACK);
            const result = await script(here, env, "power", ["start", "--on-demand"]);
            assert.strictEqual(result.status, 1);
            assert.strictEqual(result.stderr.trim(), "gpu-notebook: --on-demand replaces the machine and does not keep its root disk, and there is " +
                "no terminal to ask on: add --yes to replace it");
            assert.deepStrictEqual(here.calls(), []);
        });

        it("start --on-demand --yes asks the program for on-demand for this notebook, and Pulumi asks nothing more", async () => {
            const { here, env } = world([DONE], SPOT_FALLBACK);
            const result = await script(here, env, "power", ["start", "--on-demand", "--yes"]);
            assert.strictEqual(result.status, 0, result.stdout + result.stderr);
            const [up] = ups(here);
            assert.strictEqual(up.env?.GPU_NOTEBOOK_START_MARKET, "notebook=on-demand");
            assert.ok(up.argv.includes("--yes"));
        });

        it("start --on-demand on a terminal says the root disk is not kept and asks; no changes nothing", () => {
            const { here, env } = world([DONE], SPOT_FALLBACK);
            const ran = spawnSync("script", ["-qec", "bash scripts/power start --on-demand", "/dev/null"],
                { cwd: here.project, env: here.env(env), input: "n\n", encoding: "utf8", timeout: 30_000 });
            assert.strictEqual(ran.status, 1, ran.stdout);
            assert.match(ran.stdout, /^  Kept: the data volume, ~\/notebooks, with your packages and caches on it/m);
            assert.match(ran.stdout, /^  Re-created: the new machine runs your setup file/m);
            assert.match(ran.stdout, /^  Lost: everything else outside ~\/notebooks, as the root disk is NOT kept/m);
            assert.match(ran.stdout, /Replace it\? \[y\/N\]/);
            assert.match(ran.stdout, /not replaced; nothing was changed/);
            assert.deepStrictEqual(configChanges(here), []);
            assert.strictEqual(ups(here).length, 0);
        });

        for (const [what, config, refusal] of [
            ["an on-demand notebook", "", "gpu-notebook: --on-demand: the notebook is not a spot notebook (gpu-notebook:spot is false): it runs on-demand already"],
            ["a spot notebook without spotFallback", '  gpu-notebook:spot: "true"\n', "gpu-notebook: --on-demand: gpu-notebook:spotFallback is not on-demand; it " +
                "replaces a spot machine by an on-demand one only when allowed: pulumi config set spotFallback on-demand"],
        ]) {
            it(`start --on-demand on ${what} is refused in one line, changing nothing`, async () => {
                const { here, env } = world([DONE], config);
                const result = await script(here, env, "power", ["start", "--on-demand", "--yes"]);
                assert.strictEqual(result.status, 1);
                assert.strictEqual(result.stderr.trim(), refusal);
                assert.deepStrictEqual(configChanges(here), []);
                assert.strictEqual(ups(here).length, 0);
            });
        }
    });

    it("refuses a --wait that is not minutes, before calling Pulumi's up", async () => {
        const { here, env } = world([DONE]);
        const result = await script(here, env, "power", ["start", "--wait", "soon"]);
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /--wait soon: a whole number of minutes/);
        assert.strictEqual(ups(here).length, 0);
    });
});
