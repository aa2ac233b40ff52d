// Pulumi mocks that stand in for AWS, tls and random, for `npm run plan` and the tests: they record
// every resource and invoke, and answer with what the real providers would compute (addresses from
// 203.0.113.0/24, real keys and certificates). An invoke token without a handler fails the run, so
// no lookup slips in unmocked.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

import { INVOKE_TOKENS, TypeInfo } from "../aws-data";
import { Candidate, candidateKey, ec2CapacityError } from "../capacity";
import { ecdsaP256Material, ed25519Material, selfSignedCertificate } from "./key-material";

export interface RecordedResource {
    type: string;
    name: string;
    /** Inputs as the provider would see them, secrets revealed. */
    inputs: Record<string, any>; // any: provider inputs are untyped
    /** Top-level input names that arrived as secrets. */
    secretInputs: string[];
    /** What the fake provider computed for it (keys, addresses, ids), beyond its inputs. */
    computed: Record<string, any>; // any: provider outputs are untyped
}

// How the engine marks a secret value on the wire (pulumi/sdk runtime/rpc.ts specialSigKey).
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

function isSecretValue(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Unwraps secret markers at any depth, as a provider receives them. */
function reveal(value: unknown): any { // any: mirrors whatever shape it is given
    if (isSecretValue(value)) {
        return reveal(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(reveal);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, reveal(item)]));
    }
    return value;
}

export interface RecordedCall {
    token: string;
    inputs: Record<string, any>; // any: invoke inputs are untyped
    /** The explicit provider reference (`urn::id`) the invoke went through, if any. */
    provider?: string;
}

export interface FakeAmi {
    id: string;
    name: string;
    rootSizeGb: number;
}

export const DEFAULT_FAKE_AMI: FakeAmi = {
    id: "ami-0123456789abcdef0",
    name: "Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.9 (Ubuntu 24.04) 20261101",
    rootSizeGb: 75,
};

export type InvokeHandler = (inputs: Record<string, any>) => Record<string, any>; // any: invoke inputs and results are untyped

export interface FakeSubnet {
    id: string;
    vpcId: string;
    zone: string;
    defaultForAz: boolean;
}

export interface FakeVolume {
    id: string;
    zone: string;
    sizeGb: number;
    snapshotId: string;
    tags: Record<string, string>;
    /** When it was made (RFC 3339). Default: the world's clock. */
    createTime?: string;
    /** Default in-use (attached to a machine). */
    status?: "in-use" | "available";
}

export interface FakeInstance {
    id: string;
    zone: string;
    tags: Record<string, string>;
    /** Default g4dn.xlarge. */
    instanceType?: string;
    market?: "on-demand" | "spot";
    /** Default running. */
    state?: "running" | "stopped";
}

/**
 * Where EC2 has no capacity right now, as candidate keys (zone/type/market, capacity.ts
 * candidateKey): `launch` refuses a new machine there, `start` refuses to start a stopped one.
 */
export interface CapacityScenario {
    launch: string[];
    start: string[];
}

/** The account and region the mocks pretend to be: what the preflight lookups see. */
export interface FakeAws {
    region: string;
    zones: string[];
    /** Zones offering each instance type; a type not listed is offered in every zone of `zones` that has GPUs. */
    offerings: Record<string, string[]>;
    /** Current value of each EC2 quota code, in vCPUs; "denied" fails the read as missing permission would. */
    quotas: Record<string, number | "denied">;
    defaultVpcId?: string;
    subnets: FakeSubnet[];
    volumes: FakeVolume[];
    instances: FakeInstance[];
    snapshots: Record<string, number>;
    /**
     * The address every Elastic IP gets. Default: a documentation address per name (fakePublicIp).
     * Suites that serve the notebook locally use 127.0.0.1, so its certificate is valid there.
     */
    elasticIp?: string;
    /** Elastic IPs the account holds in the region. */
    addresses: FakeAddress[];
    /** Where EC2 has no free machine. Default: everywhere has one. */
    noCapacity: CapacityScenario;
    /** The time of this run (RFC 3339): when the volumes it makes are created. */
    clock: string;
}

export interface FakeAddress {
    allocationId: string;
    publicIp: string;
    tags: Record<string, string>;
}

export const DEFAULT_VPC_ID = "vpc-0d0d0d0d0d0d0d0d0";

/** A default VPC's default subnet id in a zone. */
export function defaultSubnetId(zone: string): string {
    return hexId("subnet", `default-${zone}`);
}

/**
 * The Availability Zones a new account sees in each region where the GPU types run, as AWS lists
 * them (`aws ec2 describe-availability-zones`; ca-central-1 has no 1c, ap-northeast-1 no 1b). A
 * region not listed has no zones the offline engine can vouch for: the plan says so, and the mocks
 * use one stand-in zone there.
 */
export const REGION_ZONES: Readonly<Record<string, readonly string[]>> = Object.fromEntries(Object.entries({
    "us-east-1": "abcdef", "us-east-2": "abc", "us-west-2": "abcd", "ca-central-1": "abd",
    "eu-west-1": "abc", "eu-west-2": "abc", "eu-west-3": "abc", "eu-central-1": "abc", "eu-north-1": "abc", "eu-south-1": "abc",
    "ap-south-1": "abc", "ap-northeast-1": "acd", "ap-northeast-2": "abcd", "ap-southeast-1": "abc", "ap-southeast-2": "abc",
    "sa-east-1": "abc",
}).map(([region, letters]) => [region, [...letters].map((letter) => `${region}${letter}`)]));

/** The zones of `region` as the offline engine answers them: its real ones, or one stand-in. */
export function offlineZones(region: string): readonly string[] {
    return REGION_ZONES[region] ?? [`${region}a`];
}

/** Like real GPU types, not offered in every zone: us-east-1e, the oldest, has none. */
const ZONES_WITHOUT_GPUS = ["us-east-1e"];

function defaultSubnets(zones: readonly string[]): FakeSubnet[] {
    return zones.map((zone) => ({ id: defaultSubnetId(zone), vpcId: DEFAULT_VPC_ID, zone, defaultForAz: true }));
}

/** A fresh-ish account: a default VPC, enough G quota for a small type, no P quota, nothing deployed yet. */
function defaultWorld(): FakeAws {
    return {
        region: "us-east-1",
        zones: [...offlineZones("us-east-1")],
        offerings: {},
        quotas: { "L-DB2E81BA": 16, "L-417A185B": 0, "L-3819A6DF": 8, "L-7212CCBC": 0, "L-0263D0A3": 5 },
        defaultVpcId: DEFAULT_VPC_ID,
        subnets: defaultSubnets(offlineZones("us-east-1")),
        volumes: [],
        instances: [],
        snapshots: {},
        addresses: [],
        noCapacity: { launch: [], start: [] },
        clock: "2026-11-01T00:00:00Z",
    };
}

/**
 * GPUs by family as AWS reports them (getInstanceType's gpus): the model and its memory in MiB;
 * the count grows with the size as on AWS's larger sizes (12xlarge and up have 4, 48xlarge 8).
 */
const FAKE_GPUS: Record<string, { manufacturer: string; name: string; memorySize: number }> = {
    g4dn: { manufacturer: "NVIDIA", name: "T4", memorySize: 16384 },
    g5: { manufacturer: "NVIDIA", name: "A10G", memorySize: 24576 },
    g6: { manufacturer: "NVIDIA", name: "L4", memorySize: 23034 },
    gr6: { manufacturer: "NVIDIA", name: "L4", memorySize: 23034 },
    g6e: { manufacturer: "NVIDIA", name: "L40S", memorySize: 46068 },
    p4d: { manufacturer: "NVIDIA", name: "A100", memorySize: 40960 },
    p4de: { manufacturer: "NVIDIA", name: "A100", memorySize: 81920 },
    p5: { manufacturer: "NVIDIA", name: "H100", memorySize: 81920 },
};

/** What the offline account says a type has: vCPUs, memory (4 GiB a vCPU, as the G types have) and GPUs. */
export function fakeTypeInfo(instanceType: string): TypeInfo {
    const vcpus = fakeVcpus(instanceType);
    const gpu = FAKE_GPUS[instanceType.split(".")[0]];
    const size = instanceType.split(".")[1];
    const count = instanceType.startsWith("p") || /^(48xlarge|metal)$/.test(size) ? 8 : /^(12|24)xlarge$/.test(size) ? 4 : 1;
    return {
        instanceType, vcpus, memoryMiB: vcpus * 4096,
        gpus: gpu ? [{ count, name: `${gpu.manufacturer} ${gpu.name}`, memoryMiB: gpu.memorySize }] : [],
    };
}

/** getInstanceType's answer, in the provider's shape. */
function instanceTypeResult(instanceType: string): Record<string, unknown> {
    const info = fakeTypeInfo(instanceType);
    const gpu = FAKE_GPUS[instanceType.split(".")[0]];
    return {
        instanceType, defaultVcpus: info.vcpus, memorySize: info.memoryMiB,
        gpuses: info.gpus.map((each) => ({ count: each.count, manufacturer: gpu.manufacturer, name: gpu.name, memorySize: each.memoryMiB })),
    };
}

/**
 * vCPUs as AWS publishes them for the GPU sizes: xlarge 4, 2xlarge 8, … metal as 48xlarge. The
 * plan adds them up for the quotas a class needs.
 */
export function fakeVcpus(instanceType: string): number {
    const size = instanceType.split(".")[1];
    if (size === "metal") {
        return 192;
    }
    const multiple = /^(\d*)xlarge$/.exec(size);
    return multiple ? 4 * Number(multiple[1] || 1) : 2;
}

interface Filter { name: string; values: string[] }

function marketOfInputs(inputs: Record<string, any>): "on-demand" | "spot" { // any: provider inputs are untyped
    return inputs.instanceMarketOptions?.marketType === "spot" ? "spot" : "on-demand";
}

function matches(fields: Record<string, string>, filters: Filter[] | undefined): boolean {
    return (filters ?? []).every((filter) => filter.values.includes(fields[filter.name]));
}

function tagFields(tags: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(tags).map(([key, value]) => [`tag:${key}`, value]));
}

/**
 * Linux prices in USD per hour in us-east-1 for the offline mocks and `npm run plan`: on-demand
 * are AWS's published list prices; spot values are illustrative of the usual level (the real one
 * moves by zone and hour). Types and regions not listed have no offline price: the mock then
 * answers like the real API when no product matches.
 */
export const SAMPLE_PRICES: Record<string, Record<string, { onDemand: number; spot: number }>> = {
    "us-east-1": {
        "g4dn.xlarge": { onDemand: 0.526, spot: 0.2155 },
        "g4dn.2xlarge": { onDemand: 0.752, spot: 0.3095 },
        "g5.xlarge": { onDemand: 1.006, spot: 0.4259 },
        "g5.2xlarge": { onDemand: 1.212, spot: 0.4886 },
        "g6.xlarge": { onDemand: 0.8048, spot: 0.3514 },
    },
};

/**
 * What the disks and the address cost in each sampled region, from AWS's published prices: gp3
 * storage per GiB-month (at its included 3000 IOPS and 125 MiB/s), and a public IPv4 address per
 * hour, charged whether the machine runs or not (docs/costs.md has the same figures).
 */
export const SAMPLE_STORAGE_PRICES: Record<string, { gp3GibMonth: number; ipv4Hour: number }> = {
    "us-east-1": { gp3GibMonth: 0.08, ipv4Hour: 0.005 },
};

/** How the mocks' price lookups fail where the sample has no price: the plan says it once, as a fact of being offline. */
export const OFFLINE_PRICE_GAP = "the offline price sample (npm run plan's stand-in for AWS's price data) has no price for";

/** A Price List API product document shaped like the real one (only the parts anyone reads). */
function priceListProduct(instanceType: string, region: string, usdPerHour: number): string {
    const sku = hexId("SKU", `${instanceType}/${region}`, 16).toUpperCase().slice(4);
    return JSON.stringify({
        product: {
            productFamily: "Compute Instance",
            attributes: {
                instanceType, regionCode: region, operatingSystem: "Linux", tenancy: "Shared", preInstalledSw: "NA",
                licenseModel: "No License required", capacitystatus: "Used", marketoption: "OnDemand", servicecode: "AmazonEC2",
            },
            sku,
        },
        serviceCode: "AmazonEC2",
        terms: {
            OnDemand: {
                [`${sku}.JRTCKXETXF`]: {
                    priceDimensions: {
                        [`${sku}.JRTCKXETXF.6YS6EN2CT7`]: {
                            unit: "Hrs",
                            pricePerUnit: { USD: usdPerHour.toFixed(10) },
                            description: `$${usdPerHour} per On Demand Linux ${instanceType} Instance Hour`,
                        },
                    },
                    sku,
                },
            },
        },
    });
}

function digest(text: string): Buffer {
    return createHash("sha256").update(text).digest();
}

function hexId(prefix: string, name: string, length = 17): string {
    return `${prefix}-${digest(name).toString("hex").slice(0, length)}`;
}

/** The account the mocks' ARNs name (AWS's documentation account). */
export const FAKE_ACCOUNT = "123456789012";

/** The name Pulumi gives a resource that names none: the resource's name and a random suffix. */
export function fakeAutoName(name: string): string {
    return `${name}-${hexId("n", name, 7).slice(2)}`;
}

/** What the provider computes for an auto-named resource: its name and its ARN. */
function autoNamed(name: string, arnOf: (named: string) => string): Record<string, string> {
    const named = fakeAutoName(name);
    return { id: named, name: named, arn: arnOf(named) };
}

/** A stable fake of random output: the real provider keeps its value in state, so reruns agree. */
function stableText(name: string, length: number): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const bytes = Buffer.concat([digest(`${name}/1`), digest(`${name}/2`)]);
    return Array.from(bytes.subarray(0, length), (byte) => alphabet[byte % alphabet.length]).join("");
}

/** A documentation address (RFC 5737) per Elastic IP name. */
export function fakePublicIp(name: string): string {
    return `203.0.113.${(digest(name)[0] % 250) + 1}`;
}

// Key generation and openssl are slow and keys must be the same when a program runs twice, as
// they are in real state: one set of material per resource name (and inputs) per process.
const materialCache = new Map<string, unknown>();
function cached<T>(key: string, make: () => T): T {
    if (!materialCache.has(key)) {
        materialCache.set(key, make());
    }
    return materialCache.get(key) as T;
}

export interface MockCloudOptions {
    /** The AMI every AMI lookup finds. Default DEFAULT_FAKE_AMI. */
    ami?: FakeAmi;
    /** Invoke handlers that replace the fake account's, such as a lookup that is denied. */
    invokes?: Record<string, InvokeHandler>;
    /** How the fake account differs from defaultWorld(). */
    world?: Partial<FakeAws>;
}

export class MockCloud implements pulumi.runtime.Mocks {
    readonly resources: RecordedResource[] = [];
    readonly calls: RecordedCall[] = [];
    readonly invokes: Record<string, InvokeHandler>;
    /** The region the stack deploys to, as the provider would report it (the fake account's). */
    get region(): string {
        return this.world.region;
    }

    /**
     * Moves the fake account to `region`: its zones become the region's real ones (offlineZones),
     * with a default subnet in each; subnets and offerings a test set move by zone letter, and
     * only to zones the region has (eu-west-1 has no 1d).
     */
    set region(region: string) {
        const world = this.world;
        const zones = offlineZones(region);
        const moved = (zone: string) => (zone.startsWith(world.region) ? region + zone.slice(world.region.length) : zone);
        const exists = (zone: string) => zones.includes(zone);
        const isDefault = (subnet: FakeSubnet) => subnet.id === defaultSubnetId(subnet.zone);
        world.subnets = [
            ...(world.subnets.some(isDefault) ? defaultSubnets(zones) : []),
            ...world.subnets.filter((subnet) => !isDefault(subnet))
                .map((subnet) => ({ ...subnet, zone: moved(subnet.zone) })).filter((subnet) => exists(subnet.zone)),
        ];
        world.offerings = Object.fromEntries(Object.entries(world.offerings).map(([type, offered]) => [type, offered.map(moved).filter(exists)]));
        world.zones = [...zones];
        world.region = region;
    }

    readonly world: FakeAws;

    readonly ami: FakeAmi;

    /** What EC2 refused in this run for want of capacity: the resource, the action and the candidate. */
    readonly refused: { resource: string; action: "launch" | "start"; candidate: Candidate }[] = [];

    /** The machines this run registered, by id: what each would be started as. */
    private readonly machines = new Map<string, Candidate>();

    constructor(options: MockCloudOptions = {}) {
        this.ami = options.ami ?? DEFAULT_FAKE_AMI;
        // A copy: deployedBy adds to the account's lists, which must not change the caller's.
        this.world = { ...defaultWorld(), ...structuredClone(options.world) };
        this.invokes = {
            [INVOKE_TOKENS.getAmi]: () => this.amiResult(),
            ...this.awsLookups(),
            [INVOKE_TOKENS.getProduct]: (inputs) => this.productResult(inputs),
            [INVOKE_TOKENS.getSpotPrice]: (inputs) => this.spotPriceResult(inputs),
            ...options.invokes,
        };
    }

    /** Answers for the preflight lookups, from the fake account in `world`. */
    private awsLookups(): Record<string, InvokeHandler> {
        const world = this.world;
        const offered = (type: string) => world.offerings[type] ?? world.zones.filter((zone) => !ZONES_WITHOUT_GPUS.includes(zone));
        const subnetOf = (id: string) => {
            const subnet = world.subnets.find((candidate) => candidate.id === id);
            if (!subnet) {
                throw new Error(`InvalidSubnetID.NotFound: The subnet ID '${id}' does not exist`);
            }
            return subnet;
        };
        return {
            [INVOKE_TOKENS.getRegion]: () => ({
                id: world.region, name: world.region, region: world.region,
                endpoint: `ec2.${world.region}.amazonaws.com`, description: world.region,
            }),
            [INVOKE_TOKENS.getInstanceType]: (inputs) => instanceTypeResult(inputs.instanceType),
            [INVOKE_TOKENS.getInstanceTypeOfferings]: (inputs) => {
                const wanted: string[] = inputs.filters[0].values;
                if (inputs.locationType === "availability-zone") {
                    const locations = wanted.flatMap(offered);
                    return { locations, instanceTypes: locations.map(() => wanted[0]), locationTypes: locations.map(() => inputs.locationType) };
                }
                const known = Object.keys(world.offerings).filter((type) => world.offerings[type].length > 0);
                const instanceTypes = known.filter((type) => wanted.some((pattern) => type.startsWith(pattern.replace("*", ""))));
                return { instanceTypes, locations: instanceTypes.map(() => world.region), locationTypes: instanceTypes.map(() => "region") };
            },
            [INVOKE_TOKENS.getServiceQuota]: (inputs) => {
                const value = world.quotas[inputs.quotaCode];
                if (value === undefined || value === "denied") {
                    throw new Error("AccessDeniedException: User is not authorized to perform: servicequotas:GetServiceQuota");
                }
                return { serviceCode: inputs.serviceCode, quotaCode: inputs.quotaCode, value, adjustable: true };
            },
            [INVOKE_TOKENS.getVpcs]: (inputs) => ({
                ids: world.defaultVpcId !== undefined && matches({ "is-default": "true" }, inputs.filters) ? [world.defaultVpcId] : [],
            }),
            [INVOKE_TOKENS.getSubnet]: (inputs) => {
                const subnet = subnetOf(inputs.id);
                return { id: subnet.id, vpcId: subnet.vpcId, availabilityZone: subnet.zone };
            },
            [INVOKE_TOKENS.getSubnets]: (inputs) => ({
                ids: world.subnets.filter((subnet) => matches({
                    "vpc-id": subnet.vpcId, "availability-zone": subnet.zone, "default-for-az": String(subnet.defaultForAz),
                }, inputs.filters)).map((subnet) => subnet.id),
            }),
            [INVOKE_TOKENS.getEbsVolumes]: (inputs) => ({
                ids: world.volumes.filter((volume) => matches({ ...tagFields(volume.tags), status: volume.status ?? "in-use" }, inputs.filters))
                    .map((volume) => volume.id),
            }),
            [INVOKE_TOKENS.getVolume]: (inputs) => {
                const volume = world.volumes.find((candidate) => matches({ "volume-id": candidate.id }, inputs.filters));
                if (!volume) {
                    throw new Error("no matching EBS volume found");
                }
                return {
                    id: volume.id, volumeId: volume.id, availabilityZone: volume.zone, size: volume.sizeGb, snapshotId: volume.snapshotId,
                    createTime: volume.createTime ?? world.clock, tags: volume.tags,
                };
            },
            [INVOKE_TOKENS.getSnapshot]: (inputs) => {
                const id: string = inputs.snapshotIds[0];
                if (world.snapshots[id] === undefined) {
                    throw new Error(`InvalidSnapshot.NotFound: The snapshot '${id}' does not exist.`);
                }
                return { id, snapshotId: id, volumeSize: world.snapshots[id] };
            },
            [INVOKE_TOKENS.getInstances]: (inputs) => ({
                ids: world.instances.filter((instance) => Object.entries(inputs.instanceTags ?? {})
                    .every(([key, value]) => instance.tags[key] === value) &&
                    matches({ "instance-lifecycle": instance.market === "spot" ? "spot" : "" }, inputs.filters)).map((instance) => instance.id),
            }),
            [INVOKE_TOKENS.getEips]: (inputs) => {
                const found = world.addresses.filter((address) => matches(tagFields(address.tags), inputs.filters) &&
                    Object.entries(inputs.tags ?? {}).every(([key, value]) => address.tags[key] === value));
                return { id: world.region, allocationIds: found.map((address) => address.allocationId), publicIps: found.map((address) => address.publicIp) };
            },
            [INVOKE_TOKENS.getInstance]: (inputs) => {
                const instance = world.instances.find((candidate) => candidate.id === inputs.instanceId);
                if (!instance) {
                    throw new Error(`InvalidInstanceID.NotFound: ${inputs.instanceId}`);
                }
                return {
                    id: instance.id, availabilityZone: instance.zone, instanceType: instance.instanceType ?? "g4dn.xlarge",
                    instanceState: instance.state ?? "running",
                };
            },
        };
    }

    /**
     * What a previous run left in the account, as the lookups of the next run see it: its data
     * volumes, machines and Elastic IPs, with the zones and inputs the previous run gave them.
     */
    deployedBy(previous: MockCloud): this {
        const attached = new Set(previous.ofType("aws:ec2/volumeAttachment:VolumeAttachment").map((each) => each.inputs.volumeId));
        for (const volume of previous.ofType("aws:ebs/volume:Volume")) {
            this.world.volumes.push({
                id: hexId("vol", volume.name),
                status: attached.has(hexId("vol", volume.name)) ? "in-use" : "available",
                zone: volume.inputs.availabilityZone,
                sizeGb: volume.inputs.size,
                snapshotId: volume.inputs.snapshotId ?? "",
                tags: volume.inputs.tags,
                createTime: previous.world.clock,
            });
        }
        for (const instance of previous.ofType("aws:ec2/instance:Instance")) {
            const subnet = previous.world.subnets.find((candidate) => candidate.id === instance.inputs.subnetId);
            const createdSubnet = previous.ofType("aws:ec2/subnet:Subnet").find((candidate) => hexId("subnet", candidate.name) === instance.inputs.subnetId);
            const id = hexId("i", instance.name);
            const state = previous.ofType("aws:ec2transitgateway/instanceState:InstanceState").find((each) => each.inputs.instanceId === id);
            this.world.instances.push({
                id,
                zone: subnet?.zone ?? createdSubnet?.inputs.availabilityZone,
                tags: instance.inputs.tags,
                instanceType: instance.inputs.instanceType,
                market: marketOfInputs(instance.inputs),
                state: state?.inputs.state === "stopped" ? "stopped" : "running",
            });
        }
        for (const address of previous.ofType("aws:ec2/eip:Eip")) {
            this.world.addresses.push({ allocationId: address.computed.allocationId, publicIp: address.computed.publicIp, tags: address.inputs.tags });
        }
        return this;
    }

    private samplePrice(instanceType: string, region: string) {
        const price = SAMPLE_PRICES[region]?.[instanceType];
        if (!price) {
            // What the provider says when the filters match no product.
            throw new Error(`${OFFLINE_PRICE_GAP} ${instanceType} in ${region}`);
        }
        return price;
    }

    private productResult(inputs: Record<string, any>) {
        const filters = Object.fromEntries((inputs.filters as { field: string; value: string }[]).map((f) => [f.field, f.value]));
        const price = this.samplePrice(filters.instanceType, filters.regionCode);
        return { ...inputs, id: hexId("product", JSON.stringify(filters)), result: priceListProduct(filters.instanceType, filters.regionCode, price.onDemand) };
    }

    private spotPriceResult(inputs: Record<string, any>) {
        const price = this.samplePrice(inputs.instanceType, this.region);
        return {
            ...inputs,
            id: this.region,
            region: this.region,
            availabilityZone: `${this.region}a`,
            spotPrice: price.spot.toFixed(6),
            spotPriceTimestamp: "2026-11-01T00:00:00Z",
        };
    }

    private amiResult() {
        return {
            id: this.ami.id,
            imageId: this.ami.id,
            name: this.ami.name,
            architecture: "x86_64",
            rootDeviceName: "/dev/sda1",
            blockDeviceMappings: [
                { deviceName: "/dev/sda1", ebs: { volume_size: String(this.ami.rootSizeGb), volume_type: "gp3" } },
            ],
        };
    }

    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        this.calls.push({ token: args.token, inputs: reveal(args.inputs), provider: args.provider });
        const handler = this.invokes[args.token];
        if (!handler) {
            throw new Error(`unmocked invoke ${args.token}: add it to components/aws-data.ts and the mocks`);
        }
        try {
            return handler(reveal(args.inputs));
        } catch (error) {
            // The engine hands the SDK a failed invoke's message as the gRPC error's details, and
            // the SDK rethrows only those: without them the program would see an empty message.
            const failure = error instanceof Error ? error : new Error(String(error));
            throw Object.assign(failure, { details: failure.message });
        }
    }

    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        const inputs = reveal(args.inputs);
        this.checkCapacity(args.type, args.name, inputs);
        const secretInputs = Object.keys(args.inputs ?? {}).filter((key) => isSecretValue(args.inputs[key]));
        const computed = this.computed(args.type, args.name, inputs);
        this.resources.push({ type: args.type, name: args.name, inputs, secretInputs, computed });
        return { id: computed.id ?? hexId("id", args.name), state: { ...args.inputs, ...computed } };
    }

    // any: state shapes differ per resource type
    private computed(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
        const args = { name };
        switch (type) {
            case "tls:index/privateKey:PrivateKey":
                return inputs.algorithm === "ED25519"
                    ? cached(`ed25519:${args.name}`, () => ed25519Material(args.name))
                    : cached(`ecdsa:${args.name}`, () => ecdsaP256Material(args.name));
            case "tls:index/selfSignedCert:SelfSignedCert": {
                const request = {
                    privateKeyPem: inputs.privateKeyPem,
                    commonName: inputs.subject?.commonName ?? "",
                    ipAddresses: inputs.ipAddresses ?? [],
                    dnsNames: inputs.dnsNames ?? [],
                    validityPeriodHours: inputs.validityPeriodHours,
                };
                const certPem = cached(`cert:${JSON.stringify(request)}`, () => selfSignedCertificate(request));
                return { certPem };
            }
            case "random:index/randomPassword:RandomPassword":
                return { result: stableText(args.name, inputs.length) };
            case "random:index/randomString:RandomString":
                return { result: stableText(args.name, inputs.length) };
            case "aws:ec2/eip:Eip":
                return {
                    id: hexId("eipalloc", args.name),
                    allocationId: hexId("eipalloc", args.name),
                    publicIp: this.world.elasticIp ?? fakePublicIp(args.name),
                };
            case "aws:ec2/keyPair:KeyPair":
                return { id: `${args.name}-${hexId("k", args.name, 7)}`, keyName: `${args.name}-${hexId("k", args.name, 7)}` };
            case "aws:ec2/securityGroup:SecurityGroup":
                return { id: hexId("sg", args.name) };
            case "aws:ebs/volume:Volume":
                return { id: hexId("vol", args.name), arn: `arn:aws:ec2:${this.world.region}:123456789012:volume/${hexId("vol", args.name)}` };
            case "aws:ebs/snapshot:Snapshot":
                return { id: hexId("snap", args.name), arn: `arn:aws:ec2:${this.world.region}::snapshot/${hexId("snap", args.name)}` };
            case "aws:ec2/vpc:Vpc":
                return { id: hexId("vpc", args.name) };
            case "aws:ec2/subnet:Subnet":
                return { id: hexId("subnet", args.name) };
            case "aws:ec2/internetGateway:InternetGateway":
                return { id: hexId("igw", args.name) };
            case "aws:ec2/routeTable:RouteTable":
                return { id: hexId("rtb", args.name) };
            case "aws:ec2/instance:Instance":
                return {
                    id: hexId("i", args.name),
                    arn: `arn:aws:ec2:${this.world.region}:${FAKE_ACCOUNT}:instance/${hexId("i", args.name)}`,
                    privateIp: "172.31.0.10",
                    instanceState: "running",
                };
            // Named resources get the provider's auto-name (the resource name plus a suffix) and an ARN.
            case "aws:iam/role:Role":
                return autoNamed(args.name, (named) => `arn:aws:iam::${FAKE_ACCOUNT}:role/${named}`);
            case "aws:iam/instanceProfile:InstanceProfile":
                return autoNamed(args.name, (named) => `arn:aws:iam::${FAKE_ACCOUNT}:instance-profile/${named}`);
            case "aws:lambda/function:Function":
                return autoNamed(args.name, (named) => `arn:aws:lambda:${this.world.region}:${FAKE_ACCOUNT}:function:${named}`);
            case "aws:cloudwatch/metricAlarm:MetricAlarm":
                return autoNamed(args.name, (named) => `arn:aws:cloudwatch:${this.world.region}:${FAKE_ACCOUNT}:alarm:${named}`);
            case "aws:s3/bucket:Bucket": {
                // S3 names are lower case; the provider's generated names are too.
                const bucket = fakeAutoName(args.name).toLowerCase();
                return { id: bucket, bucket, arn: `arn:aws:s3:::${bucket}` };
            }
            case "aws:s3/bucketObjectv2:BucketObjectv2":
                return { id: inputs.key, versionId: "" };
            case "aws:sns/topic:Topic": {
                const topic = fakeAutoName(args.name);
                const arn = `arn:aws:sns:${this.world.region}:${FAKE_ACCOUNT}:${topic}`;
                return { id: arn, arn, name: topic };
            }
            case "aws:sns/topicSubscription:TopicSubscription":
                // An email subscription stays pending until the mail's link is clicked; its ARN then says so.
                return { id: `${inputs.topic}:${hexId("sub", args.name)}`, arn: inputs.protocol === "email" ? "pending confirmation" : `${inputs.topic}:${hexId("sub", args.name)}`, pendingConfirmation: inputs.protocol === "email" };
            case "aws:ssm/parameter:Parameter":
                // Named by the program; the ARN's path has no leading slash after "parameter".
                return { id: inputs.name, arn: `arn:aws:ssm:${this.world.region}:${FAKE_ACCOUNT}:parameter${inputs.name}`, version: 1 };
            default:
                return {};
        }
    }

    /** The zone of a subnet the account has or this run made. */
    private zoneOfSubnet(subnetId: string): string | undefined {
        return this.world.subnets.find((subnet) => subnet.id === subnetId)?.zone
            ?? this.ofType("aws:ec2/subnet:Subnet").find((subnet) => hexId("subnet", subnet.name) === subnetId)?.inputs.availabilityZone;
    }

    /**
     * Fails like EC2 when the scenario has no capacity: a new machine (an Instance the account does
     * not hold yet) at launch, a stopped machine asked to run (its InstanceState) at start, with the
     * type this run gives it (a type change in place happens while it is stopped).
     */
    private checkCapacity(type: string, name: string, inputs: Record<string, any>): void {
        const { launch, start } = this.world.noCapacity;
        if (type === "aws:ec2/instance:Instance") {
            const id = hexId("i", name);
            const candidate: Candidate = { instanceType: inputs.instanceType, zone: this.zoneOfSubnet(inputs.subnetId) ?? "", market: marketOfInputs(inputs) };
            this.machines.set(id, candidate);
            // A machine the account holds in another zone is recreated (a move): that is a launch too.
            const held = this.world.instances.some((instance) => instance.id === id && instance.zone === candidate.zone);
            if (!held && launch.includes(candidateKey(candidate))) {
                this.refused.push({ resource: name, action: "launch", candidate });
                throw new Error(ec2CapacityError(candidate, "launch"));
            }
        }
        if (type === "aws:ec2transitgateway/instanceState:InstanceState" && inputs.state === "running") {
            const held = this.world.instances.find((instance) => instance.id === inputs.instanceId);
            const candidate = this.machines.get(inputs.instanceId);
            if (held?.state === "stopped" && candidate && start.includes(candidateKey(candidate))) {
                this.refused.push({ resource: name, action: "start", candidate });
                throw new Error(ec2CapacityError(candidate, "start"));
            }
        }
    }

    /** Resources of one type, in creation order. */
    ofType(type: string): RecordedResource[] {
        return this.resources.filter((resource) => resource.type === type);
    }

    /** The single resource of a type; fails when there is not exactly one. */
    one(type: string): RecordedResource {
        const found = this.ofType(type);
        if (found.length !== 1) {
            throw new Error(`expected exactly one ${type}, found ${found.length}`);
        }
        return found[0];
    }
}
