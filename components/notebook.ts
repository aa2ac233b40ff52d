// The GpuNotebook component: one GPU instance serving Jupyter over HTTPS, its keys, its stable
// address and its firewall. A stack may hold many, each with its own keys, password and networks.
//
// Made in two steps, so that a stack refuses before it creates anything, however many notebooks
// it holds: GpuNotebook.prepare takes validated settings (config's ValidSettings) and checks them
// against the account (preflight.ts) without creating anything; GpuNotebook.create builds what
// prepare returned. The constructor is private, so nothing is built from unchecked settings and
// nothing is checked twice.
import * as pulumi from "@pulumi/pulumi";
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as servicequotas from "@pulumi/aws/servicequotas";
// aws_ec2_instance_state lives in this module of @pulumi/aws, though it serves any instance.
import { InstanceState } from "@pulumi/aws/ec2transitgateway";
import { Provider } from "@pulumi/aws/provider";

import { AmiInfo, DATA_VOLUME_TAG, gpuSummary, MOVED_AWAY_TAG, MOVED_FROM_TAG } from "./aws-data";
import { bundleFiles, userDataBase64 } from "./boot";
import { BUNDLE_PREFIX, createBootBundle, tagBootBundle } from "./bundle";
import { candidateKey, capacityRecordLine, FallbackPrice, fallbackPrice, hintsFromEnvironment, machineResources } from "./capacity";
import { BUNDLE_TAG, IDLE_STOP_TAG, STOP_REASON_TAG, StopReason } from "./contract";
import { CONFIG_NAMESPACE, Market, marketOf, ValidSettings } from "./config";
import { createBudget } from "./cost-controls";
import { attachDataVolume, createDataVolume, dataVolumeName, snapshotForMove } from "./data-volume";
import { createIdleBackstop, createInstanceProfile } from "./idle-backstop";
import { createNotebookTls, createSshHostKey, createSshKeys, TUNNEL_HOST } from "./keys";
import { createPublicVpc, createSecurityGroup, NotebookNetwork, SSH_PORT } from "./network";
import { allowBudgetAlerts, createUnattended, NotebookUnattended, unattendedLabel } from "./notify";
import { createNotebookPassword } from "./password";
import { ELASTIC_IP_QUOTA, MoveStep, Placement, preflight, PreflightOptions, PreflightResult, reportWarnings } from "./preflight";
import { createPriceListProvider, HourlyPrice, lookupHourlyPrice } from "./pricing";
import { decideRunning, RunningDecision, startRequested } from "./running";
import { sshCommand } from "./ssh-command";

const NOTEBOOK_TYPE = "gpu-notebook:index:GpuNotebook";

export interface GpuNotebookArgs {
    /**
     * What to build: the config's settings (readConfig), or a caller's own through validateSettings.
     * Settings with monthlyBudgetUsd make the account's budget as part of this notebook; a stack of
     * several notebooks makes it once with cost-controls.ts createBudget instead.
     */
    settings: ValidSettings;
    /**
     * Label used for the Name tag and the local key file `~/.ssh/<label>.pem`.
     * Default `gpu-notebook-<stack>-<name>`.
     */
    label?: string;
    /**
     * For a notebook of a fleet: its name in the stack's secret map output, where its pasteable
     * sshCommand fetches the login key. Undefined: the key is the stack output sshPrivateKey.
     */
    notebookName?: string;
}

/** What the notebooks of one stack share, made once by the caller; a lone notebook makes its own. */
export interface SharedByNotebooks {
    /** The Price List provider (pricing.ts createPriceListProvider); asked for by on-demand notebooks only. */
    priceList?: () => Provider;
    /** The network in a zone, for when the region has no usable VPC (network.ts createPublicVpc makes one). */
    createdNetwork?: (zone: string) => NotebookNetwork;
    /**
     * The stack's requests for more quota, by quota code (notebooks prepared with QuotaCheck "the
     * stack"): a machine waits for its vCPU quota's, an Elastic IP for the addresses'.
     */
    quotaIncreases?: Partial<Record<string, pulumi.Resource>>;
}

/** The notebook's label and the tags its resources carry (also how a later run finds them). */
export interface NotebookNaming {
    /** Name tag, and the local key file name. */
    label: string;
    /** Tags of every resource; the instance's also find it again on a later run. */
    tags: Record<string, string>;
    /** Value of the data volume's DATA_VOLUME_TAG, which finds it again on a later run. */
    dataVolumeTag: string;
    /** See GpuNotebookArgs.notebookName. */
    notebookName?: string;
}

/** The label of a notebook given none: `gpu-notebook-<stack>-<name>`, also the scripts' file names for it. */
export function defaultLabel(name: string): string {
    return `${CONFIG_NAMESPACE}-${pulumi.getStack()}-${name}`;
}

function namingOf(name: string, label: string | undefined): NotebookNaming {
    const stack = pulumi.getStack();
    const project = pulumi.getProject();
    const chosen = label ?? defaultLabel(name);
    return { label: chosen, tags: { Name: chosen, project, stack }, dataVolumeTag: `${project}/${stack}/${name}` };
}

// Marks what GpuNotebook.prepare returned; only this module can write it.
const PREPARED = Symbol("checked by GpuNotebook.prepare");

/** A notebook whose settings are valid and fit the account, ready to build; only GpuNotebook.prepare makes one. */
export interface PreparedNotebook {
    readonly [PREPARED]: true;
    readonly name: string;
    readonly naming: NotebookNaming;
    readonly settings: ValidSettings;
    readonly market: Market;
    /** What preflight looked up and decided: region, AMI, zone, network, quota, root disk, warnings. */
    readonly account: PreflightResult;
}

/**
 * What a notebook exports, each listed once: the stack outputs (index.ts), the component's
 * registered outputs and a fleet's per-notebook maps are all this object.
 */
export interface NotebookOutputs {
    /** Elastic IP: stays the same across stop/start, so the URL and certificate stay valid. */
    publicIp: pulumi.Output<string>;
    /** A command to paste into bash or zsh: fetches the login key, pins the host key, logs in (ssh-command.ts). */
    sshCommand: pulumi.Output<string>;
    /** Login user on the instance. */
    sshUser: pulumi.Output<string>;
    /** `<ip> ssh-ed25519 AAAA…`: the host key sshd presents, for a known_hosts file. */
    sshKnownHosts: pulumi.Output<string>;
    /**
     * `https://<ip>:<port>/`, or with exposeNotebook false `https://127.0.0.1:<port>/`, the local
     * end of the tunnel `npm run tunnel` opens.
     */
    notebookUrl: pulumi.Output<string>;
    instanceId: pulumi.Output<string>;
    /** The AMI the instance runs (a newer release does not replace it). */
    amiId: pulumi.Output<string>;
    instanceType: pulumi.Output<string>;
    /** The zone the machine and its data volume live in (chosen once, then kept). */
    availabilityZone: pulumi.Output<string>;
    /** The data volume holding ~/notebooks; undefined when dataVolumeGb is 0. */
    dataVolumeId: pulumi.Output<string | undefined>;
    /** The notebook's self-signed certificate: trust exactly this one in the browser. */
    notebookCertificatePem: pulumi.Output<string>;
    /** Secret: the SSH private key in OpenSSH format. */
    sshPrivateKey: pulumi.Output<string>;
    /** Secret: the notebook login password. */
    notebookPassword: pulumi.Output<string>;
    /** USD per hour for the instance at deploy time (on-demand or spot); undefined when the lookup failed. */
    estimatedHourlyCostUsd: pulumi.Output<number | undefined>;
    /** Whether the machine runs after this run (running, unless a stopped one was kept stopped: running.ts), which the scripts show. */
    running: pulumi.Output<boolean>;
    /** The idle stop deployed, in minutes (0: never), which a handout tells its reader. */
    idleStopMinutes: pulumi.Output<number>;
    /** ARN of the SSM parameter holding the last stop's record, which npm run status reads on a stopped machine. */
    lastStopParameter: pulumi.Output<string>;
}

/**
 * What the run tries, one line the user reads: "capacity: NAME tries ZONE/TYPE/MARKET", then what
 * it is and what is left, and with spotFallback what a start that finds no spot capacity can do
 * instead: "on-demand fallback: $1.006 an hour (+$0.580)". The driver reads the same facts from
 * the record reportCapacity logs beside it, never from this line.
 */
function capacityLine(name: string, prepared: PreparedNotebook, fallback?: FallbackPrice): string {
    const { capacity: { chosen, order, full }, typeInfo, placement } = prepared.account;
    const gpu = typeInfo ? ` (${gpuSummary(typeInfo)})` : "";
    const tried = full.length > 0 ? `; EC2 had none of ${full.join(", ")} in this run` : "";
    const left = order.length - 1;
    return `capacity: ${name} tries ${candidateKey(chosen)}${gpu}, ${placement.reason}${tried}; ` +
        (left > 0 ? `${left} more candidate${left === 1 ? "" : "s"} after it: if EC2 has no capacity, \`npm run up\` tries them`
            : "no other candidate: if EC2 has no capacity, `npm run start -- --wait MINUTES` waits for it") +
        (fallback ? `; on-demand fallback: ${fallbackPrice(fallback)}` : "");
}

/**
 * Says what the run tries: the line for the user, and the record for the driver (capacity.ts
 * CapacityRecord: npm run up and start read it from the event log to fail over, and npm run start
 * offers `--on-demand` with its price).
 */
function reportCapacity(name: string, prepared: PreparedNotebook, prices: { spot: HourlyPrice; onDemand?: HourlyPrice }, resource: pulumi.Resource): void {
    const { zone, instanceType, market } = prepared.account.capacity.chosen;
    const onDemandFallback = prices.onDemand && { usdPerHour: prices.onDemand.usd, spotUsdPerHour: prices.spot.usd };
    pulumi.log.info(capacityLine(name, prepared, onDemandFallback), resource);
    pulumi.log.debug(capacityRecordLine({
        notebook: name, candidate: { zone, instanceType, market }, resources: machineResources(name), ...(onDemandFallback ? { onDemandFallback } : {}),
    }), resource);
}

/**
 * What a move does in this run, one line the user reads (npm run move prints the run's output):
 * "move: NAME ...".
 */
function moveLine(name: string, move: MoveStep, volumeName: string): string {
    const { source, to } = move;
    switch (move.kind) {
        case "copy":
            return `move: ${name} copies its data volume ${source.id} (${source.zone}) to a new volume in ${to} by a snapshot, and ` +
                `recreates its machine there (its root disk is not kept); ${source.id} and the snapshot stay until the copy is attached`;
        case "confirm":
            return `move: ${name}'s data volume in ${to}, ${move.copy.id}, is attached; ${source.id} (${source.zone}) is marked ` +
                `as moved away, and the next run deletes it and the move's snapshot`;
        case "finish":
            return `move: ${name} deletes ${source.id} (${source.zone}) and the move's snapshot: the move to ${to} is done. AWS ` +
                `keeps a final snapshot of ${source.id}, as \`pulumi destroy\` does: your data as it left ${source.zone}; delete it ` +
                `(EC2 console, Snapshots, the one named ${volumeName}) once you no longer need it`;
    }
}

/** With spotFallback, the run says it buys on-demand and what that costs more. */
function fallbackWarning(prepared: PreparedNotebook, price: HourlyPrice, spotPrice: HourlyPrice | undefined): string[] {
    if (spotPrice === undefined) {
        return [];
    }
    const { chosen } = prepared.account.capacity;
    const difference = price.usd !== undefined && spotPrice.usd !== undefined
        ? `: $${price.usd.toFixed(3)} an hour instead of about $${spotPrice.usd.toFixed(3)} on spot (+$${(price.usd - spotPrice.usd).toFixed(3)})`
        : " (the price difference could not be looked up)";
    return [`No candidate had spot capacity, so ${chosen.instanceType} in ${chosen.zone} runs on-demand ` +
        `(${CONFIG_NAMESPACE}:spotFallback is on-demand)${difference}. It stays on-demand until it is replaced.`];
}

/** The network the notebook runs in: an existing subnet, or one made for it (once for a stack, when shared). */
function networkOf(
    name: string, placement: Placement, shared: SharedByNotebooks, tags: Record<string, string>, parent: pulumi.Resource,
): NotebookNetwork {
    return placement.network.kind === "existing"
        ? { vpcId: placement.network.vpcId, subnetId: placement.network.subnetId, routing: [] }
        : (shared.createdNetwork?.(placement.zone) ?? createPublicVpc(name, placement.zone, tags, parent));
}

/** The data volume that keeps ~/notebooks (none with dataVolumeGb 0); during a move, the copy. */
function createNotebookVolume(prepared: PreparedNotebook, parent: pulumi.Resource): ebs.Volume | undefined {
    const { name, settings, naming: { label, tags, dataVolumeTag } } = prepared;
    const { placement, freshVolume, move, dataVolume: keptVolume } = prepared.account;
    const volumeTags = { ...tags, Name: `${label}-data`, [DATA_VOLUME_TAG]: dataVolumeTag };
    if (move) {
        // A move (npm run move): the old volume is kept as it was until the copy is attached
        // (preflight.ts MoveStep); the copy is named after its zone, beside it.
        const { source } = move;
        const sourceTags = { ...volumeTags, ...(source.movedFrom ? { [MOVED_FROM_TAG]: source.movedFrom } : {}) };
        const from = move.kind === "finish" ? undefined : createDataVolume(dataVolumeName(name, source), {
            zone: source.zone, sizeGb: settings.dataVolumeGb, snapshotId: settings.restoreFromSnapshotId,
            tags: move.kind === "confirm" ? { ...sourceTags, [MOVED_AWAY_TAG]: "true" } : sourceTags,
        }, parent);
        const snapshot = from && snapshotForMove(name, from, tags, parent);
        const copy = createDataVolume(dataVolumeName(name, { zone: move.to, movedFrom: source.id }), {
            zone: move.to, sizeGb: settings.dataVolumeGb,
            // Once the move finishes the snapshot is gone from the program; the input is pinned (ignoreChanges).
            snapshotId: snapshot ? snapshot.id : undefined,
            tags: { ...volumeTags, [MOVED_FROM_TAG]: move.kind === "copy" ? source.id : move.copy.movedFrom ?? source.id },
        }, parent);
        pulumi.log.info(moveLine(name, move, volumeTags.Name), parent);
        return copy;
    }
    if (settings.dataVolumeGb > 0) {
        return createDataVolume(dataVolumeName(name, keptVolume), {
            zone: placement.zone,
            sizeGb: settings.dataVolumeGb,
            snapshotId: settings.restoreFromSnapshotId,
            tags: keptVolume?.movedFrom ? { ...volumeTags, [MOVED_FROM_TAG]: keptVolume.movedFrom } : volumeTags,
            followsMachine: freshVolume !== undefined,
        }, parent);
    }
    return undefined;
}

/** What the instance is made from, besides the notebook's settings. */
interface MachineArgs {
    settings: ValidSettings;
    market: Market;
    ami: AmiInfo;
    rootDiskGb: number;
    instanceType: string;
    tags: Record<string, string>;
    profile: { name: pulumi.Output<string> };
    keyName: pulumi.Output<string>;
    subnetId: pulumi.Input<string>;
    securityGroupId: pulumi.Output<string>;
    userDataBase64: pulumi.Output<string>;
    dependsOn: pulumi.Resource[];
}

/** Why a machine the config stops stops: `npm run stop`, or the user's own `pulumi config set running false`. */
const USER_STOP: StopReason = "user";

/** The notebook's machine. */
function createMachine(
    name: string, args: MachineArgs, parent: pulumi.Resource,
): ec2.Instance {
    const { settings, market, ami, rootDiskGb, instanceType, tags, profile, keyName, subnetId, securityGroupId, dependsOn } = args;
    return new ec2.Instance(machineResources(name).launch, {
        ami: ami.id,
        iamInstanceProfile: profile.name,
        instanceType,
        keyName,
        subnetId,
        vpcSecurityGroupIds: [securityGroupId],
        userDataBase64: args.userDataBase64,
        // The bootstrap is applied by cloud-init on first boot only, so a changed one needs a
        // fresh instance to take effect rather than a stop/start that ignores it. It changes
        // only with the secrets, sshUser or the fetcher itself (docs/configuration.md).
        userDataReplaceOnChange: true,
        metadataOptions: {
            httpTokens: "required", httpPutResponseHopLimit: 1, httpEndpoint: "enabled", instanceMetadataTags: "enabled",
        },
        rootBlockDevice: {
            volumeType: "gp3",
            volumeSize: rootDiskGb,
            encrypted: true,
            deleteOnTermination: true,
            tags,
        },
        // A shutdown from inside (the idle watcher, `sudo poweroff`) stops, never terminates.
        instanceInitiatedShutdownBehavior: "stop",
        // A persistent request that stops on interruption: AWS may take the machine back, but the
        // disk stays and the request starts it again when capacity returns.
        instanceMarketOptions: market === "spot"
            ? { marketType: "spot", spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" } }
            : undefined,
        // The idle watcher reads its limit from this tag through instance metadata, so a new
        // limit is an in-place tag update, never a new machine. While the config says stopped
        // (npm run stop), the stop's reason is tagged too: the tag update comes before the stop
        // (InstanceState waits for the instance), so the machine's stop sequence reads "user";
        // the start removes it again.
        tags: { ...tags, [IDLE_STOP_TAG]: String(settings.idleStopMinutes), ...(settings.running ? {} : { [STOP_REASON_TAG]: USER_STOP }) },
    }, {
        parent,
        // A newer Deep Learning AMI release must never replace a running notebook. A pinned
        // amiId is the user's explicit choice and is honoured.
        ignoreChanges: [
            ...(settings.amiId === undefined ? ["ami"] : []),
            // Set by its own resource (tagBootBundle): a refresh that reads it here must not remove it.
            `tags.${BUNDLE_TAG}`,
        ],
        // A replaced machine goes before its successor comes: two GPU machines at once would
        // need twice the vCPU quota (new accounts often have exactly one machine's worth), would
        // bill twice, and the data volume can only be attached to one of them anyway.
        deleteBeforeReplace: true,
        dependsOn,
    });
}

/**
 * The machine's power state. running=false stops it; disk, address and keys stay. Always present,
 * so switching is an update of this resource and never touches the instance itself. A stopped
 * machine stays stopped unless npm run start asked (running.ts), and the run says so.
 */
function createInstanceState(prepared: PreparedNotebook, instanceId: pulumi.Input<string>, parent: GpuNotebook): RunningDecision {
    const { name, settings, account } = prepared;
    const power = decideRunning({ name, running: settings.running, machineState: account.machineState, startRequested: startRequested(name) });
    new InstanceState(machineResources(name).start, { instanceId, state: power.state }, { parent });
    if (power.kept) {
        pulumi.log.info(power.kept, parent);
    }
    return power;
}

/**
 * The notebook's topic, for a budget this notebook makes (a stack of one notebook) when its
 * notifications take `budget`, with the policy that lets AWS Budgets publish to it.
 */
function budgetTopic(
    name: string, settings: ValidSettings, unattended: NotebookUnattended, parent: pulumi.Resource,
): { arn: pulumi.Output<string>; policy: pulumi.Resource } | undefined {
    const { topic } = unattended;
    return topic && settings.notifyOn.includes("budget") ? { arn: topic.arn, policy: allowBudgetAlerts(name, topic, parent) } : undefined;
}

/** The outputs that hold secrets: made secret by the component, and kept out of a fleet's public map. */
export const SECRET_OUTPUTS = ["sshPrivateKey", "notebookPassword"] as const satisfies readonly (keyof NotebookOutputs)[];

export class GpuNotebook extends pulumi.ComponentResource {
    /** Everything the notebook exports. */
    readonly outputs: NotebookOutputs;
    /** What the deploy should tell the user (also logged as Pulumi warnings). */
    readonly warnings: string[];

    /**
     * Checks the settings against the account (AMI, quota, zone, network, an
     * existing data volume, the root disk: preflight.ts). Creates nothing; every refusal is thrown
     * from here, so a stack can prepare all its notebooks before it builds any. A stack of several
     * (fleet.ts) checks the vCPU quota for all of them together and shares the account's lookups.
     */
    static async prepare(name: string, args: GpuNotebookArgs, options?: PreflightOptions): Promise<PreparedNotebook> {
        const { settings } = args;
        const naming = { ...namingOf(name, args.label), notebookName: args.notebookName };
        const account = await preflight(settings, marketOf(settings), { instanceTags: naming.tags, dataVolumeTag: naming.dataVolumeTag },
            { hints: hintsFromEnvironment(name), notebookName: args.notebookName, ...options });
        // The market of the candidate chosen: spot's on-demand fallback (spotFallback) buys on-demand.
        return { [PREPARED]: true, name, naming, settings, market: account.capacity.chosen.market, account };
    }

    /** Builds a prepared notebook, after looking up its price (which never refuses). */
    static async create(
        prepared: PreparedNotebook, shared: SharedByNotebooks = {}, opts?: pulumi.ComponentResourceOptions,
    ): Promise<GpuNotebook> {
        const { name, market, account } = prepared;
        const priceList = shared.priceList ?? (() => createPriceListProvider(`${name}-price-list`));
        const instanceType = account.capacity.chosen.instanceType;
        const price = await lookupHourlyPrice(instanceType, account.region, market, priceList);
        const fellBack = prepared.settings.spot && market === "on-demand";
        const spotPrice = fellBack ? await lookupHourlyPrice(instanceType, account.region, "spot", priceList) : undefined;
        // A spot machine that may fall back: what the fallback costs, for a start that finds no spot capacity.
        const offers = market === "spot" && prepared.settings.spotFallback === "on-demand";
        const onDemandPrice = offers ? await lookupHourlyPrice(instanceType, account.region, "on-demand", priceList) : undefined;
        return new GpuNotebook(prepared, price, shared, opts, spotPrice, onDemandPrice);
    }

    private constructor(
        prepared: PreparedNotebook, price: HourlyPrice, shared: SharedByNotebooks, opts?: pulumi.ComponentResourceOptions, spotPrice?: HourlyPrice,
        onDemandPrice?: HourlyPrice,
    ) {
        const { name, settings, market, naming: { label, tags, notebookName } } = prepared;
        const stack = pulumi.getStack();
        const { ami, rootDiskGb, placement, vcpus, quotaRequest, warnings, capacity } = prepared.account;
        const instanceType = capacity.chosen.instanceType;
        super(NOTEBOOK_TYPE, name, {}, opts);
        const parent = this;
        reportCapacity(name, prepared, { spot: price, onDemand: onDemandPrice }, this);

        const network = networkOf(name, placement, shared, tags, parent);

        // Filed only when the quota is too low and requestQuotaIncrease is set; AWS decides.
        const quotaIncrease = quotaRequest && new servicequotas.ServiceQuota(`${name}-vcpu-quota`, {
            serviceCode: "ec2",
            quotaCode: quotaRequest.quota.code,
            value: quotaRequest.value,
        }, { parent });
        const vcpuIncrease = quotaIncrease || shared.quotaIncreases?.[vcpus.quota.code];

        // Depends on nothing of the machine: see data-volume.ts.
        const dataVolume = createNotebookVolume(prepared, parent);

        const ssh = createSshKeys(name, tags, parent);
        const hostKey = createSshHostKey(name, parent);
        // Allocated before the instance exists, so the certificate can name the address.
        const addressIncrease = shared.quotaIncreases?.[ELASTIC_IP_QUOTA.code];
        const eip = new ec2.Eip(`${name}-ip`, { domain: "vpc", tags }, { parent, dependsOn: addressIncrease && [addressIncrease] });
        const notebookTls = createNotebookTls(name, eip.publicIp, parent);

        const password = createNotebookPassword(name, settings.notebookPassword, parent);

        const group = createSecurityGroup(name, {
            allowedCidrs: settings.allowedCidrs,
            ports: settings.exposeNotebook ? [SSH_PORT, settings.notebookPort] : [SSH_PORT],
            vpcId: network.vpcId,
            tags,
        }, parent);

        // Its last-stop record, and with notifications its topic and webhook (notify.ts).
        const unattended = createUnattended(name, settings, unattendedLabel(stack, notebookName), tags, parent);

        // The machine's software and settings: a new version is a new bundle and a new tag value,
        // never a change to the instance (see bundle.ts).
        const bundle = createBootBundle(name, pulumi.output({
            sshUser: settings.sshUser,
            notebookPort: settings.notebookPort,
            // Unexposed, only an SSH tunnel reaches Jupyter, even if a security group rule is added by hand.
            listenAddress: settings.exposeNotebook ? "0.0.0.0" : TUNNEL_HOST,
            dataVolumeId: dataVolume?.id,
            tlsCertificatePem: notebookTls.certificate.certPem,
            unattended: unattended.file,
        }).apply(bundleFiles), tags, parent);
        // Only what cloud-init alone can do at first boot, and the secrets (see boot.ts).
        const userData = userDataBase64({
            sshUser: settings.sshUser,
            sshPublicKey: ssh.privateKey.publicKeyOpenssh,
            passwordHash: password.hash,
            tlsPrivateKeyPem: notebookTls.privateKey.privateKeyPem,
            sshHostKey: { privateKeyOpenssh: hostKey.privateKeyOpenssh, publicKeyOpenssh: hostKey.publicKeyOpenssh },
        });

        // The idle watcher's heartbeat and the bundle fetch go through this role (see
        // idle-backstop.ts). A new profile on an existing instance is an in-place update.
        const profile = createInstanceProfile(name, tags, pulumi.interpolate`${bundle.bucketArn}/${BUNDLE_PREFIX}*`,
            unattended.instanceStatements, parent);

        const instance = createMachine(name, {
            settings, market, ami, rootDiskGb, instanceType, tags, profile, keyName: ssh.keyPair.keyName, subnetId: network.subnetId,
            securityGroupId: group.id, userDataBase64: userData,
            dependsOn: [...network.routing, ...(vcpuIncrease ? [vcpuIncrease] : []), bundle.object],
        }, parent);
        tagBootBundle(name, instance.id, bundle, parent);
        if (dataVolume) {
            attachDataVolume(name, dataVolume, instance, parent);
        }
        new ec2.EipAssociation(`${name}-ip-association`, {
            allocationId: eip.allocationId,
            instanceId: instance.id,
        }, { parent });

        const power = createInstanceState(prepared, instance.id, parent);

        if (settings.idleStopMinutes > 0) {
            createIdleBackstop(name, {
                instanceId: instance.id, instanceArn: instance.arn, idleStopMinutes: settings.idleStopMinutes, label, tags,
                unattended: { ...unattended, notifyStopping: settings.notifyOn.includes("stopping"), label: unattendedLabel(stack, notebookName) },
            }, parent);
        }
        if (settings.monthlyBudgetUsd !== undefined && settings.alertEmail !== undefined) {
            createBudget(name, {
                monthlyBudgetUsd: settings.monthlyBudgetUsd, alertEmail: settings.alertEmail, tags, topic: budgetTopic(name, settings, unattended, parent),
            }, parent);
        }

        this.warnings = [...warnings, ...(price.warning ? [price.warning] : []), ...fallbackWarning(prepared, price, spotPrice)];
        reportWarnings(this.warnings, this);

        const sshKnownHosts = pulumi.interpolate`${eip.publicIp} ${hostKey.publicKeyOpenssh.apply((key) => key.trim())}`;
        const outputs: NotebookOutputs = {
            publicIp: eip.publicIp,
            sshCommand: sshCommand({ label, user: settings.sshUser, ip: eip.publicIp, knownHosts: sshKnownHosts, notebookName }),
            sshUser: pulumi.output(settings.sshUser),
            sshKnownHosts,
            notebookUrl: settings.exposeNotebook
                ? pulumi.interpolate`https://${eip.publicIp}:${settings.notebookPort}/`
                : pulumi.output(`https://${TUNNEL_HOST}:${settings.notebookPort}/`),
            instanceId: instance.id,
            amiId: instance.ami,
            instanceType: instance.instanceType,
            availabilityZone: pulumi.output(placement.zone),
            dataVolumeId: dataVolume ? dataVolume.id : pulumi.output(undefined),
            notebookCertificatePem: notebookTls.certificate.certPem,
            sshPrivateKey: ssh.privateKey.privateKeyOpenssh,
            notebookPassword: password.password,
            estimatedHourlyCostUsd: pulumi.output(price.usd),
            running: pulumi.output(power.state === "running"),
            idleStopMinutes: pulumi.output(settings.idleStopMinutes),
            lastStopParameter: unattended.lastStop.arn,
        };
        for (const secret of SECRET_OUTPUTS) {
            outputs[secret] = pulumi.secret(outputs[secret]);
        }
        this.outputs = outputs;
        this.registerOutputs(outputs);
    }
}
