// Pulumi mocks that stand in for AWS, tls and random: they record every resource and invoke, and
// answer with what the real providers would compute (addresses from 203.0.113.0/24, real keys and
// certificates). An invoke token without a handler fails the test, so no lookup slips in unmocked.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

import { INVOKE_TOKENS } from "../../components/aws-data";
import { ecdsaP256Material, ed25519Material, selfSignedCertificate } from "./keys";

export interface RecordedResource {
    type: string;
    name: string;
    /** Inputs as the provider would see them, secrets revealed. */
    inputs: Record<string, any>; // any: provider inputs are untyped
    /** Top-level input names that arrived as secrets. */
    secretInputs: string[];
}

// How the engine marks a secret value on the wire (pulumi/sdk runtime/rpc.ts specialSigKey).
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

function isSecretValue(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Unwraps secret markers at any depth, as a provider receives them. */
export function reveal(value: unknown): any { // any: mirrors whatever shape it is given
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

function digest(text: string): Buffer {
    return createHash("sha256").update(text).digest();
}

function hexId(prefix: string, name: string, length = 17): string {
    return `${prefix}-${digest(name).toString("hex").slice(0, length)}`;
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
    /**
     * The address every Elastic IP gets. Default: a documentation address per name (fakePublicIp).
     * Suites that serve the notebook locally use 127.0.0.1, so its certificate is valid there.
     */
    elasticIp?: string;
}

export class MockCloud implements pulumi.runtime.Mocks {
    readonly resources: RecordedResource[] = [];
    readonly calls: RecordedCall[] = [];
    readonly invokes: Record<string, InvokeHandler>;

    constructor(
        readonly ami: FakeAmi = DEFAULT_FAKE_AMI,
        extraInvokes: Record<string, InvokeHandler> = {},
        readonly options: MockCloudOptions = {},
    ) {
        this.invokes = {
            [INVOKE_TOKENS.getAmi]: () => this.amiResult(),
            ...extraInvokes,
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
        this.calls.push({ token: args.token, inputs: reveal(args.inputs) });
        const handler = this.invokes[args.token];
        if (!handler) {
            throw new Error(`unmocked invoke ${args.token}: add it to components/aws-data.ts and the mocks`);
        }
        return handler(reveal(args.inputs));
    }

    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        const inputs = reveal(args.inputs);
        const secretInputs = Object.keys(args.inputs ?? {}).filter((key) => isSecretValue(args.inputs[key]));
        this.resources.push({ type: args.type, name: args.name, inputs, secretInputs });
        const computed = this.computed(args.type, args.name, inputs);
        return { id: computed.id ?? hexId("id", args.name), state: { ...args.inputs, ...computed } };
    }

    // any: state shapes differ per resource type
    private computed(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
        const args = { name };
        switch (type) {
            case "tls:index/privateKey:PrivateKey":
                return inputs.algorithm === "ED25519"
                    ? cached(`ed25519:${args.name}`, () => ed25519Material())
                    : cached(`ecdsa:${args.name}`, () => ecdsaP256Material());
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
                    publicIp: this.options.elasticIp ?? fakePublicIp(args.name),
                };
            case "aws:ec2/keyPair:KeyPair":
                return { id: `${args.name}-${hexId("k", args.name, 7)}`, keyName: `${args.name}-${hexId("k", args.name, 7)}` };
            case "aws:ec2/securityGroup:SecurityGroup":
                return { id: hexId("sg", args.name) };
            case "aws:ec2/instance:Instance":
                return {
                    id: hexId("i", args.name),
                    privateIp: "172.31.0.10",
                    instanceState: "running",
                };
            default:
                return {};
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
