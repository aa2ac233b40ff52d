// npm run move against the stand-in Pulumi CLI: what it refuses before anything changes, how it
// asks (on a terminal) or needs --yes, what it runs, and what a failed move says.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { writeFileSync } from "fs";
import * as path from "path";

import { CAPACITY_ENV } from "../components/contract";
import { refusedRun } from "./support/capacity";
import { runScript, ScriptResult } from "./support/scripts";
import { StandInWorld } from "./support/stand-ins";

const STACK_FILE = "config:\n  aws:region: us-east-1\n  gpu-notebook:allowedCidrs:\n    - 198.51.100.7/32\n";
const ZONE_REFUSED = 'gpu-notebook:moveToZone = "us-east-1e" is not accepted: a zone of the stack\'s region us-east-1 that offers one of ' +
    "the candidate types (g5.xlarge and g6.xlarge): us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f";
const RUNNING_REFUSED = "the notebook's machine i-0123 is running in us-east-1a, and a move to us-east-1c (gpu-notebook:moveToZone) copies " +
    "its data volume while nothing writes to it: stop it first with `npm run stop`, then move it. Nothing was changed.";
const refusedWith = (message: string) => ({ status: 255, diagnostics: [{ resource: "gpu-notebook-dev", severity: "error", message }] });
const LAUNCH_REFUSED = refusedRun("notebook", { instanceType: "g5.xlarge", zone: "us-east-1c", market: "on-demand" }, "launch");
const OTHER_ERROR = { status: 255, diagnostics: [{ resource: "notebook-instance", severity: "error", message: "creating EC2 Instance: VcpuLimitExceeded" }] };

describe("npm run move, against the stand-in pulumi", function () {
    this.timeout(60_000);
    const worlds: StandInWorld[] = [];
    after(() => worlds.forEach((world) => world.cleanup()));

    /** A deployed notebook in us-east-1a; previews and ups answer these results in turn. */
    function world(
        previews: object[], ups: object[], stackFile = STACK_FILE,
        outputs: Record<string, unknown> = { availabilityZone: "us-east-1a", instanceType: "g5.xlarge", running: true },
    ): { here: StandInWorld; env: NodeJS.ProcessEnv } {
        const here = new StandInWorld({ ownPassphrase: "the user's own" });
        worlds.push(here);
        writeFileSync(path.join(here.project, "Pulumi.dev.yaml"), stackFile);
        const backend = { PULUMI_BACKEND_URL: `file://${here.dir}` };
        here.setOutputs(outputs, []);
        here.deployStack(backend);
        const files = { STAND_IN_PREVIEW_RESULTS: path.join(here.dir, "previews.json"), STAND_IN_UP_RESULTS: path.join(here.dir, "ups.json") };
        writeFileSync(files.STAND_IN_PREVIEW_RESULTS, JSON.stringify(previews));
        writeFileSync(files.STAND_IN_UP_RESULTS, JSON.stringify(ups));
        return { here, env: { ...backend, ...files, GPU_NOTEBOOK_RETRY_SECONDS: "0" } };
    }

    const move = (here: StandInWorld, env: NodeJS.ProcessEnv, args: string[]): Promise<ScriptResult> =>
        runScript("move", args, here.env(env), 45_000, here.project);

    /** Runs npm run move on a terminal (a pseudo-terminal from script(1)), typing `typed`. */
    function moveOnTerminal(here: StandInWorld, env: NodeJS.ProcessEnv, args: string[], typed: string): ScriptResult {
        const started = Date.now();
        const command = ["bash", "scripts/move", ...args].join(" ");
        const ran = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: here.project, env: here.env(env), input: typed, encoding: "utf8", timeout: 45_000 });
        return { status: ran.status, stdout: ran.stdout, stderr: ran.stderr, ms: Date.now() - started };
    }

    const commands = (here: StandInWorld) => here.calls().map((call) => call.argv[0]).filter((verb) => verb === "preview" || verb === "up");
    const setting = (here: StandInWorld) => here.stackConfig("dev")["gpu-notebook:moveToZone"];

    describe("refusals, each one line, nothing changed", () => {
        it("without a terminal and without --yes: checks the stack is there, then says to add --yes, changing nothing", async () => {
            const { here, env } = world([], []);
            const result = await move(here, env, ["--zone", "us-east-1c"]);
            assert.strictEqual(result.status, 1);
            assert.strictEqual(result.stderr.trim(), "gpu-notebook: a move recreates the machine and does not keep its root disk, and there is " +
                "no terminal to ask on: add --yes to move it");
            // Only reads: whether the stack is there and deployed (npm run up creates it otherwise).
            assert.deepStrictEqual(here.callLines().filter((line) => !/^(whoami|stack --show-name|stack select dev --non-interactive|stack output --json) /.test(line)), []);
        });

        it("the zone the notebook is in already", async () => {
            const { here, env } = world([], []);
            const result = await move(here, env, ["--zone", "us-east-1a", "--yes"]);
            assert.strictEqual(result.status, 1);
            assert.strictEqual(result.stderr.trim(), "gpu-notebook: --zone us-east-1a: the notebook is in us-east-1a already; give another " +
                "zone of the region that offers one of your instanceTypes (npm run plan lists them)");
            assert.deepStrictEqual(commands(here), []);
            assert.strictEqual(setting(here), undefined);
        });

        it("a --zone that is not a zone name, and a missing --zone", async () => {
            const { here, env } = world([], []);
            const bad = await move(here, env, ["--zone", "east", "--yes"]);
            assert.strictEqual(bad.stderr.trim(), "gpu-notebook: --zone east: an availability zone name of the stack's region, such as us-east-1c");
            const missing = await move(here, env, ["--yes"]);
            assert.match(missing.stderr, /^gpu-notebook: --zone ZONE is needed/);
            assert.deepStrictEqual(here.calls(), []);
        });

        for (const [what, message] of [["a zone that offers no candidate", ZONE_REFUSED], ["a running machine", RUNNING_REFUSED]]) {
            it(`${what}: the program's refusal in one line, the setting put back, no update`, async () => {
                const { here, env } = world([refusedWith(message)], []);
                const zone = what.startsWith("a zone") ? "us-east-1e" : "us-east-1c";
                const result = await move(here, env, ["--zone", zone, "--yes"]);
                assert.strictEqual(result.status, 1);
                const lines = result.stderr.trim().split("\n");
                assert.deepStrictEqual(lines, [`gpu-notebook: ${message}`,
                    `gpu-notebook: the move of the notebook to ${zone} was refused (see above); nothing was changed`]);
                assert.deepStrictEqual(commands(here), ["preview"]);
                assert.strictEqual(setting(here), undefined, "moveToZone is unset again");
            });
        }
    });

    it("--yes: sets moveToZone, previews, then copies and (two runs) removes the old volume and the snapshot", async () => {
        const { here, env } = world([{ status: 0 }], [{ status: 0 }]);
        const result = await move(here, env, ["--zone", "us-east-1c", "--yes"]);
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        assert.strictEqual(setting(here), "us-east-1c");
        assert.deepStrictEqual(commands(here), ["preview", "up", "up", "up"]);
        assert.ok(here.calls().filter((call) => call.argv[0] === "up").every((call) => call.argv.includes("--yes")));
        assert.match(result.stdout, /gpu-notebook: the notebook moved to us-east-1c; the old data volume and the move's snapshot are deleted\. The old volume$/m);
        assert.match(result.stdout, /left a final snapshot, as pulumi destroy does .*delete it in the EC2 console/);
    });

    it("a move that fails keeps moveToZone, says the data is safe and how to continue, and the same command continues it", async () => {
        const { here, env } = world([{ status: 0 }], [OTHER_ERROR, { status: 0 }]);
        const failed = await move(here, env, ["--zone", "us-east-1c", "--yes"]);
        assert.strictEqual(failed.status, 255);
        assert.match(failed.stderr, /the move of the notebook to us-east-1c did not finish\. Your data is safe: the old data volume and the move's\n {2}snapshot are kept\. Run 'npm run move -- --zone us-east-1c --yes' again to continue it/);
        assert.strictEqual(setting(here), "us-east-1c");
        here.forgetCalls();
        const again = await move(here, env, ["--zone", "us-east-1c", "--yes"]);
        assert.strictEqual(again.status, 0, again.stdout + again.stderr);
        assert.deepStrictEqual(commands(here), ["preview", "up", "up", "up"]);
    });

    it("after a failed move, the zone the notebook is still in cancels it, without asking", async () => {
        const { here, env } = world([{ status: 0 }], [OTHER_ERROR, { status: 0 }]);
        await move(here, env, ["--zone", "us-east-1c", "--yes"]);
        here.forgetCalls();
        const back = moveOnTerminal(here, env, ["--zone", "us-east-1a"], "");
        assert.strictEqual(back.status, 0, back.stdout);
        assert.doesNotMatch(back.stdout, /\[y\/N\]/);
        assert.match(back.stdout, /gpu-notebook: the notebook stays in us-east-1a; the unfinished move's copy and snapshot are deleted\./);
        assert.strictEqual(setting(here), "us-east-1a");
        assert.deepStrictEqual(commands(here), ["preview", "up", "up", "up"]);
    });

    it("no GPU free in the new zone for the first candidate: the next candidate is tried there, in the same run", async () => {
        const { here, env } = world([{ status: 0 }], [LAUNCH_REFUSED, { status: 0 }]);
        const result = await move(here, env, ["--zone", "us-east-1c", "--yes"]);
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /no g5\.xlarge free in us-east-1c right now; trying the next candidate/);
        const ups = here.calls().filter((call) => call.argv[0] === "up");
        assert.strictEqual(ups[1].env?.[CAPACITY_ENV.full], "notebook=us-east-1c/g5.xlarge/on-demand");
    });

    describe("in a class (--notebook)", () => {
        const CLASS_FILE = STACK_FILE + "  gpu-notebook:notebooks:\n    alice: {}\n    bob: {}\n";
        const outputs = { notebooks: { alice: { availabilityZone: "us-east-1a" }, bob: { availabilityZone: "us-east-1b" } } };

        it("moves the notebook named, setting its own moveToZone", async () => {
            const { here, env } = world([{ status: 0 }], [{ status: 0 }], CLASS_FILE, outputs);
            const result = await move(here, env, ["--notebook", "bob", "--zone", "us-east-1c", "--yes"]);
            assert.strictEqual(result.status, 0, result.stdout + result.stderr);
            assert.deepStrictEqual(here.stackConfig("dev")["gpu-notebook:notebooks"], { alice: {}, bob: { moveToZone: "us-east-1c" } });
            assert.match(result.stdout, /the notebook bob moved to us-east-1c/);
        });

        it("compares --zone with the named notebook's zone, and puts its setting back on a refusal", async () => {
            const { here, env } = world([refusedWith("refused by the program")], [], CLASS_FILE, outputs);
            const same = await move(here, env, ["--notebook", "bob", "--zone", "us-east-1b", "--yes"]);
            assert.match(same.stderr, /^gpu-notebook: --zone us-east-1b: the notebook bob is in us-east-1b already/);
            const refused = await move(here, env, ["--notebook", "alice", "--zone", "us-east-1c", "--yes"]);
            assert.strictEqual(refused.status, 1);
            assert.deepStrictEqual(here.stackConfig("dev")["gpu-notebook:notebooks"], { alice: {}, bob: {} });
        });

        it("without --notebook, refuses listing the notebooks", async () => {
            const { here, env } = world([], [], CLASS_FILE, outputs);
            const result = await move(here, env, ["--zone", "us-east-1c", "--yes"]);
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, /alice.*bob/);
            assert.deepStrictEqual(commands(here), []);
        });
    });

    describe("on a terminal", () => {
        it("says the root disk is not kept and asks; no (or Enter) changes nothing", () => {
            for (const typed of ["n\n", "\n"]) {
                const { here, env } = world([{ status: 0 }], [{ status: 0 }]);
                const result = moveOnTerminal(here, env, ["--zone", "us-east-1c"], typed);
                assert.strictEqual(result.status, 1, result.stdout);
                assert.match(result.stdout, /^  Kept: the data volume, ~\/notebooks, with your packages and caches on it/m);
                assert.match(result.stdout, /^  Re-created: the new machine runs your setup file, ~\/notebooks\/\.gpu-notebook\/setup, once before Jupyter starts/m);
                assert.match(result.stdout, /^  Lost: everything else outside ~\/notebooks, as the root disk is NOT kept: apt installs/m);
                assert.match(result.stdout, /Move it\? \[y\/N\]/);
                assert.match(result.stdout, /not moved; nothing was changed/);
                assert.deepStrictEqual(commands(here), ["preview"]);
                assert.strictEqual(setting(here), undefined);
            }
        });

        it("yes moves it", () => {
            const { here, env } = world([{ status: 0 }], [{ status: 0 }]);
            const result = moveOnTerminal(here, env, ["--zone", "us-east-1c"], "y\n");
            assert.strictEqual(result.status, 0, result.stdout);
            assert.deepStrictEqual(commands(here), ["preview", "up", "up", "up"]);
            assert.strictEqual(setting(here), "us-east-1c");
        });
    });
});
