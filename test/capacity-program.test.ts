// Capacity failover with the whole program under the offline engine: the account says which
// (zone, type, market) have no free machine at launch and at start, and a small driver does what
// npm run up does (scripts/lib/capacity.sh): run, read what EC2 refused with the driver's own
// reader (scripts/lib/capacity.js) from what the event log would hold, tell the program, run again.
import * as assert from "assert";

import { Candidate, candidateKey, capacityRecords, CapacityRefusal } from "../components/capacity";
import { CAPACITY_ENV } from "../components/contract";
import { START_ENV } from "../components/contract";
import { CapacityScenario, FakeAws, MockCloud, SAMPLE_PRICES } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { registered, runProgram, StackRun, VALID_CONFIG } from "./support/program";
import { INSTANCE, VOLUME } from "./support/types";

// The driver's reader, as the scripts run it.
const { capacityFailures } = require("../scripts/lib/capacity.js") as {
    capacityFailures(found: { name: string; severity: string; message: string }[]): CapacityRefusal[];
};

/**
 * What the driver finds in the event log of a run that failed: the program's debug lines (its
 * records) beside the error on each resource the account refused, then checked against what the
 * account refused, so the record names what the program really asked EC2 for.
 */
function driverFinds(debugs: string[], cloud: MockCloud, error: Error): CapacityRefusal[] {
    const found = capacityFailures([
        ...debugs.map((message) => ({ name: "notebook", severity: "debug", message })),
        ...cloud.refused.map(({ resource }) => ({ name: resource, severity: "error", message: error.message })),
    ]);
    const key = ({ action, candidate }: { action: string; candidate: Candidate }) => `${action} ${candidateKey(candidate)}`;
    assert.deepStrictEqual(found.map(key), cloud.refused.map(key), "the driver finds what EC2 refused, for the candidate it refused");
    return found;
}

const CANDIDATES = { ...VALID_CONFIG, instanceTypes: JSON.stringify(["g5.xlarge", "g6.xlarge"]) };
/** When the driver began: before the clock of every fake run below, so what those runs made counts as this run's. */
const STARTED = Date.parse("2026-10-31T00:00:00Z");

/** Runs with the driver's environment for one notebook, restoring the environment after. */
async function withHints<T>(hints: Record<string, string>, work: () => Promise<T>): Promise<T> {
    const saved = Object.fromEntries([...Object.values(CAPACITY_ENV), START_ENV].map((name) => [name, process.env[name]]));
    Object.assign(process.env, hints);
    try {
        return await work();
    } finally {
        for (const [name, value] of Object.entries(saved)) {
            if (value === undefined) {
                delete process.env[name];
            } else {
                process.env[name] = value;
            }
        }
    }
}

interface Driven {
    run?: StackRun;
    error?: Error;
    /** The candidates EC2 refused, in the order tried. */
    refused: string[];
    /** The account after each attempt. */
    clouds: MockCloud[];
}

/**
 * What npm run up does: run; on a refused launch, tell the program which candidate was full and
 * run again, each attempt seeing what the earlier ones made (their volume, their address).
 */
async function upWithFailover(config: Record<string, string>, world: Partial<FakeAws>, after?: MockCloud): Promise<Driven> {
    const refused: string[] = [];
    const clouds: MockCloud[] = [];
    for (let attempt = 0; attempt < 12; attempt += 1) {
        const cloud = new MockCloud({ world });
        const previous = clouds[clouds.length - 1] ?? after;
        if (previous) {
            cloud.deployedBy(previous);
        }
        clouds.push(cloud);
        const debugs: string[] = [];
        try {
            const run = await withHints({
                [CAPACITY_ENV.full]: refused.map((key) => `notebook=${key}`).join(" "),
                [CAPACITY_ENV.started]: String(STARTED),
            }, () => runProgram(config, cloud, debugs));
            return { run, refused, clouds };
        } catch (error) {
            const launch = driverFinds(debugs, cloud, error as Error).find((refusal) => refusal.action === "launch");
            if (!launch) {
                return { error: error as Error, refused, clouds };
            }
            assert.match((error as Error).message, /InsufficientInstanceCapacity/);
            refused.push(candidateKey(launch.candidate));
        }
    }
    throw new Error("the driver never stopped");
}

function noCapacity(scenario: Partial<CapacityScenario>): Partial<FakeAws> {
    return { noCapacity: { launch: [], start: [], ...scenario } };
}

const zoneOf = (run: StackRun) => unwrap(run.outputs.availabilityZone);

describe("capacity failover, whole program", () => {
    it("first choice full: the machine is made in the next offering zone, with its data volume there", async () => {
        const driven = await upWithFailover(CANDIDATES, noCapacity({ launch: ["us-east-1a/g5.xlarge/on-demand"] }));
        assert.ok(driven.run, driven.error?.message);
        assert.deepStrictEqual(driven.refused, ["us-east-1a/g5.xlarge/on-demand"]);
        const { cloud } = driven.run;
        assert.strictEqual(await zoneOf(driven.run), "us-east-1b");
        assert.strictEqual(cloud.one(INSTANCE).inputs.instanceType, "g5.xlarge");
        // The first attempt made a volume in us-east-1a before EC2 refused the machine; it holds nothing and follows.
        assert.strictEqual(driven.clouds[0].one(VOLUME).inputs.availabilityZone, "us-east-1a");
        assert.strictEqual(cloud.one(VOLUME).inputs.availabilityZone, "us-east-1b");
        const volumeOptions = driven.run.options.find((each) => each.type === VOLUME)?.opts;
        assert.deepStrictEqual(volumeOptions?.ignoreChanges, ["snapshotId"]);
        // The run says what it tried and what it got.
        assert.ok(driven.run.infos.some((line) => line.startsWith("capacity: notebook tries us-east-1b/g5.xlarge/on-demand (1 × NVIDIA A10G (24 GiB))") &&
            line.includes("EC2 had none of us-east-1a/g5.xlarge/on-demand in this run")), driven.run.infos.join("\n"));
        assert.strictEqual(await unwrap(driven.run.outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g5.xlarge"].onDemand);
    });

    it("every zone of the first type full: the next type, and its price", async () => {
        const g5Zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"].map((zone) => `${zone}/g5.xlarge/on-demand`);
        const driven = await upWithFailover(CANDIDATES, noCapacity({ launch: g5Zones }));
        assert.ok(driven.run, driven.error?.message);
        assert.deepStrictEqual(driven.refused, g5Zones);
        assert.strictEqual(driven.run.cloud.one(INSTANCE).inputs.instanceType, "g6.xlarge");
        assert.strictEqual(await zoneOf(driven.run), "us-east-1a");
        assert.strictEqual(await unwrap(driven.run.outputs.instanceType), "g6.xlarge");
        assert.strictEqual(await unwrap(driven.run.outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g6.xlarge"].onDemand);
    });

    it("every candidate full: refused, naming what was full and what helps, and the refused run created nothing", async () => {
        const zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"];
        const all = ["g5.xlarge", "g6.xlarge"].flatMap((type) => zones.map((zone) => `${zone}/${type}/on-demand`));
        const driven = await upWithFailover(CANDIDATES, noCapacity({ launch: all }));
        assert.strictEqual(driven.run, undefined);
        assert.strictEqual(driven.refused.length, all.length);
        assert.match(driven.error?.message ?? "", /no GPU free right now: EC2 had no capacity for us-east-1a g5\.xlarge on-demand, .* and us-east-1f g6\.xlarge on-demand/);
        assert.match(driven.error?.message ?? "", /npm run start -- --wait 30\), or add types to gpu-notebook:instanceTypes/);
        assert.deepStrictEqual(registered(driven.clouds[driven.clouds.length - 1]), []);
    });

    it("a plain pulumi up (no driver) tries only the first candidate and says npm run up tries the others", async () => {
        const cloud = new MockCloud({ world: noCapacity({ launch: ["us-east-1a/g5.xlarge/on-demand"] }) });
        await assert.rejects(runProgram(CANDIDATES, cloud), /InsufficientInstanceCapacity: We currently do not have sufficient g5\.xlarge capacity in the Availability Zone you requested \(us-east-1a\)/);
        const plain = await runProgram(CANDIDATES);
        assert.ok(plain.infos.some((line) => /tries us-east-1a\/g5\.xlarge\/on-demand .*9 more candidates after it: if EC2 has no capacity, `npm run up` tries them/.test(line)), plain.infos.join("\n"));
    });

    describe("a stopped notebook", () => {
        async function stopped(config: Record<string, string>): Promise<MockCloud> {
            return (await runProgram({ ...config, running: "false" })).cloud;
        }

        it("a start into a full zone fails with EC2's words and changes neither zone nor type", async () => {
            const before = await stopped(CANDIDATES);
            const cloud = new MockCloud({ world: noCapacity({ start: ["us-east-1a/g5.xlarge/on-demand"] }) }).deployedBy(before);
            const debugs: string[] = [];
            const error = await withHints({ [START_ENV]: "notebook" }, () => runProgram(CANDIDATES, cloud, debugs)).then(() => undefined, (failure: Error) => failure);
            assert.match(error?.message ?? "", /InsufficientInstanceCapacity: We currently do not have sufficient g5\.xlarge capacity/);
            assert.deepStrictEqual(cloud.refused.map((each) => `${each.action} ${each.resource} ${candidateKey(each.candidate)}`),
                ["start notebook-state us-east-1a/g5.xlarge/on-demand"]);
            assert.deepStrictEqual(driverFinds(debugs, cloud, error as Error).map(({ action, notebook }) => `${action} ${notebook}`), ["start notebook"]);
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceType, "g5.xlarge");
        });

        it("start --type changes the type in place in the same zone, keeping disks and address; the price follows", async () => {
            const before = await stopped(CANDIDATES);
            const cloud = new MockCloud({ world: noCapacity({ start: ["us-east-1a/g5.xlarge/on-demand"] }) }).deployedBy(before);
            const run = await withHints({ [CAPACITY_ENV.type]: "notebook=g6.xlarge" }, () => runProgram(CANDIDATES, cloud));
            const [instanceBefore, instanceAfter] = [before.one(INSTANCE), run.cloud.one(INSTANCE)];
            assert.strictEqual(instanceAfter.inputs.instanceType, "g6.xlarge");
            // The same resource with the same subnet, AMI and boot configuration: an update in place, not a new machine.
            assert.strictEqual(instanceAfter.name, instanceBefore.name);
            for (const input of ["subnetId", "ami", "userDataBase64", "rootBlockDevice"]) {
                assert.deepStrictEqual(instanceAfter.inputs[input], instanceBefore.inputs[input], input);
            }
            assert.deepStrictEqual(run.cloud.one(VOLUME).inputs, before.one(VOLUME).inputs);
            assert.strictEqual(await unwrap(run.outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g6.xlarge"].onDemand);
            // And the next plain run keeps it.
            const next = await runProgram(CANDIDATES, new MockCloud().deployedBy(run.cloud));
            assert.strictEqual(next.cloud.one(INSTANCE).inputs.instanceType, "g6.xlarge");
        });

        it("refuses --type that is not a candidate, naming it and the candidates, before anything", async () => {
            const before = await stopped(CANDIDATES);
            const cloud = new MockCloud().deployedBy(before);
            await assert.rejects(withHints({ [CAPACITY_ENV.type]: "notebook=p5.48xlarge" }, () => runProgram(CANDIDATES, cloud)),
                /gpu-notebook:instanceTypes = \["g5\.xlarge","g6\.xlarge"\] is not accepted: it does not list p5\.48xlarge, the type asked for \(--type\); choose one of g5\.xlarge, g6\.xlarge/);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("keeps a stopped machine's type when the order changes", async () => {
            const before = await stopped(CANDIDATES);
            const run = await runProgram({ ...VALID_CONFIG, instanceTypes: JSON.stringify(["g6.xlarge", "g5.xlarge"]) }, new MockCloud().deployedBy(before));
            assert.strictEqual(run.cloud.one(INSTANCE).inputs.instanceType, "g5.xlarge");
        });
    });

    describe("quota per candidate", () => {
        it("leaves out a candidate the quota cannot run, with a warning, and launches the next", async () => {
            const run = await runProgram({ ...VALID_CONFIG, instanceTypes: JSON.stringify(["g5.12xlarge", "g5.xlarge"]) });
            assert.strictEqual(run.cloud.one(INSTANCE).inputs.instanceType, "g5.xlarge");
            assert.ok(run.warnings.some((warning) => warning.startsWith("g5.12xlarge is left out of the candidates (gpu-notebook:instanceTypes): " +
                'g5.12xlarge needs 48 vCPUs of the AWS quota "Running On-Demand G and VT instances" (L-DB2E81BA) in us-east-1, which is 16')), run.warnings.join("\n"));
        });

        it("refuses when no candidate fits, naming them all", async () => {
            const cloud = new MockCloud();
            await assert.rejects(runProgram({ ...VALID_CONFIG, instanceTypes: JSON.stringify(["g5.12xlarge", "p4d.24xlarge"]) }, cloud),
                /no candidate of gpu-notebook:instanceTypes fits the account's quotas: g5\.12xlarge needs 48 vCPUs .*; p4d\.24xlarge needs 96 vCPUs of the AWS quota "Running On-Demand P instances" \(L-417A185B\) in us-east-1, which is 0/);
            assert.deepStrictEqual(registered(cloud), []);
        });
    });

    describe("spot", () => {
        const SPOT = { ...VALID_CONFIG, instanceTypes: JSON.stringify(["g5.xlarge"]), spot: "true" };
        const everySpot = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"].map((zone) => `${zone}/g5.xlarge/spot`);

        it("fails over across zones for spot capacity too", async () => {
            const driven = await upWithFailover(SPOT, noCapacity({ launch: everySpot.slice(0, 2) }));
            assert.ok(driven.run, driven.error?.message);
            assert.strictEqual(await zoneOf(driven.run), "us-east-1c");
            assert.strictEqual(driven.run.cloud.one(INSTANCE).inputs.instanceMarketOptions.marketType, "spot");
        });

        it("with spotFallback on-demand, falls back when no candidate has spot capacity, saying so with the price difference", async () => {
            const driven = await upWithFailover({ ...SPOT, spotFallback: "on-demand" }, noCapacity({ launch: everySpot }));
            assert.ok(driven.run, driven.error?.message);
            const instance = driven.run.cloud.one(INSTANCE);
            assert.strictEqual(instance.inputs.instanceMarketOptions, undefined);
            assert.strictEqual(await zoneOf(driven.run), "us-east-1a");
            const price = SAMPLE_PRICES["us-east-1"]["g5.xlarge"];
            assert.strictEqual(await unwrap(driven.run.outputs.estimatedHourlyCostUsd), price.onDemand);
            assert.ok(driven.run.warnings.some((warning) => warning.startsWith("No candidate had spot capacity, so g5.xlarge in us-east-1a runs on-demand " +
                `(gpu-notebook:spotFallback is on-demand): $${price.onDemand.toFixed(3)} an hour instead of about $${price.spot.toFixed(3)} on spot`)), driven.run.warnings.join("\n"));
        });

        it("a spot machine is one EC2 stops, not terminates, when it takes the capacity back: its disks and data stay", async () => {
            const run = await runProgram(SPOT);
            assert.deepStrictEqual(run.cloud.one(INSTANCE).inputs.instanceMarketOptions,
                { marketType: "spot", spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" } });
        });

        describe("a stopped spot machine with spotFallback that finds no spot capacity at start", () => {
            const FALLBACK = { ...SPOT, spotFallback: "on-demand" };
            const price = SAMPLE_PRICES["us-east-1"]["g5.xlarge"];

            it("the run names the on-demand fallback and what it costs more, in its line and in its record for npm run start to offer", async () => {
                const run = await runProgram(FALLBACK);
                const offer = `on-demand fallback: $${price.onDemand.toFixed(3)} an hour (+$${(price.onDemand - price.spot).toFixed(3)})`;
                assert.ok(run.infos.some((line) => line.startsWith("capacity: notebook tries us-east-1a/g5.xlarge/spot") && line.endsWith(`; ${offer}`)),
                    run.infos.join("\n"));
                assert.deepStrictEqual(capacityRecords(run.debugs), [{
                    notebook: "notebook", candidate: { zone: "us-east-1a", instanceType: "g5.xlarge", market: "spot" },
                    resources: { launch: "notebook-instance", start: "notebook-state" },
                    onDemandFallback: { usdPerHour: price.onDemand, spotUsdPerHour: price.spot },
                }]);
                const plain = await runProgram(SPOT);
                assert.ok(!plain.infos.some((line) => line.includes("on-demand fallback")), "only with spotFallback");
                assert.strictEqual(capacityRecords(plain.debugs)[0].onDemandFallback, undefined);
            });

            it("the start fails with EC2's spot words; --on-demand replaces the machine by an on-demand one in its zone, data volume and address kept", async () => {
                const before = (await runProgram({ ...FALLBACK, running: "false" })).cloud;
                assert.strictEqual(new MockCloud().deployedBy(before).world.instances[0].market, "spot");
                const full = noCapacity({ start: ["us-east-1a/g5.xlarge/spot"] });
                const refused = new MockCloud({ world: full }).deployedBy(before);
                await assert.rejects(withHints({ [START_ENV]: "notebook" }, () => runProgram(FALLBACK, refused)), /InsufficientCapacity: There is no Spot capacity available/);
                const run = await withHints({ [CAPACITY_ENV.market]: "notebook=on-demand" },
                    () => runProgram(FALLBACK, new MockCloud({ world: full }).deployedBy(before)));
                const [was, now] = [before.one(INSTANCE), run.cloud.one(INSTANCE)];
                assert.deepStrictEqual(was.inputs.instanceMarketOptions.marketType, "spot");
                assert.strictEqual(now.inputs.instanceMarketOptions, undefined);
                assert.strictEqual(now.inputs.subnetId, was.inputs.subnetId, "same zone");
                assert.strictEqual(now.inputs.instanceType, "g5.xlarge");
                assert.deepStrictEqual(run.cloud.one(VOLUME).inputs, before.one(VOLUME).inputs);
                // The same volume resource, attached: a renamed one would be a new, empty volume in place of ~/notebooks.
                const volumeOf = (cloud: MockCloud) => ({ name: cloud.one(VOLUME).name, id: cloud.one(VOLUME).computed.id,
                    attached: cloud.one("aws:ec2/volumeAttachment:VolumeAttachment").inputs.volumeId });
                assert.deepStrictEqual(volumeOf(run.cloud), volumeOf(before));
                assert.match(volumeOf(before).id, /^vol-[0-9a-f]+$/);
                assert.strictEqual(volumeOf(run.cloud).attached, volumeOf(before).id);
                assert.deepStrictEqual(run.cloud.one("aws:ec2/eip:Eip").inputs, before.one("aws:ec2/eip:Eip").inputs);
                assert.strictEqual(await unwrap(run.outputs.estimatedHourlyCostUsd), price.onDemand);
                assert.ok(run.warnings.some((warning) => warning.includes("runs on-demand") && warning.includes(`+$${(price.onDemand - price.spot).toFixed(3)}`)),
                    run.warnings.join("\n"));
                // The next plain run keeps it on-demand rather than replacing it by spot again.
                const next = await runProgram(FALLBACK, new MockCloud().deployedBy(run.cloud));
                assert.strictEqual(next.cloud.one(INSTANCE).inputs.instanceMarketOptions, undefined);
            });

            for (const [what, config, refusal] of [
                ["without spotFallback", SPOT, /gpu-notebook:spotFallback = "" is not accepted: on-demand: --on-demand replaces the spot machine/],
                ["on an on-demand notebook", CANDIDATES, /gpu-notebook:spot = false is not accepted: true: --on-demand replaces a spot machine/],
            ] as const) {
                it(`refuses --on-demand ${what}, before anything`, async () => {
                    const cloud = new MockCloud();
                    await assert.rejects(withHints({ [CAPACITY_ENV.market]: "notebook=on-demand" }, () => runProgram(config, cloud)), refusal);
                    assert.deepStrictEqual(registered(cloud), []);
                });
            }
        });

        it("without spotFallback, every spot candidate full is refused", async () => {
            const driven = await upWithFailover(SPOT, noCapacity({ launch: everySpot }));
            assert.match(driven.error?.message ?? "", /no GPU free right now/);
        });
    });
});
