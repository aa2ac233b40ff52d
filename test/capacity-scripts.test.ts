// npm run up and npm run start when EC2 has no GPU free, against the stand-in Pulumi CLI answering
// with EC2's real error text in the engine's event log: what they retry, what they tell the
// program, and what they say.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";

import { CAPACITY_ENV } from "../components/contract";
import { refusedRun } from "./support/capacity";
import { runScript, ScriptResult } from "./support/scripts";
import { StandInWorld } from "./support/stand-ins";

const G5 = { instanceType: "g5.xlarge", zone: "us-east-1a", market: "on-demand" } as const;
const LAUNCH_REFUSED = refusedRun("notebook", G5, "launch");
const START_REFUSED = refusedRun("notebook", G5, "start");
const OTHER_ERROR = { status: 255, diagnostics: [{ resource: "notebook-instance", severity: "error", message: "creating EC2 Instance: VcpuLimitExceeded" }] };
const DONE = { status: 0 };

describe("scripts when EC2 has no GPU free, against the stand-in pulumi", function () {
    this.timeout(60_000);
    const worlds: StandInWorld[] = [];
    after(() => worlds.forEach((world) => world.cleanup()));

    /** A world whose `pulumi up` answers these results in turn; the stack's allowedCidrs already set. */
    function world(results: object[], extraConfig = ""): { here: StandInWorld; env: NodeJS.ProcessEnv } {
        const here = new StandInWorld({ ownPassphrase: "the user's own" });
        worlds.push(here);
        const file = path.join(here.dir, "up-results.json");
        writeFileSync(file, JSON.stringify(results));
        writeFileSync(path.join(here.project, "Pulumi.dev.yaml"), "config:\n  aws:region: us-east-1\n  gpu-notebook:allowedCidrs:\n    - 198.51.100.7/32\n" + extraConfig);
        // Deployed: npm run start acts on a notebook that exists.
        here.setOutputs({ instanceId: "i-0123456789abcdef0", running: false }, []);
        here.deployStack({ PULUMI_BACKEND_URL: `file://${here.dir}` });
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
        assert.strictEqual(first.env?.[CAPACITY_ENV.full], "");
        assert.strictEqual(second.env?.[CAPACITY_ENV.full], "notebook=us-east-1a/g5.xlarge/on-demand");
        assert.ok(Number(second.env?.[CAPACITY_ENV.started]) > 0);
        assert.ok(first.argv.includes("--event-log"));
        assert.doesNotMatch(result.stdout + result.stderr, /gpu-notebook-capacity/, "the record is for the driver, not the user");
    });

    it("npm run up: any other error is Pulumi's own, not retried", async () => {
        const { here, env } = world([OTHER_ERROR, DONE]);
        const result = await script(here, env, "up", []);
        assert.strictEqual(result.status, 255);
        assert.strictEqual(ups(here).length, 1);
        assert.doesNotMatch(result.stdout, /free in/);
    });

    it("npm run up: the program's words without its record are not read: EC2's refusal is then Pulumi's own error", async () => {
        const [line, , refusal] = LAUNCH_REFUSED.diagnostics;
        const { here, env } = world([{ status: 255, diagnostics: [line, refusal] }, DONE]);
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
        assert.ok(calls.every((call) => call.env?.[CAPACITY_ENV.full] === ""));
    });

    it("npm run start: the pause between tries doubles from GPU_NOTEBOOK_RETRY_SECONDS up to 300 s", async () => {
        const { here, env } = world([START_REFUSED, START_REFUSED, START_REFUSED, START_REFUSED, DONE]);
        // A stand-in sleep that records each pause and returns at once.
        const pauses = path.join(here.dir, "pauses");
        writeFileSync(path.join(here.bin, "sleep"), `#!/bin/sh\necho "$@" >> '${pauses}'\n`, { mode: 0o755 });
        const result = await script(here, { ...env, GPU_NOTEBOOK_RETRY_SECONDS: "100" }, "power", ["start", "--wait", "60"]);
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        assert.deepStrictEqual(readFileSync(pauses, "utf8").split("\n").filter(Boolean), ["100", "200", "300", "300"]);
        assert.deepStrictEqual(result.stdout.match(/trying again in \d+ s/g), ["100", "200", "300", "300"].map((pause) => `trying again in ${pause} s`));
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
        assert.strictEqual(ups(here)[0].env?.[CAPACITY_ENV.type], "notebook=g6.xlarge");
    });

    describe("a spot machine with spotFallback on-demand", () => {
        const SPOT_FALLBACK = '  gpu-notebook:spot: "true"\n  gpu-notebook:spotFallback: on-demand\n';
        const spot = { ...G5, market: "spot" } as const;
        const onDemandFallback = { usdPerHour: 1.006, spotUsdPerHour: 0.426 };
        const SPOT_START_REFUSED = refusedRun("notebook", spot, "start", { onDemandFallback });
        const configChanges = (here: StandInWorld) => here.calls().filter((call) => call.argv[0] === "config" && ["set", "rm"].includes(call.argv[1]));

        it("start --wait 0 offers --on-demand, with the price difference, after the wait", async () => {
            const { here, env } = world([SPOT_START_REFUSED], SPOT_FALLBACK);
            const result = await script(here, env, "power", ["start", "--wait", "0"]);
            assert.strictEqual(result.status, 255);
            assert.match(result.stdout, /^gpu-notebook: notebook: no spot g5\.xlarge free in us-east-1a right now \(waited 0 of 0 min\)$/m);
            assert.match(result.stdout, /\n {2}npm run start -- --on-demand +replace the spot machine by an on-demand one in us-east-1a \(\$1\.006 an hour \(\+\$0\.580\)\):\n +data volume and address kept, root disk not\n/);
        });

        it("reads the record, not the words: a reworded line, or none, changes neither the failover nor the offer", async () => {
            for (const userLine of ["Capacity — the notebook will try a spot g5.xlarge in us-east-1a; on-demand would be $9.99", undefined]) {
                const { here, env } = world([refusedRun("notebook", spot, "start", { userLine, onDemandFallback })], SPOT_FALLBACK);
                const result = await script(here, env, "power", ["start", "--wait", "0"]);
                assert.strictEqual(result.status, 255);
                assert.match(result.stdout, /^gpu-notebook: notebook: no spot g5\.xlarge free in us-east-1a right now \(waited 0 of 0 min\)$/m, String(userLine));
                assert.match(result.stdout, /npm run start -- --on-demand +replace the spot machine by an on-demand one in us-east-1a \(\$1\.006 an hour \(\+\$0\.580\)\)/);
                const { here: launched, env: launchEnv } = world([refusedRun("notebook", spot, "launch", { userLine }), DONE]);
                assert.strictEqual((await script(launched, launchEnv, "up", [])).status, 0);
                assert.strictEqual(ups(launched)[1].env?.[CAPACITY_ENV.full], "notebook=us-east-1a/g5.xlarge/spot", String(userLine));
            }
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
            // Only reads: whether the stack is there and deployed.
            assert.deepStrictEqual(here.callLines().filter((line) => !/^(whoami|stack --show-name|stack select dev --non-interactive|stack output --json) /.test(line)), []);
        });

        it("start --on-demand --yes asks the program for on-demand for this notebook, and Pulumi asks nothing more", async () => {
            const { here, env } = world([DONE], SPOT_FALLBACK);
            const result = await script(here, env, "power", ["start", "--on-demand", "--yes"]);
            assert.strictEqual(result.status, 0, result.stdout + result.stderr);
            const [up] = ups(here);
            assert.strictEqual(up.env?.[CAPACITY_ENV.market], "notebook=on-demand");
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
            // The program's own words (components/capacity.ts onDemandRefusal), asked before the user is.
            ["an on-demand notebook", "", "gpu-notebook: --on-demand: gpu-notebook:spot = false is not accepted: true: --on-demand replaces a " +
                "spot machine by an on-demand one, and this notebook runs on-demand already"],
            ["a spot notebook without spotFallback", '  gpu-notebook:spot: "true"\n', "gpu-notebook: --on-demand: gpu-notebook:spotFallback = \"\" " +
                "is not accepted: on-demand: --on-demand replaces the spot machine by an on-demand one only when the notebook allows that " +
                "fallback (pulumi config set spotFallback on-demand)"],
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
