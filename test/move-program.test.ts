// Moving a stopped notebook to another zone (npm run move, config moveToZone) with the whole
// program under the offline engine: each run sees what the one before left in the account, as
// the real runs do, and the move goes copy → confirm → finish from the account alone.
import * as assert from "assert";

import { MOVED_AWAY_TAG, MOVED_FROM_TAG } from "../components/aws-data";
import { defaultSubnetId, MockCloud, RecordedResource } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { refusal, registered, runFleet, runProgram, StackRun, VALID_CONFIG } from "./support/program";
import { ATTACHMENT, INSTANCE, SNAPSHOT, VOLUME } from "./support/types";

const CANDIDATES = { ...VALID_CONFIG, instanceTypes: JSON.stringify(["g5.xlarge", "g6.xlarge"]) };
const MOVE = { ...CANDIDATES, moveToZone: "us-east-1c" };

/** The run after `previous`, with `config`, in an account that is otherwise the default. */
function next(config: Record<string, string>, previous: MockCloud, world = {}): Promise<StackRun> {
    return runProgram(config, new MockCloud({ world }).deployedBy(previous));
}

const volume = (cloud: MockCloud, name: string): RecordedResource | undefined => cloud.ofType(VOLUME).find((each) => each.name === name);
const volumeId = (run: StackRun, name: string) => volume(run.cloud, name)?.computed.id as string;

describe("moving a stopped notebook to another zone, whole program", () => {
    let stopped: StackRun;
    let copied: StackRun;
    let confirmed: StackRun;
    let finished: StackRun;

    before(async () => {
        stopped = await runProgram({ ...CANDIDATES, running: "false" });
        copied = await next({ ...MOVE, running: "false" }, stopped.cloud);
        confirmed = await next({ ...MOVE, running: "false" }, copied.cloud);
        finished = await next({ ...MOVE, running: "false" }, confirmed.cloud);
    });

    it("copies the data volume by a snapshot to a new volume in the new zone, keeping the old one as it was", async () => {
        assert.strictEqual(await unwrap(stopped.outputs.availabilityZone), "us-east-1a");
        const old = volume(copied.cloud, "notebook-data");
        assert.deepStrictEqual(old?.inputs, volume(stopped.cloud, "notebook-data")?.inputs, "the old volume is declared unchanged");
        const snapshot = copied.cloud.one(SNAPSHOT);
        assert.strictEqual(snapshot.inputs.volumeId, volumeId(stopped, "notebook-data"));
        const copy = volume(copied.cloud, "notebook-data-us-east-1c");
        assert.strictEqual(copy?.inputs.availabilityZone, "us-east-1c");
        assert.strictEqual(copy?.inputs.snapshotId, snapshot.computed.id);
        assert.strictEqual(copy?.inputs.size, old?.inputs.size);
        assert.strictEqual(copy?.inputs.encrypted, true);
        // Like every data volume, from its creation: the flag is never changed (see the confirm step).
        assert.strictEqual(copy?.inputs.finalSnapshot, true);
        assert.strictEqual(copy?.inputs.tags[MOVED_FROM_TAG], volumeId(stopped, "notebook-data"));
        // The copy waits for the snapshot to complete, which for a large first snapshot takes more than the provider's 10 minutes.
        assert.strictEqual(copied.options.find((each) => each.type === SNAPSHOT)?.opts.customTimeouts?.create, "2h");
    });

    it("recreates the machine in the new zone, attached to the copy, and says what it does", async () => {
        const instance = copied.cloud.one(INSTANCE);
        assert.strictEqual(stopped.cloud.one(INSTANCE).inputs.subnetId, defaultSubnetId("us-east-1a"));
        assert.strictEqual(instance.inputs.subnetId, defaultSubnetId("us-east-1c"));
        assert.strictEqual(await unwrap(copied.outputs.availabilityZone), "us-east-1c");
        assert.strictEqual(copied.cloud.one(ATTACHMENT).inputs.volumeId, volumeId(copied, "notebook-data-us-east-1c"));
        assert.strictEqual(await unwrap(copied.outputs.dataVolumeId), volumeId(copied, "notebook-data-us-east-1c"));
        assert.ok(copied.infos.some((line) => line.startsWith("move: notebook copies its data volume") && line.includes("its root disk is not kept")),
            copied.infos.join("\n"));
        // The next run sees the machine in us-east-1c.
        assert.strictEqual(new MockCloud().deployedBy(copied.cloud).world.instances[0].zone, "us-east-1c");
    });

    it("once the copy is attached, the old volume is marked moved away, by its tags alone, still deleting nothing", () => {
        const old = volume(confirmed.cloud, "notebook-data");
        assert.strictEqual(old?.inputs.tags[MOVED_AWAY_TAG], "true");
        // A change of finalSnapshot alone becomes a ModifyVolume with nothing to modify, which EC2
        // refuses (hashicorp/terraform-provider-aws#31044): only the tags may change.
        const { tags: oldTags, ...oldRest } = old?.inputs ?? {};
        const { tags: copiedTags, ...copiedRest } = volume(copied.cloud, "notebook-data")?.inputs ?? {};
        assert.notDeepStrictEqual(oldTags, copiedTags);
        assert.deepStrictEqual(oldRest, copiedRest);
        assert.deepStrictEqual(volume(confirmed.cloud, "notebook-data-us-east-1c")?.inputs, volume(copied.cloud, "notebook-data-us-east-1c")?.inputs);
        assert.deepStrictEqual(confirmed.cloud.one(SNAPSHOT).inputs, copied.cloud.one(SNAPSHOT).inputs, "the snapshot is kept");
        assert.deepStrictEqual(confirmed.cloud.one(INSTANCE).inputs, copied.cloud.one(INSTANCE).inputs, "the machine is not touched again");
    });

    it("the run after removes the snapshot and the old volume, and the one after that changes nothing", async () => {
        assert.deepStrictEqual(finished.cloud.ofType(SNAPSHOT), []);
        assert.deepStrictEqual(finished.cloud.ofType(VOLUME).map((each) => each.name), ["notebook-data-us-east-1c"]);
        const done = finished.infos.find((line) => line.includes("the move to us-east-1c is done"));
        assert.ok(done, finished.infos.join("\n"));
        // The old volume goes with the final snapshot every data volume takes; the user is told to delete it.
        assert.match(done, new RegExp(`keeps a final snapshot of ${volumeId(stopped, "notebook-data")}.*delete it`));
        // The final snapshot carries the volume's tags: the line names it by its Name.
        assert.ok(done.includes(`the one named ${volume(confirmed.cloud, "notebook-data")?.inputs.tags.Name}`), done);
        const again = await next({ ...MOVE, running: "false" }, finished.cloud);
        assert.deepStrictEqual(registered(again.cloud), registered(finished.cloud));
        for (const resource of again.cloud.resources) {
            const before = finished.cloud.resources.find((each) => each.type === resource.type && each.name === resource.name);
            assert.deepStrictEqual(resource.inputs, before?.inputs, `${resource.type} ${resource.name}`);
        }
        assert.ok(!again.infos.some((line) => line.startsWith("move:")));
    });

    it("a second move (back to the first zone) copies the moved volume, keeping it as it was until the copy is attached", async () => {
        const back = await next({ ...CANDIDATES, moveToZone: "us-east-1a", running: "false" }, finished.cloud);
        assert.deepStrictEqual(volume(back.cloud, "notebook-data-us-east-1c")?.inputs, volume(finished.cloud, "notebook-data-us-east-1c")?.inputs);
        assert.strictEqual(back.cloud.one(SNAPSHOT).inputs.volumeId, volumeId(finished, "notebook-data-us-east-1c"));
        const copy = volume(back.cloud, "notebook-data-us-east-1a");
        assert.strictEqual(copy?.inputs.availabilityZone, "us-east-1a");
        assert.strictEqual(copy?.inputs.tags[MOVED_FROM_TAG], volumeId(finished, "notebook-data-us-east-1c"));
        assert.strictEqual(await unwrap(back.outputs.availabilityZone), "us-east-1a");
    });

    it("a move whose machine EC2 has no capacity for in the new zone fails, and the same run again continues it", async () => {
        const full = { noCapacity: { launch: ["us-east-1c/g5.xlarge/on-demand"], start: [] } };
        const cloud = new MockCloud({ world: full }).deployedBy(stopped.cloud);
        await assert.rejects(runProgram({ ...MOVE, running: "false" }, cloud), /InsufficientInstanceCapacity/);
        // The old volume and the snapshot were declared as they are: nothing of the data was deleted.
        assert.ok(volume(cloud, "notebook-data"));
        assert.strictEqual(cloud.ofType("aws:ebs/snapshot:Snapshot").length, 1);
        const retried = await next({ ...MOVE, running: "false" }, cloud);
        assert.strictEqual(retried.cloud.one(SNAPSHOT).inputs.volumeId, volumeId(stopped, "notebook-data"));
        assert.strictEqual(await unwrap(retried.outputs.availabilityZone), "us-east-1c");
    });

    it("a failed move sent to another zone instead: the unattached copy goes, the old volume and the snapshot stay", async () => {
        const full = { noCapacity: { launch: ["us-east-1c/g5.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"], start: [] } };
        const failed = new MockCloud({ world: full }).deployedBy(stopped.cloud);
        await assert.rejects(runProgram({ ...MOVE, running: "false" }, failed), /InsufficientInstanceCapacity/);
        assert.ok(volume(failed, "notebook-data-us-east-1c"), "the failed move made its copy");
        const elsewhere = await next({ ...CANDIDATES, moveToZone: "us-east-1b", running: "false" }, failed);
        assert.deepStrictEqual(elsewhere.cloud.ofType(VOLUME).map((each) => each.name).sort(), ["notebook-data", "notebook-data-us-east-1b"]);
        assert.deepStrictEqual(elsewhere.cloud.one(SNAPSHOT).inputs, failed.one(SNAPSHOT).inputs);
        assert.strictEqual(await unwrap(elsewhere.outputs.availabilityZone), "us-east-1b");
    });

    it("a failed move sent back to the zone the data is in cancels it: the copy and the snapshot go, the old volume stays", async () => {
        const full = { noCapacity: { launch: ["us-east-1c/g5.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"], start: [] } };
        const failed = new MockCloud({ world: full }).deployedBy(stopped.cloud);
        await assert.rejects(runProgram({ ...MOVE, running: "false" }, failed), /InsufficientInstanceCapacity/);
        const back = await next({ ...CANDIDATES, moveToZone: "us-east-1a", running: "false" }, failed);
        assert.deepStrictEqual(back.cloud.ofType(VOLUME).map((each) => each.name), ["notebook-data"]);
        assert.deepStrictEqual(volume(back.cloud, "notebook-data")?.inputs, volume(stopped.cloud, "notebook-data")?.inputs);
        assert.deepStrictEqual(back.cloud.ofType(SNAPSHOT), []);
        assert.strictEqual(await unwrap(back.outputs.availabilityZone), "us-east-1a");
    });

    describe("refusals, before anything is created", () => {
        it("refuses a zone no candidate is offered in, naming the zones that are", async () => {
            const cloud = new MockCloud().deployedBy(stopped.cloud);
            const error = await refusal({ ...CANDIDATES, moveToZone: "us-east-1e" }, cloud);
            assert.match(error.message, /gpu-notebook:moveToZone = "us-east-1e" is not accepted: a zone of the stack's region us-east-1 that offers one of the candidate types \(g5\.xlarge and g6\.xlarge\): us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f/);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("refuses a zone of another region", async () => {
            const error = await refusal({ ...CANDIDATES, moveToZone: "eu-west-1a" }, new MockCloud().deployedBy(stopped.cloud));
            assert.match(error.message, /gpu-notebook:moveToZone = "eu-west-1a" is not accepted: a zone of the stack's region us-east-1/);
        });

        it("refuses to move a running machine, telling to npm run stop first", async () => {
            const running = await runProgram(CANDIDATES);
            const cloud = new MockCloud().deployedBy(running.cloud);
            const error = await refusal(MOVE, cloud);
            assert.match(error.message, /the notebook's machine i-\w+ is running in us-east-1a, .* stop it first with `npm run stop`, then move it\. Nothing was changed\./);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("refuses a moveToZone that contradicts availabilityZone", async () => {
            const error = await refusal({ ...MOVE, availabilityZone: "us-east-1a" }, new MockCloud().deployedBy(stopped.cloud));
            assert.match(error.message, /gpu-notebook:moveToZone = "us-east-1c" is not accepted: gpu-notebook:availabilityZone, us-east-1a, or that setting removed/);
        });

        it("refuses a move without a data volume: the root disk is not kept", async () => {
            const error = await refusal({ ...MOVE, dataVolumeGb: "0" });
            assert.match(error.message, /gpu-notebook:moveToZone = "us-east-1c" is not accepted: only with a data volume to move/);
        });
    });

    it("a first launch with moveToZone simply runs in that zone, with the usual data volume", async () => {
        const run = await runProgram(MOVE);
        assert.strictEqual(await unwrap(run.outputs.availabilityZone), "us-east-1c");
        assert.deepStrictEqual(run.cloud.ofType(VOLUME).map((each) => each.name), ["notebook-data"]);
        assert.deepStrictEqual(run.cloud.ofType(SNAPSHOT), []);
    });
});

describe("moving one notebook of a class, whole program", () => {
    it("moves bob's data and machine, and leaves alice's untouched", async () => {
        const stopped = await runFleet({ alice: {}, bob: { running: false } });
        const moved = await runFleet({ alice: {}, bob: { running: false, moveToZone: "us-east-1c" } }, VALID_CONFIG,
            new MockCloud().deployedBy(stopped.cloud));
        assert.deepStrictEqual(moved.cloud.ofType(VOLUME).map((each) => each.name).sort(), ["alice-data", "bob-data", "bob-data-us-east-1c"]);
        assert.strictEqual(moved.cloud.one(SNAPSHOT).name, "bob-data-move");
        for (const name of ["alice-instance", "alice-data"]) {
            const [before, after] = [stopped.cloud, moved.cloud].map((cloud) => cloud.resources.find((each) => each.name === name));
            assert.deepStrictEqual(after?.inputs, before?.inputs, name);
        }
        const zones = await unwrap(moved.outputs.notebooks);
        assert.strictEqual(zones.alice.availabilityZone, "us-east-1a");
        assert.strictEqual(zones.bob.availabilityZone, "us-east-1c");
    });

    it("refuses to move bob's running machine, naming the command that stops bob's", async () => {
        const running = await runFleet({ alice: {}, bob: {} });
        const error = await runFleet({ alice: {}, bob: { moveToZone: "us-east-1c" } }, VALID_CONFIG, new MockCloud().deployedBy(running.cloud))
            .then(() => undefined, (caught) => caught);
        assert.match(String(error), /notebook bob: the notebook's machine i-\w+ is running in us-east-1a, .*stop it first with `npm run stop -- --notebook bob`/);
    });

    it("refuses a zone no candidate of bob's is offered in, naming bob's key", async () => {
        const stopped = await runFleet({ alice: {}, bob: { running: false } });
        const cloud = new MockCloud().deployedBy(stopped.cloud);
        const error = await runFleet({ alice: {}, bob: { running: false, moveToZone: "us-east-1e" } }, VALID_CONFIG, cloud).then(() => undefined, (caught) => caught);
        assert.match(String(error), /gpu-notebook:notebooks\.bob\.moveToZone = "us-east-1e" is not accepted: a zone of the stack's region us-east-1 that offers one of the candidate types/);
        assert.deepStrictEqual(registered(cloud), []);
    });
});
