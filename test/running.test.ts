// Whether a notebook's machine runs after a run (components/running.ts): only npm run start starts
// a machine that stopped (idle stop, the backstop, the console); a plain `pulumi up` or npm run up
// for any other change keeps it stopped and says so. The rule as a table, then the whole program.
import * as assert from "assert";

import { START_ENV } from "../components/contract";
import { MockCloud } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { decideRunning, RunningFacts, startRequested } from "../components/running";
import { runProgram, VALID_CONFIG } from "./support/program";
import { INSTANCE_STATE } from "./support/types";

describe("the machine's power state (running.ts)", () => {
    describe("decideRunning", () => {
        const cases: [string, Omit<RunningFacts, "name">, "running" | "stopped", boolean][] = [
            ["running false stops it", { running: false, machineState: "running", startRequested: false }, "stopped", false],
            ["running false stops it, even when a start is asked", { running: false, machineState: "stopped", startRequested: true }, "stopped", false],
            ["a new machine runs", { running: true, startRequested: false }, "running", false],
            ["a running machine keeps running", { running: true, machineState: "running", startRequested: false }, "running", false],
            ["a starting machine keeps running", { running: true, machineState: "pending", startRequested: false }, "running", false],
            ["a stopped machine stays stopped without a start", { running: true, machineState: "stopped", startRequested: false }, "stopped", true],
            ["a stopping machine stays stopped without a start", { running: true, machineState: "stopping", startRequested: false }, "stopped", true],
            ["npm run start starts a stopped machine", { running: true, machineState: "stopped", startRequested: true }, "running", false],
        ];
        for (const [what, facts, state, says] of cases) {
            it(what, () => {
                const decision = decideRunning({ name: "notebook", ...facts });
                assert.strictEqual(decision.state, state);
                assert.strictEqual(decision.kept !== undefined, says);
            });
        }

        it("names npm run start in its one line, with --notebook in a stack of several", () => {
            const facts = { running: true, machineState: "stopped", startRequested: false };
            assert.match(decideRunning({ name: "notebook", ...facts }).kept ?? "", /stays stopped: `npm run start` starts it$/);
            assert.match(decideRunning({ name: "alice", ...facts }).kept ?? "", /^alice: .*`npm run start -- --notebook alice` starts it$/);
        });
    });

    describe("startRequested", () => {
        const cases: [string | undefined, string, boolean][] = [
            [undefined, "notebook", false], ["", "notebook", false], ["notebook", "notebook", true], ["alice bob", "bob", true],
            ["alice", "bob", false], ["*", "carol", true], ["alicia", "alice", false],
        ];
        for (const [value, name, wanted] of cases) {
            it(`${START_ENV}=${JSON.stringify(value)} ${wanted ? "starts" : "does not start"} ${name}`, () => {
                assert.strictEqual(startRequested(name, value === undefined ? {} : { [START_ENV]: value }), wanted);
            });
        }
    });

    describe("the whole program", () => {
        /** The account after a run that left the machine running, which then stopped on its own (idle stop). */
        async function idleStopped(): Promise<MockCloud> {
            const cloud = new MockCloud().deployedBy((await runProgram(VALID_CONFIG)).cloud);
            cloud.world.instances.forEach((instance) => { instance.state = "stopped"; });
            return cloud;
        }

        it("a plain run keeps a machine idle stop powered off stopped, says so in one line, and reports it not running", async () => {
            const run = await runProgram({ ...VALID_CONFIG, running: "true", idleStopMinutes: "30" }, await idleStopped());
            assert.strictEqual(run.cloud.one(INSTANCE_STATE).inputs.state, "stopped");
            const lines = run.infos.filter((line) => line.includes("stays stopped"));
            assert.deepStrictEqual(lines, ["notebook: the machine is stopped (idle stop, npm run stop or the console) and stays stopped: `npm run start` starts it"]);
            assert.strictEqual(await unwrap(run.outputs.running), false);
        });

        it("a run npm run start asked for starts it", async () => {
            process.env[START_ENV] = "notebook";
            try {
                const run = await runProgram({ ...VALID_CONFIG, running: "true" }, await idleStopped());
                assert.strictEqual(run.cloud.one(INSTANCE_STATE).inputs.state, "running");
                assert.ok(!run.infos.some((line) => line.includes("stays stopped")));
                assert.strictEqual(await unwrap(run.outputs.running), true);
            } finally {
                delete process.env[START_ENV];
            }
        });

        it("a new machine, and one that runs, run as before", async () => {
            const first = await runProgram(VALID_CONFIG);
            assert.strictEqual(first.cloud.one(INSTANCE_STATE).inputs.state, "running");
            const again = await runProgram(VALID_CONFIG, new MockCloud().deployedBy(first.cloud));
            assert.strictEqual(again.cloud.one(INSTANCE_STATE).inputs.state, "running");
        });
    });
});
