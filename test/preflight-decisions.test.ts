// Preflight's decisions as pure functions of what the lookups found, in tables: the zone and
// network, the data volume, the root disk and the GPU quota. No mocks, no program run; the
// whole-program tests in preflight.test.ts check the wiring.
import * as assert from "assert";

import { AmiInfo } from "../components/aws-data";
import { DeployRefused, NotebookSettings, parseConfig } from "../components/config";
import {
    AccountFacts, AddressFacts, checkDataVolume, choosePlacement, decideAddresses, decideMove, decideQuota, MoveStep, Placement, QuotaDecision, QuotaFacts,
    rootDiskSize, vcpuQuotaFor,
} from "../components/preflight";

const AMI: AmiInfo = { id: "ami-0123456789abcdef0", name: "Deep Learning AMI", rootSizeGb: 75 };
const DEFAULT_VPC = "vpc-0d0d0d0d0d0d0d0d0";
const OWN_VPC = "vpc-0aaaaaaaaaaaaaaa1";

function settings(config: Record<string, string> = {}): NotebookSettings {
    return parseConfig({ allowedCidrs: '["198.51.100.7/32"]', ...config });
}

/** A fresh account: a default VPC with a default subnet in each of three zones offering the type. */
function facts(changes: Partial<AccountFacts> = {}): AccountFacts {
    return {
        region: "us-east-1",
        ami: AMI,
        vcpus: 4,
        quota: { value: 16 },
        offeringZones: ["us-east-1a", "us-east-1b", "us-east-1c"],
        volumes: [],
        instances: [],
        vpc: { id: DEFAULT_VPC, isDefault: true },
        subnetsByZone: { "us-east-1a": ["subnet-0a"], "us-east-1b": ["subnet-0b"], "us-east-1c": ["subnet-0c"] },
        ...changes,
    };
}

const volumeIn = (zone: string, sizeGb = 100, snapshotId = "") => ({ id: "vol-0123456789abcdef0", zone, sizeGb, snapshotId });
const instanceIn = (zone: string) => ({ id: "i-0123456789abcdef0", zone });

/** The decision, or the refusal's message (with its heading) when the decision refuses. */
function outcome<T>(decide: () => T): T | string {
    try {
        return decide();
    } catch (error) {
        assert.ok(error instanceof DeployRefused, `a DeployRefused, got ${error}`);
        return error.message;
    }
}

/** A quota decision against a table's expectation: a refusal's text, or the kind (a request's with its quota and value). */
function expectDecision(decide: () => QuotaDecision, expected: string | RegExp): void {
    const result = outcome(decide);
    if (expected instanceof RegExp) {
        refused(expected)(result);
    } else {
        assert.ok(typeof result !== "string", result as string);
        assert.strictEqual(result.kind === "request" ? `request ${result.quota.code} ${result.value}` : result.kind, expected);
    }
}

function placed(zone: string, reason: RegExp, network: Placement["network"]): (result: Placement | string) => void {
    return (result) => {
        assert.ok(typeof result !== "string", result as string);
        assert.strictEqual(result.zone, zone);
        assert.match(result.reason, reason);
        assert.deepStrictEqual(result.network, network);
    };
}

function refused(pattern: RegExp): (result: unknown) => void {
    return (result) => {
        assert.ok(typeof result === "string", `expected a refusal, got ${JSON.stringify(result)}`);
        assert.match(result, pattern);
    };
}

describe("preflight decisions", () => {
    describe("where the notebook runs (choosePlacement)", () => {
        const table: [string, Record<string, string>, Partial<AccountFacts>, (result: Placement | string) => void][] = [
            ["a free choice takes the first zone, by name, that offers the type, in its default subnet", {}, {},
                placed("us-east-1a", /first zone of us-east-1 that offers g4dn.xlarge and has a default subnet/,
                    { kind: "existing", vpcId: DEFAULT_VPC, subnetId: "subnet-0a" })],
            ["a free choice skips an offering zone where the default VPC has no default subnet", {},
                { subnetsByZone: { "us-east-1a": [], "us-east-1b": ["subnet-0b"] } },
                placed("us-east-1b", /has a default subnet/, { kind: "existing", vpcId: DEFAULT_VPC, subnetId: "subnet-0b" })],
            ["a free choice is refused when the default VPC has a default subnet in no offering zone", {}, { subnetsByZone: {} },
                refused(/^Launch refused.*the default VPC vpc-0d0d0d0d0d0d0d0d0 of us-east-1 has no default subnet in any zone that offers g4dn\.xlarge \(us-east-1a, us-east-1b, us-east-1c\)/s)],
            ["without any VPC, one is created in the first offering zone", {}, { vpc: undefined, subnetsByZone: {} },
                placed("us-east-1a", /first zone of us-east-1 that offers g4dn.xlarge$/, { kind: "create" })],
            ["availabilityZone is honoured", { availabilityZone: "us-east-1c" }, {},
                placed("us-east-1c", /availabilityZone/, { kind: "existing", vpcId: DEFAULT_VPC, subnetId: "subnet-0c" })],
            ["availabilityZone in a zone without a default subnet is refused, saying how to make one", { availabilityZone: "us-east-1c" },
                { subnetsByZone: { "us-east-1a": ["subnet-0a"] } },
                refused(/^Launch refused.*has no default subnet in us-east-1c\. Create it with `aws ec2 create-default-subnet --availability-zone us-east-1c`/s)],
            ["availabilityZone that does not offer the type is refused, listing the zones that do", { availabilityZone: "us-east-1d" }, {},
                refused(/gpu-notebook:availabilityZone = "us-east-1d" is not accepted: g4dn\.xlarge is not offered in us-east-1d; zones of us-east-1 that offer it: us-east-1a, us-east-1b, us-east-1c/)],
            ["availabilityZone of another region is refused", { availabilityZone: "eu-west-1a" }, {},
                refused(/gpu-notebook:availabilityZone = "eu-west-1a" is not accepted: a zone of the stack's region us-east-1, such as us-east-1a/)],
            ["subnetId decides the zone and the VPC", { subnetId: "subnet-0cccccccccccccccc" },
                { vpc: undefined, subnet: { id: "subnet-0cccccccccccccccc", vpcId: OWN_VPC, zone: "us-east-1b" } },
                placed("us-east-1b", /the zone of subnet subnet-0cccccccccccccccc/, { kind: "existing", vpcId: OWN_VPC, subnetId: "subnet-0cccccccccccccccc" })],
            ["subnetId and availabilityZone that disagree are refused", { subnetId: "subnet-0cccccccccccccccc", availabilityZone: "us-east-1c" },
                { vpc: undefined, subnet: { id: "subnet-0cccccccccccccccc", vpcId: OWN_VPC, zone: "us-east-1b" } },
                refused(/gpu-notebook:availabilityZone = "us-east-1c" is not accepted: the subnet subnet-0cccccccccccccccc \(gpu-notebook:subnetId\) is in us-east-1b/)],
            ["subnetId and vpcId that disagree are refused", { subnetId: "subnet-0cccccccccccccccc", vpcId: "vpc-0bbbbbbbbbbbbbbb1" },
                { vpc: undefined, subnet: { id: "subnet-0cccccccccccccccc", vpcId: OWN_VPC, zone: "us-east-1b" } },
                refused(/gpu-notebook:vpcId = "vpc-0bbbbbbbbbbbbbbb1" is not accepted: the subnet subnet-0cccccccccccccccc \(gpu-notebook:subnetId\) belongs to vpc-0aaaaaaaaaaaaaaa1/)],
            ["vpcId takes its first subnet, by id, in the zone", { vpcId: OWN_VPC, availabilityZone: "us-east-1c" },
                { vpc: { id: OWN_VPC, isDefault: false }, subnetsByZone: { "us-east-1c": ["subnet-01", "subnet-02"] } },
                placed("us-east-1c", /availabilityZone/, { kind: "existing", vpcId: OWN_VPC, subnetId: "subnet-01" })],
            ["vpcId without a subnet in the zone is refused, naming the keys that fix it", { vpcId: OWN_VPC },
                { vpc: { id: OWN_VPC, isDefault: false }, subnetsByZone: { "us-east-1c": ["subnet-01"] } },
                refused(/^Configuration refused.*gpu-notebook:vpcId = "vpc-0aaaaaaaaaaaaaaa1" is not accepted: it has no subnet in us-east-1a; set gpu-notebook:subnetId/s)],
            ["the data volume's zone wins over the type's first zone", {}, { volumes: [volumeIn("us-east-1c")] },
                placed("us-east-1c", /the zone of the notebook's data volume vol-/, { kind: "existing", vpcId: DEFAULT_VPC, subnetId: "subnet-0c" })],
            ["the data volume's zone wins over the machine's", {}, { volumes: [volumeIn("us-east-1c")], instances: [instanceIn("us-east-1b")] },
                placed("us-east-1c", /data volume/, { kind: "existing", vpcId: DEFAULT_VPC, subnetId: "subnet-0c" })],
            ["availabilityZone away from the data volume is refused, saying how to move the data", { availabilityZone: "us-east-1b" },
                { volumes: [volumeIn("us-east-1c")] },
                refused(/the notebook's data volume vol-\w+ \(your ~\/notebooks\) is in us-east-1c, and a volume cannot follow the machine to us-east-1b.*restoreFromSnapshotId/)],
            ["a type not offered in the data volume's zone is refused", {}, { volumes: [volumeIn("us-east-1d")] },
                refused(/gpu-notebook:instanceType = "g4dn.xlarge" is not accepted: it is not offered in us-east-1d, where the notebook's data volume vol-\w+ \(your ~\/notebooks\) is; it is offered in us-east-1a, us-east-1b, us-east-1c/)],
            ["without a data volume, the machine's zone is kept", {}, { instances: [instanceIn("us-east-1b")] },
                placed("us-east-1b", /the zone the notebook's machine i-\w+ runs in/, { kind: "existing", vpcId: DEFAULT_VPC, subnetId: "subnet-0b" })],
            ["a type not offered where the machine runs is refused, saying that a zone change replaces it", {}, { instances: [instanceIn("us-east-1d")] },
                refused(/it is not offered in us-east-1d, where the notebook's machine i-\w+ runs .*which replaces the machine/)],
            ["a type offered nowhere in the region is refused, naming what is offered and where to look", { instanceType: "g6e.xlarge" },
                { offeringZones: [], subnetsByZone: {}, typesInRegion: ["g4dn.xlarge", "g5.xlarge"] },
                refused(/gpu-notebook:instanceType = "g6e.xlarge" is not accepted: it is not offered in any zone of us-east-1\. GPU families offered in us-east-1: g4dn, g5/)],
        ];
        for (const [sentence, config, changes, check] of table) {
            it(sentence, () => check(outcome(() => choosePlacement(settings(config), facts(changes)))));
        }
    });

    describe("the data volume (checkDataVolume)", () => {
        const table: [string, Record<string, string>, Partial<AccountFacts>, RegExp | string[]][] = [
            ["a new notebook needs nothing", {}, {}, []],
            ["a snapshot exactly as large as dataVolumeGb is restored", { dataVolumeGb: "250", restoreFromSnapshotId: "snap-0123456789abcdef0" },
                { snapshotSizeGb: 250 }, []],
            ["a snapshot one GiB larger than dataVolumeGb is refused", { dataVolumeGb: "249", restoreFromSnapshotId: "snap-0123456789abcdef0" },
                { snapshotSizeGb: 250 },
                /gpu-notebook:dataVolumeGb = 249 is not accepted: at least 250, the size of the snapshot snap-0123456789abcdef0/],
            ["the same size keeps the volume", { dataVolumeGb: "100" }, { volumes: [volumeIn("us-east-1a", 100)] }, []],
            ["a larger size grows it", { dataVolumeGb: "200" }, { volumes: [volumeIn("us-east-1a", 100)] }, []],
            ["one GiB less is refused: EBS volumes cannot shrink", { dataVolumeGb: "99" }, { volumes: [volumeIn("us-east-1a", 100)] },
                /gpu-notebook:dataVolumeGb = 99 is not accepted: 100 or more: the data volume vol-\w+ is 100 GiB and EBS volumes cannot shrink/],
            ["0 is refused while the volume holds the notebooks", { dataVolumeGb: "0" }, { volumes: [volumeIn("us-east-1a", 100)] },
                /gpu-notebook:dataVolumeGb = 0 is not accepted: the notebook has a data volume, vol-\w+ \(100 GiB\), which holds your ~\/notebooks; 0 would delete it/],
            ["two volumes tagged as the notebook's are refused until one is untagged", {},
                { volumes: [volumeIn("us-east-1a"), { ...volumeIn("us-east-1b"), id: "vol-0fffffffffffffff0" }] },
                /^Launch refused.*more than one data volume is tagged as this notebook's: vol-0123456789abcdef0 \(us-east-1a\), vol-0fffffffffffffff0 \(us-east-1b\)/s],
            ["a restoreFromSnapshotId that is not the volume's source only warns: the volume stays", { restoreFromSnapshotId: "snap-0123456789abcdef0" },
                { volumes: [volumeIn("us-east-1a", 100, "snap-0fffffffffffffff0")] },
                ["restoreFromSnapshotId = snap-0123456789abcdef0 is only used when the data volume is created"]],
            ["the volume's own source snapshot says nothing", { restoreFromSnapshotId: "snap-0123456789abcdef0" },
                { volumes: [volumeIn("us-east-1a", 100, "snap-0123456789abcdef0")] }, []],
            ["adding a volume to a running notebook warns that its machine is replaced", {}, { instances: [instanceIn("us-east-1a")] },
                ["Adding a data volume to the running notebook i-0123456789abcdef0 replaces its machine"]],
            ["a running notebook without a volume, kept so, hears nothing", { dataVolumeGb: "0" }, { instances: [instanceIn("us-east-1a")] }, []],
        ];
        for (const [sentence, config, changes, expected] of table) {
            it(sentence, () => {
                const result = outcome(() => checkDataVolume(settings(config), facts(changes)));
                if (expected instanceof RegExp) {
                    refused(expected)(result);
                } else {
                    assert.ok(Array.isArray(result), result as string);
                    assert.deepStrictEqual(result.map((warning) => expected.find((start) => warning.includes(start))), expected,
                        JSON.stringify(result));
                }
            });
        }
    });

    describe("the root disk (rootDiskSize)", () => {
        const table: [string, Record<string, string>, number, number | RegExp][] = [
            ["unset, it is the AMI plus room for work, at least 150 GiB", {}, 75, 150],
            ["unset, it grows with a larger AMI", {}, 180, 230],
            ["diskSizeGb is used when set", { diskSizeGb: "300" }, 75, 300],
            ["diskSizeGb exactly the AMI's size is accepted", { diskSizeGb: "120" }, 120, 120],
            ["diskSizeGb one GiB under the AMI's size is refused, naming the size that fits",
                { diskSizeGb: "119" }, 120, /gpu-notebook:diskSizeGb = 119 is not accepted: the AMI ami-0123456789abcdef0 \(Deep Learning AMI\) needs at least 120 GiB; use 170 or more/],
        ];
        for (const [sentence, config, amiSizeGb, expected] of table) {
            it(sentence, () => {
                const result = outcome(() => rootDiskSize(settings(config), { ...AMI, rootSizeGb: amiSizeGb }));
                if (expected instanceof RegExp) {
                    refused(expected)(result);
                } else {
                    assert.strictEqual(result, expected);
                }
            });
        }
    });

    describe("the GPU vCPU quota (decideQuota)", () => {
        const base: QuotaFacts = {
            demands: [{ instanceType: "g4dn.xlarge", vcpus: 4 }], market: "on-demand", region: "us-east-1", current: { value: 4 }, requestIncrease: false,
        };
        const CLASS: QuotaFacts["demands"] = [
            { notebook: "alice", instanceType: "g4dn.xlarge", vcpus: 4 },
            { notebook: "bob", instanceType: "g4dn.xlarge", vcpus: 4 },
            { notebook: "carol", instanceType: "g5.2xlarge", vcpus: 8 },
        ];
        const table: [string, Partial<QuotaFacts>, string | RegExp][] = [
            ["exactly the type's vCPUs is enough", {}, "enough"],
            ["one vCPU less is refused, naming the quota, its value and the need", { current: { value: 3 } },
                /^Launch refused.*g4dn\.xlarge needs 4 vCPUs of the AWS quota "Running On-Demand G and VT instances" \(L-DB2E81BA\) in us-east-1, but that quota is 3 vCPUs/s],
            ["one vCPU less with requestQuotaIncrease files a request for the need", { current: { value: 3 }, requestIncrease: true }, "request L-DB2E81BA 4"],
            ["enough with requestQuotaIncrease files nothing", { requestIncrease: true }, "enough"],
            ["an unreadable quota warns and goes on", { current: { unreadable: "AccessDenied" } }, "unknown"],
            ["P types count against the P quota", { demands: [{ instanceType: "p4d.24xlarge", vcpus: 96 }], current: { value: 32 } },
                /p4d\.24xlarge needs 96 vCPUs of the AWS quota "Running On-Demand P instances" \(L-417A185B\) in us-east-1, but that quota is 32 vCPUs/],
            ["spot G types count against the spot G quota", { market: "spot", region: "eu-west-1", current: { value: 0 } },
                /"All G and VT Spot Instance Requests" \(L-3819A6DF\) in eu-west-1, but that quota is 0 vCPUs/],
            ["a class's notebooks together: exactly their sum is enough", { demands: CLASS, current: { value: 16 } }, "enough"],
            ["a class's notebooks together: one vCPU below their sum is refused with the total, the quota and every notebook",
                { demands: CLASS, current: { value: 15 } },
                /notebooks alice \(g4dn\.xlarge\), bob \(g4dn\.xlarge\) and carol \(g5\.2xlarge\) need 16 vCPUs together of the AWS quota "Running On-Demand G and VT instances" \(L-DB2E81BA\) in us-east-1, but that quota is 15 vCPUs\. Ask AWS for at least 16/],
            ["a class's notebooks together with requestQuotaIncrease: one request, for their sum", { demands: CLASS, current: { value: 8 }, requestIncrease: true },
                "request L-DB2E81BA 16"],
            ["one named notebook is named alone", { demands: [CLASS[2]], current: { value: 4 } },
                /notebook carol \(g5\.2xlarge\) needs 8 vCPUs of the AWS quota/],
        ];
        for (const [sentence, changes, expected] of table) {
            it(sentence, () => expectDecision(() => decideQuota({ ...base, ...changes }), expected));
        }

        it("picks the quota by family and market", () => {
            assert.deepStrictEqual(vcpuQuotaFor("g4dn.xlarge", "spot"), { code: "L-3819A6DF", name: "All G and VT Spot Instance Requests" });
            assert.deepStrictEqual(vcpuQuotaFor("p5.48xlarge", "spot"), { code: "L-7212CCBC", name: "All P Spot Instance Requests" });
            assert.strictEqual(vcpuQuotaFor("gr6.4xlarge", "on-demand").code, "L-DB2E81BA");
            assert.strictEqual(vcpuQuotaFor("p4d.24xlarge", "on-demand").code, "L-417A185B");
        });
    });

    describe("Elastic IPs of a stack's notebooks (decideAddresses)", () => {
        const base: AddressFacts = {
            region: "us-east-1", notebooks: 3, held: { count: 2, ownedByNotebooks: 0 }, quota: { value: 5 }, requestIncrease: false,
        };
        const table: [string, Partial<AddressFacts>, string | RegExp][] = [
            ["the addresses held and the new ones exactly at the quota is enough", {}, "enough"],
            ["one more than the quota is refused with the numbers", { held: { count: 3, ownedByNotebooks: 0 } },
                /3 of them have none yet; the account already holds 3 in us-east-1, so it would hold 6, over the AWS quota "EC2-VPC Elastic IPs" \(L-0263D0A3\) in us-east-1, which is 5\. Ask AWS for at least 6/],
            ["the notebooks' own addresses are not counted twice: a re-run over the quota adds none", { held: { count: 7, ownedByNotebooks: 3 } }, "enough"],
            ["a new notebook beside its class's addresses counts one", { notebooks: 4, held: { count: 5, ownedByNotebooks: 3 } },
                /1 of them has none yet; the account already holds 5 in us-east-1, so it would hold 6/],
            ["with requestQuotaIncrease, one more than the quota files a request for the total", { held: { count: 3, ownedByNotebooks: 0 }, requestIncrease: true },
                "request L-0263D0A3 6"],
            ["addresses that cannot be listed warn and go on", { held: { unreadable: "UnauthorizedOperation" } }, "unknown"],
            ["a quota that cannot be read warns and goes on", { quota: { unreadable: "AccessDenied" } }, "unknown"],
        ];
        for (const [sentence, changes, expected] of table) {
            it(sentence, () => expectDecision(() => decideAddresses({ ...base, ...changes }), expected));
        }
    });
    describe("a move to another zone (decideMove)", () => {
        const OFFERING = ["us-east-1a", "us-east-1b", "us-east-1c"];
        const MOVE = { moveToZone: "us-east-1c" };
        const old = { id: "vol-0000000000000000a", zone: "us-east-1a", sizeGb: 100, snapshotId: "" };
        const copy = { id: "vol-000000000000000c1", zone: "us-east-1c", sizeGb: 100, snapshotId: "snap-0123456789abcdef0", movedFrom: old.id };
        const machine = (zone: string, state: string) => ({ id: "i-0123456789abcdef0", zone, state });
        const step = (result: MoveStep | undefined | string) => typeof result === "string" ? result : result === undefined ? "none" : result.kind;
        const table: [string, Record<string, string>, Partial<AccountFacts>, string | RegExp][] = [
            ["no moveToZone: nothing to move", {}, { volumes: [old] }, "none"],
            ["nothing made yet: nothing to move (the zone to run in)", MOVE, {}, "none"],
            ["the data in the zone already: nothing to move", MOVE, { volumes: [{ ...copy, inUse: true }], instances: [machine("us-east-1c", "running")] }, "none"],
            ["the data elsewhere, its machine stopped: copy", MOVE, { volumes: [old], instances: [machine("us-east-1a", "stopped")] }, "copy"],
            ["the copy made but not attached (a failed move): copy again", MOVE, { volumes: [{ ...old, inUse: false }, { ...copy, inUse: false }] }, "copy"],
            ["the copy attached: confirm", MOVE, { volumes: [{ ...old, inUse: false }, { ...copy, inUse: true }], instances: [machine("us-east-1c", "running")] }, "confirm"],
            ["the copy attached, the old volume moved away: finish", MOVE,
                { volumes: [{ ...old, inUse: false, movedAway: true }, { ...copy, inUse: true }], instances: [machine("us-east-1c", "stopped")] }, "finish"],
            ["a failed move's unattached copy, sent elsewhere: copy from the old volume again", { moveToZone: "us-east-1b" },
                { volumes: [{ ...old, inUse: false }, { ...copy, inUse: false }] }, "copy"],
            ["a running machine is refused, naming npm run stop", MOVE, { volumes: [old], instances: [machine("us-east-1a", "running")] },
                /the notebook's machine i-0123456789abcdef0 is running in us-east-1a, .*`npm run stop`/],
            ["a machine starting (pending) is refused too", MOVE, { volumes: [old], instances: [machine("us-east-1a", "pending")] }, /is running in us-east-1a/],
            ["a zone that offers no candidate is refused, listing those that do", { moveToZone: "us-east-1d" }, { volumes: [old] },
                /gpu-notebook:moveToZone = "us-east-1d" is not accepted: a zone of the stack's region us-east-1 that offers one of the candidate types \(g4dn\.xlarge\): us-east-1a, us-east-1b, us-east-1c/],
            ["a zone of another region is refused", { moveToZone: "eu-west-1c" }, { volumes: [old] }, /moveToZone = "eu-west-1c" is not accepted: a zone of the stack's region us-east-1/],
            ["a subnetId in another zone is refused", MOVE, { volumes: [old], subnet: { id: "subnet-0a", vpcId: OWN_VPC, zone: "us-east-1a" } },
                /moveToZone = "us-east-1c" is not accepted: the zone of the subnet subnet-0a \(gpu-notebook:subnetId\), us-east-1a/],
            ["three volumes are refused, listing them", MOVE, { volumes: [old, { ...old, id: "vol-000000000000000b1", zone: "us-east-1b" }, copy] },
                /more than one data volume tagged as this notebook's: vol-0000000000000000a \(us-east-1a\), vol-000000000000000b1 \(us-east-1b\)/],
        ];
        for (const [what, config, changes, expected] of table) {
            it(what, () => {
                const result = step(outcome(() => decideMove(settings(config), facts(changes), OFFERING)));
                if (expected instanceof RegExp) {
                    assert.match(result, expected);
                } else {
                    assert.strictEqual(result, expected);
                }
            });
        }
    });
});
