// Launch checks with the whole program under mocks: that preflight's lookups and decisions reach the
// resources, that a refusal registers nothing, and that the data volume survives changes across runs.
// The decisions themselves are tested in tables in preflight-decisions.test.ts.
import * as assert from "assert";

import { INSTANCE_PATHS } from "../components/boot";
import { DATA_VOLUME_TAG } from "../components/aws-data";
import { DEFAULT_FAKE_AMI, defaultSubnetId, DEFAULT_VPC_ID, FakeAws, MockCloud } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { refusal, registered, runProgram, runShared, VALID_CONFIG } from "./support/program";
import { machineFiles, machineJsonOf } from "./support/user-data";
import { ATTACHMENT, INSTANCE, QUOTA, SECURITY_GROUP, VOLUME } from "./support/types";

function account(world: Partial<FakeAws>): MockCloud {
    return new MockCloud({ world });
}

describe("launch checks", () => {
    describe("GPU quota", () => {
        it("refuses when the quota is below the type's vCPUs, naming the quota, its value, the need and how to ask", async () => {
            const cloud = account({ quotas: { "L-DB2E81BA": 0 } });
            const error = await refusal(VALID_CONFIG, cloud);
            assert.match(error.message, /Launch refused, nothing was created/);
            assert.ok(error.message.includes(`g4dn.xlarge needs 4 vCPUs of the AWS quota "Running On-Demand G and VT instances" (L-DB2E81BA) in us-east-1, but that quota is 0 vCPUs`), error.message);
            assert.ok(error.message.includes("Ask AWS for at least 4"));
            assert.ok(error.message.includes("https://us-east-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/L-DB2E81BA"));
            assert.ok(error.message.includes("pulumi config set gpu-notebook:requestQuotaIncrease true"));
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("files the increase for exactly the needed vCPUs with requestQuotaIncrease, and says AWS must approve it", async () => {
            const cloud = account({ quotas: { "L-DB2E81BA": 0 } });
            const { warnings, options } = await runProgram({ ...VALID_CONFIG, instanceType: "g5.2xlarge", requestQuotaIncrease: "true" }, cloud);
            const request = cloud.one(QUOTA);
            assert.deepStrictEqual(request.inputs, { serviceCode: "ec2", quotaCode: "L-DB2E81BA", value: 8 });
            const warning = warnings.find((text) => text.includes("L-DB2E81BA"));
            assert.ok(warning, `a warning about the request, got ${JSON.stringify(warnings)}`);
            assert.match(warning, /from 0 to 8 vCPUs/);
            assert.match(warning, /AWS must approve it/);
            const instanceOptions = options.find((entry) => entry.type === INSTANCE);
            assert.ok(Array.isArray(instanceOptions?.opts.dependsOn) && instanceOptions.opts.dependsOn.length > 0,
                "the machine waits for the request to be filed");
        });

        it("warns and goes on when the quota cannot be read", async () => {
            const cloud = account({ quotas: { "L-DB2E81BA": "denied" } });
            const { warnings } = await runProgram(VALID_CONFIG, cloud);
            assert.strictEqual(cloud.ofType(INSTANCE).length, 1, "the notebook is still created");
            const warning = warnings.find((text) => text.includes("Could not read"));
            assert.ok(warning, `a warning, got ${JSON.stringify(warnings)}`);
            assert.ok(warning.includes(`"Running On-Demand G and VT instances" (L-DB2E81BA)`));
            assert.ok(warning.includes("servicequotas:GetServiceQuota"));
            assert.ok(warning.includes("needs 4 vCPUs"));
        });
    });

    describe("zone", () => {
        it("runs in the first zone, by name, that offers the type, in its default subnet", async () => {
            const cloud = account({ offerings: { "g5.xlarge": ["us-east-1d", "us-east-1b"] } });
            const { outputs } = await runProgram({ ...VALID_CONFIG, instanceType: "g5.xlarge" }, cloud);
            assert.strictEqual(cloud.one(INSTANCE).inputs.subnetId, defaultSubnetId("us-east-1b"));
            assert.strictEqual(cloud.one(VOLUME).inputs.availabilityZone, "us-east-1b");
            assert.strictEqual(cloud.one(SECURITY_GROUP).inputs.vpcId, DEFAULT_VPC_ID);
            assert.strictEqual(await unwrap(outputs.availabilityZone), "us-east-1b");
        });

        it("refuses a type the region offers nowhere, naming type, region, what is offered and where to look", async () => {
            const cloud = account({ offerings: { "g6e.xlarge": [], "g4dn.xlarge": ["us-east-1a"], "g5.xlarge": ["us-east-1a"] } });
            const error = await refusal({ ...VALID_CONFIG, instanceType: "g6e.xlarge" }, cloud);
            assert.match(error.message, /gpu-notebook:instanceType = "g6e.xlarge" is not accepted: it is not offered in any zone of us-east-1/);
            assert.match(error.message, /GPU families offered in us-east-1: g4dn, g5/);
            assert.match(error.message, /aws ec2 describe-instance-type-offerings --location-type region --filters Name=instance-type,Values=g6e.xlarge/);
            assert.deepStrictEqual(registered(cloud), []);
        });
    });

    describe("network", () => {
        const OWN_VPC = "vpc-0aaaaaaaaaaaaaaa1";
        const ownSubnets = [
            { id: "subnet-0bbbbbbbbbbbbbbb2", vpcId: OWN_VPC, zone: "us-east-1c", defaultForAz: false },
            { id: "subnet-0bbbbbbbbbbbbbbb1", vpcId: OWN_VPC, zone: "us-east-1c", defaultForAz: false },
            { id: "subnet-0cccccccccccccccc", vpcId: OWN_VPC, zone: "us-east-1d", defaultForAz: false },
        ];

        it("creates a minimal public VPC in the chosen zone when the region has no default VPC", async () => {
            const cloud = account({ defaultVpcId: undefined, subnets: [], offerings: { "g4dn.xlarge": ["us-east-1c", "us-east-1d"] } });
            const { options } = await runProgram(VALID_CONFIG, cloud);
            const vpc = cloud.one("aws:ec2/vpc:Vpc");
            const subnet = cloud.one("aws:ec2/subnet:Subnet");
            const gateway = cloud.one("aws:ec2/internetGateway:InternetGateway");
            const table = cloud.one("aws:ec2/routeTable:RouteTable");
            const route = cloud.one("aws:ec2/route:Route");
            const association = cloud.one("aws:ec2/routeTableAssociation:RouteTableAssociation");
            assert.strictEqual(subnet.inputs.availabilityZone, "us-east-1c");
            assert.strictEqual(subnet.inputs.mapPublicIpOnLaunch, true);
            assert.match(subnet.inputs.vpcId, /^vpc-/);
            for (const child of [gateway, table]) {
                assert.strictEqual(child.inputs.vpcId, subnet.inputs.vpcId, `${child.type} is in the created VPC`);
            }
            assert.ok(vpc.inputs.cidrBlock);
            assert.strictEqual(route.inputs.destinationCidrBlock, "0.0.0.0/0");
            assert.match(route.inputs.gatewayId, /^igw-/);
            assert.strictEqual(association.inputs.subnetId, cloud.one(INSTANCE).inputs.subnetId);
            assert.strictEqual(cloud.one(SECURITY_GROUP).inputs.vpcId, subnet.inputs.vpcId);
            assert.strictEqual(cloud.one(VOLUME).inputs.availabilityZone, "us-east-1c");
            const instanceOptions = options.find((entry) => entry.type === INSTANCE);
            assert.strictEqual((instanceOptions?.opts.dependsOn as unknown[]).length, 3, "the machine waits for its route to the internet (2) and its boot bundle");
        });

        it("creates no VPC when a default VPC exists", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.deepStrictEqual(cloud.ofType("aws:ec2/vpc:Vpc"), []);
            assert.deepStrictEqual(cloud.ofType("aws:ec2/internetGateway:InternetGateway"), []);
        });

        it("honours subnetId: its VPC and its zone", async () => {
            const cloud = account({ subnets: ownSubnets });
            const { outputs } = await runProgram({ ...VALID_CONFIG, subnetId: "subnet-0cccccccccccccccc" }, cloud);
            assert.strictEqual(cloud.one(INSTANCE).inputs.subnetId, "subnet-0cccccccccccccccc");
            assert.strictEqual(cloud.one(SECURITY_GROUP).inputs.vpcId, OWN_VPC);
            assert.strictEqual(cloud.one(VOLUME).inputs.availabilityZone, "us-east-1d");
            assert.strictEqual(await unwrap(outputs.availabilityZone), "us-east-1d");
            assert.deepStrictEqual(cloud.ofType("aws:ec2/vpc:Vpc"), []);
        });

        it("refuses a subnetId that does not exist", async () => {
            const error = await refusal({ ...VALID_CONFIG, subnetId: "subnet-0123456789abcdef0" }, account({ subnets: ownSubnets }));
            assert.match(error.message, /gpu-notebook:subnetId = "subnet-0123456789abcdef0" is not accepted: no subnet with that id exists in us-east-1/);
        });
    });

    describe("the data volume", () => {
        it("is a separate encrypted gp3 volume of 100 GiB that takes a final snapshot when deleted", async () => {
            const { cloud, options, outputs } = await runShared(VALID_CONFIG);
            const volume = cloud.one(VOLUME);
            assert.strictEqual(volume.inputs.type, "gp3");
            assert.strictEqual(volume.inputs.encrypted, true);
            assert.strictEqual(volume.inputs.size, 100);
            assert.strictEqual(volume.inputs.finalSnapshot, true);
            assert.strictEqual(volume.inputs.tags[DATA_VOLUME_TAG], "gpu-notebook/dev/notebook");
            const volumeOptions = options.find((entry) => entry.type === VOLUME)?.opts;
            assert.deepStrictEqual(volumeOptions?.ignoreChanges, ["availabilityZone", "snapshotId"]);
            assert.notStrictEqual(volumeOptions?.protect, true, "pulumi destroy must be able to delete it (after its final snapshot)");
            assert.notStrictEqual(volumeOptions?.retainOnDelete, true, "retainOnDelete would skip the final snapshot");
            assert.match(await unwrap(outputs.dataVolumeId) ?? "", /^vol-/);
        });

        it("is attached to the machine, the old attachment going first when the machine is replaced", async () => {
            const { cloud, options, outputs } = await runShared(VALID_CONFIG);
            const attachment = cloud.one(ATTACHMENT);
            assert.strictEqual(attachment.inputs.volumeId, await unwrap(outputs.dataVolumeId));
            assert.strictEqual(attachment.inputs.instanceId, await unwrap(outputs.instanceId));
            assert.strictEqual(attachment.inputs.stopInstanceBeforeDetaching, true);
            assert.strictEqual(options.find((entry) => entry.type === ATTACHMENT)?.opts.deleteBeforeReplace, true);
        });

        it("is mounted at ~/notebooks by the boot script, before the notebook server is prepared, which needs the mount", async () => {
            const { cloud, outputs } = await runShared({ ...VALID_CONFIG, sshUser: "alice" });
            const machine = machineJsonOf(cloud, cloud.one(INSTANCE));
            const volumeId = await unwrap(outputs.dataVolumeId);
            // The user's setup step runs between the two: after the mount, before the notebook server.
            assert.deepStrictEqual(machine.setup.slice(0, 3), [
                [INSTANCE_PATHS.mountScript, volumeId, "/home/alice/notebooks", "alice"],
                [INSTANCE_PATHS.setupProgram, "boot", "--machine", INSTANCE_PATHS.machineFile],
                [INSTANCE_PATHS.prepareScript, "alice", "/home/alice/notebooks", INSTANCE_PATHS.launcher, "gpu-notebook-jupyter.service"],
            ]);
            const files = machineFiles(cloud, cloud.one(INSTANCE));
            assert.ok(files.find((file) => file.path === INSTANCE_PATHS.mountScript)?.content.includes("blkid"));
            const unit = files.find((file) => file.path === INSTANCE_PATHS.serviceUnit)?.content ?? "";
            assert.match(unit, /^RequiresMountsFor=\/home\/alice\/notebooks$/m);
            assert.match(unit, /^ConditionPathIsMountPoint=\/home\/alice\/notebooks$/m);
        });

        it("is not created with dataVolumeGb 0, and notebooks stay on the root disk", async () => {
            const { cloud, outputs } = await runShared({ ...VALID_CONFIG, dataVolumeGb: "0" });
            assert.deepStrictEqual(cloud.ofType(VOLUME), []);
            assert.deepStrictEqual(cloud.ofType(ATTACHMENT), []);
            const machine = machineJsonOf(cloud, cloud.one(INSTANCE));
            assert.ok(!JSON.stringify(machine.setup).includes(INSTANCE_PATHS.mountScript));
            assert.ok(!machineFiles(cloud, cloud.one(INSTANCE)).some((file) => file.content.includes("RequiresMountsFor")));
            assert.strictEqual(await unwrap(outputs.dataVolumeId), undefined);
        });

        it("keeps identical inputs when instanceType, the boot configuration or the AMI change", async () => {
            const first = await runShared(VALID_CONFIG);
            const volume = first.cloud.one(VOLUME);
            const changes: [string, Record<string, string>, MockCloud][] = [
                ["instanceType", { ...VALID_CONFIG, instanceType: "g6.2xlarge" }, account({})],
                ["user data", { ...VALID_CONFIG, sshUser: "alice" }, account({})],
                ["AMI", VALID_CONFIG, new MockCloud({ ami: { ...DEFAULT_FAKE_AMI, id: "ami-0fedcba9876543210" } })],
            ];
            for (const [what, config, cloud] of changes) {
                const next = await runProgram(config, cloud.deployedBy(first.cloud));
                assert.notDeepStrictEqual(cloud.one(INSTANCE).inputs, first.cloud.one(INSTANCE).inputs, `${what} did change the machine`);
                assert.deepStrictEqual(cloud.one(VOLUME), volume, `the data volume is untouched by a new ${what}`);
                const volumeOptions = (run: typeof first) => {
                    const opts = run.options.find((entry) => entry.type === VOLUME)?.opts;
                    return { ignoreChanges: opts?.ignoreChanges, dependsOn: opts?.dependsOn, protect: opts?.protect, retainOnDelete: opts?.retainOnDelete };
                };
                assert.deepStrictEqual(volumeOptions(next), volumeOptions(first));
                assert.strictEqual(volumeOptions(next).dependsOn, undefined, "the volume waits for nothing of the machine");
            }
        });

        it("gives identical resource inputs on a second run over what the first one deployed", async () => {
            for (const world of [{}, { defaultVpcId: undefined, subnets: [] }]) {
                const first = await runProgram(VALID_CONFIG, account(world));
                const second = await runProgram(VALID_CONFIG, account(world).deployedBy(first.cloud));
                assert.deepStrictEqual(second.cloud.resources, first.cloud.resources);
                assert.deepStrictEqual(second.warnings, []);
            }
        });

        it("keeps its zone when a new instanceType would choose another first zone", async () => {
            const first = await runProgram(VALID_CONFIG, account({ offerings: { "g4dn.xlarge": ["us-east-1c", "us-east-1d"] } }));
            assert.strictEqual(first.cloud.one(VOLUME).inputs.availabilityZone, "us-east-1c");
            const change = { ...VALID_CONFIG, instanceType: "g5.xlarge" };
            const g5Offerings = { offerings: { "g5.xlarge": ["us-east-1a", "us-east-1c"] } };

            const fresh = account(g5Offerings);
            await runProgram(change, fresh);
            assert.strictEqual(fresh.one(VOLUME).inputs.availabilityZone, "us-east-1a", "a new notebook would take us-east-1a");

            const existing = account(g5Offerings).deployedBy(first.cloud);
            const { outputs } = await runProgram(change, existing);
            assert.deepStrictEqual(existing.one(VOLUME).inputs, first.cloud.one(VOLUME).inputs);
            assert.strictEqual(existing.one(INSTANCE).inputs.subnetId, defaultSubnetId("us-east-1c"));
            assert.strictEqual(await unwrap(outputs.availabilityZone), "us-east-1c");
        });

        it("keeps the machine's zone without a data volume, so a type change does not replace the machine", async () => {
            const config = { ...VALID_CONFIG, dataVolumeGb: "0" };
            const first = await runProgram(config, account({ offerings: { "g4dn.xlarge": ["us-east-1d"] } }));
            const existing = account({ offerings: { "g5.xlarge": ["us-east-1a", "us-east-1d"] } }).deployedBy(first.cloud);
            await runProgram({ ...config, instanceType: "g5.xlarge" }, existing);
            assert.strictEqual(existing.one(INSTANCE).inputs.subnetId, first.cloud.one(INSTANCE).inputs.subnetId);
        });

        it("grows in place: a larger dataVolumeGb changes only the existing volume's size", async () => {
            const first = await runShared(VALID_CONFIG);
            const grown = account({}).deployedBy(first.cloud);
            await runProgram({ ...VALID_CONFIG, dataVolumeGb: "200" }, grown);
            assert.deepStrictEqual(grown.one(VOLUME).inputs, { ...first.cloud.one(VOLUME).inputs, size: 200 });
        });

        it("is created from restoreFromSnapshotId", async () => {
            const cloud = account({ snapshots: { "snap-0123456789abcdef0": 80 } });
            await runProgram({ ...VALID_CONFIG, restoreFromSnapshotId: "snap-0123456789abcdef0" }, cloud);
            assert.strictEqual(cloud.one(VOLUME).inputs.snapshotId, "snap-0123456789abcdef0");
            assert.strictEqual(cloud.one(VOLUME).inputs.size, 100);
        });

        it("refuses a snapshot the account cannot see, before registering anything", async () => {
            const cloud = account({ snapshots: { "snap-0123456789abcdef0": 250 } });
            const missing = await refusal({ ...VALID_CONFIG, restoreFromSnapshotId: "snap-0fffffffffffffff0" }, cloud);
            assert.deepStrictEqual(registered(cloud), []);
            assert.match(missing.message, /gpu-notebook:restoreFromSnapshotId = "snap-0fffffffffffffff0" is not accepted: no snapshot with that id is visible to this account in us-east-1/);
        });
    });
});
