// The GpuNotebook component: one GPU instance serving Jupyter over HTTPS, its keys, its stable
// address and its firewall. A stack may hold many, each with its own keys, password and networks.
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as servicequotas from "@pulumi/aws/servicequotas";
// aws_ec2_instance_state lives in this module of @pulumi/aws, though it serves any instance.
import { InstanceState } from "@pulumi/aws/ec2transitgateway";

import { AmiInfo, DATA_VOLUME_TAG, defaultDiskSizeGb, lookupAmi } from "./aws-data";
import { IDLE_STOP_TAG, userDataBase64 } from "./boot";
import { CONFIG_NAMESPACE, DeployRefused, marketOf, NotebookSettings, problem, validateSettings } from "./config";
import { createBudget, createIdleBackstop } from "./cost-controls";
import { attachDataVolume, createDataVolume } from "./data-volume";
import { createNotebookTls, createSshHostKey, createSshKeys, TUNNEL_HOST } from "./keys";
import { createPublicVpc, createSecurityGroup, SSH_PORT } from "./network";
import { createNotebookPassword } from "./password";
import { preflight, PreflightResult, reportWarnings } from "./preflight";
import { createPriceListProvider, HourlyPrice, lookupHourlyPrice } from "./pricing";

export const NOTEBOOK_TYPE = "gpu-notebook:index:GpuNotebook";

/** Arguments of a notebook: the validated settings plus how this notebook is labelled. */
export interface GpuNotebookArgs extends NotebookSettings {
    /**
     * Label used for the Name tag and the local key file `~/.ssh/<label>.pem`.
     * Default `gpu-notebook-<stack>-<name>`.
     */
    label?: string;
}

/** What the deploy-time lookups found and decided; `GpuNotebook.create` fills it in. */
export interface NotebookEnvironment extends PreflightResult {
    ami: AmiInfo;
    /** The instance's hourly price, or a warning saying why it is unknown. */
    price: HourlyPrice;
}

export interface NotebookLabels {
    /** Name tag, and the local key file name. */
    label: string;
    /** Tags of every resource; the instance's also find it again on a later run. */
    tags: Record<string, string>;
    /** Value of the data volume's DATA_VOLUME_TAG, which finds it again on a later run. */
    dataVolumeTag: string;
}

/** The notebook's label and the tags its resources carry (also how a later run finds them). */
export function notebookIdentity(name: string, args: GpuNotebookArgs): NotebookLabels {
    const stack = pulumi.getStack();
    const project = pulumi.getProject();
    const label = args.label ?? `${CONFIG_NAMESPACE}-${stack}-${name}`;
    return {
        label,
        tags: { Name: label, project, stack },
        dataVolumeTag: `${project}/${stack}/${name}`,
    };
}

/** Checks settings against what AWS reported, before any resource exists. */
export function checkAgainstEnvironment(args: GpuNotebookArgs, env: NotebookEnvironment): void {
    if (args.diskSizeGb !== undefined && args.diskSizeGb < env.ami.rootSizeGb) {
        throw new DeployRefused([problem("diskSizeGb", args.diskSizeGb,
            `the AMI ${env.ami.id} (${env.ami.name}) needs at least ${env.ami.rootSizeGb} GiB; ` +
            `use ${defaultDiskSizeGb(env.ami)} or more, or leave it unset`)]);
    }
}

export class GpuNotebook extends pulumi.ComponentResource {
    /** Elastic IP: stays the same across stop/start, so the URL and certificate stay valid. */
    readonly publicIp: pulumi.Output<string>;
    /** `ssh -i ~/.ssh/<label>.pem <user>@<ip>` */
    readonly sshCommand: pulumi.Output<string>;
    /** Login user on the instance. */
    readonly sshUser: pulumi.Output<string>;
    /** `<ip> ssh-ed25519 AAAA…`: the host key sshd presents, for a known_hosts file. */
    readonly sshKnownHosts: pulumi.Output<string>;
    /**
     * `https://<ip>:<port>/`, or with exposeNotebook false `https://127.0.0.1:<port>/`, the local
     * end of the tunnel `npm run tunnel` opens.
     */
    readonly notebookUrl: pulumi.Output<string>;
    readonly instanceId: pulumi.Output<string>;
    /** The AMI the instance runs (a newer release does not replace it). */
    readonly amiId: pulumi.Output<string>;
    readonly instanceType: pulumi.Output<string>;
    /** The zone the machine and its data volume live in (chosen once, then kept). */
    readonly availabilityZone: pulumi.Output<string>;
    /** The data volume holding ~/notebooks; undefined when dataVolumeGb is 0. */
    readonly dataVolumeId: pulumi.Output<string | undefined>;
    /** The notebook's self-signed certificate: trust exactly this one in the browser. */
    readonly notebookCertificatePem: pulumi.Output<string>;
    /** Secret: the SSH private key in OpenSSH format. */
    readonly sshPrivateKey: pulumi.Output<string>;
    /** Secret: the notebook login password. */
    readonly notebookPassword: pulumi.Output<string>;
    /** USD per hour for the instance at deploy time (on-demand or spot); undefined when the lookup failed. */
    readonly estimatedHourlyCostUsd: pulumi.Output<number | undefined>;
    /** What the deploy should tell the user (also logged as Pulumi warnings). */
    readonly warnings: string[];

    /**
     * Looks up what the notebook needs from AWS (the AMI) and checks the account (quota, zone,
     * network, an existing data volume: preflight.ts), then creates the notebook. Every refusal
     * happens before any resource of this notebook exists.
     */
    static async create(name: string, args: GpuNotebookArgs, opts?: pulumi.ComponentResourceOptions): Promise<GpuNotebook> {
        const settings = { ...args, ...validateSettings(args) };
        const identity = notebookIdentity(name, settings);
        const market = marketOf(settings);
        const [ami, found] = await Promise.all([
            lookupAmi(settings.amiId),
            preflight(settings, { instanceTags: identity.tags, dataVolumeTag: identity.dataVolumeTag, market }),
        ]);
        const price = await lookupHourlyPrice(settings.instanceType, found.region, market,
            () => createPriceListProvider(`${name}-price-list`));
        const env: NotebookEnvironment = { ami, ...found, price };
        checkAgainstEnvironment(settings, env);
        return new GpuNotebook(name, settings, env, opts);
    }

    constructor(name: string, args: GpuNotebookArgs, env: NotebookEnvironment, opts?: pulumi.ComponentResourceOptions) {
        super(NOTEBOOK_TYPE, name, {}, opts);
        const settings = { ...args, ...validateSettings(args) };
        checkAgainstEnvironment(settings, env);

        const { label, tags, dataVolumeTag } = notebookIdentity(name, settings);
        const parent = this;

        const network = env.placement.network.kind === "existing"
            ? { vpcId: pulumi.output(env.placement.network.vpcId), subnetId: pulumi.output(env.placement.network.subnetId), routing: [] }
            : createPublicVpc(name, env.placement.zone, tags, parent);

        // Filed only when the quota is too low and requestQuotaIncrease is set; AWS decides.
        const quotaRequest = env.quotaRequest && new servicequotas.ServiceQuota(`${name}-vcpu-quota`, {
            serviceCode: "ec2",
            quotaCode: env.quotaRequest.quota.code,
            value: env.quotaRequest.value,
        }, { parent });

        // Depends on nothing of the machine: see data-volume.ts.
        const dataVolume = settings.dataVolumeGb > 0
            ? createDataVolume(name, {
                zone: env.placement.zone,
                sizeGb: settings.dataVolumeGb,
                snapshotId: settings.restoreFromSnapshotId,
                tags: { ...tags, Name: `${label}-data`, [DATA_VOLUME_TAG]: dataVolumeTag },
            }, parent)
            : undefined;

        const ssh = createSshKeys(name, tags, parent);
        const hostKey = createSshHostKey(name, parent);
        // Allocated before the instance exists, so the certificate can name the address.
        const eip = new ec2.Eip(`${name}-ip`, { domain: "vpc", tags }, { parent });
        const notebookTls = createNotebookTls(name, eip.publicIp, parent);

        const password = createNotebookPassword(name, settings.notebookPassword, parent);

        const group = createSecurityGroup(name, {
            allowedCidrs: settings.allowedCidrs,
            ports: settings.exposeNotebook ? [SSH_PORT, settings.notebookPort] : [SSH_PORT],
            vpcId: network.vpcId,
            tags,
        }, parent);

        const userData = userDataBase64({
            sshUser: settings.sshUser,
            sshPublicKey: ssh.privateKey.publicKeyOpenssh,
            notebookPort: settings.notebookPort,
            // Unexposed, only an SSH tunnel reaches Jupyter, even if a security group rule is added by hand.
            listenAddress: settings.exposeNotebook ? "0.0.0.0" : TUNNEL_HOST,
            passwordHash: password.hash,
            tlsCertificatePem: notebookTls.certificate.certPem,
            tlsPrivateKeyPem: notebookTls.privateKey.privateKeyPem,
            dataVolumeId: dataVolume?.id,
            sshHostKey: { privateKeyOpenssh: hostKey.privateKeyOpenssh, publicKeyOpenssh: hostKey.publicKeyOpenssh },
        });

        const instance = new ec2.Instance(`${name}-instance`, {
            ami: env.ami.id,
            instanceType: settings.instanceType,
            keyName: ssh.keyPair.keyName,
            subnetId: network.subnetId,
            vpcSecurityGroupIds: [group.id],
            userDataBase64: userData,
            // Boot configuration is applied by cloud-init on first boot only, so a changed one
            // needs a fresh instance to take effect rather than a stop/start that ignores it.
            userDataReplaceOnChange: true,
            metadataOptions: {
                httpTokens: "required", httpPutResponseHopLimit: 1, httpEndpoint: "enabled", instanceMetadataTags: "enabled",
            },
            rootBlockDevice: {
                volumeType: "gp3",
                volumeSize: settings.diskSizeGb ?? defaultDiskSizeGb(env.ami),
                encrypted: true,
                deleteOnTermination: true,
                tags,
            },
            // A shutdown from inside (the idle watcher, `sudo poweroff`) stops, never terminates.
            instanceInitiatedShutdownBehavior: "stop",
            // A persistent request that stops on interruption: AWS may take the machine back, but the
            // disk stays and the request starts it again when capacity returns.
            instanceMarketOptions: settings.spot
                ? { marketType: "spot", spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" } }
                : undefined,
            // The idle watcher reads its limit from this tag through instance metadata, so a new
            // limit is an in-place tag update, never a new machine.
            tags: { ...tags, [IDLE_STOP_TAG]: String(settings.idleStopMinutes) },
        }, {
            parent,
            // A newer Deep Learning AMI release must never replace a running notebook. A pinned
            // amiId is the user's explicit choice and is honoured.
            ignoreChanges: settings.amiId === undefined ? ["ami"] : [],
            // A replaced machine goes before its successor comes: two GPU machines at once would
            // need twice the vCPU quota (new accounts often have exactly one machine's worth), would
            // bill twice, and the data volume can only be attached to one of them anyway.
            deleteBeforeReplace: true,
            dependsOn: [...network.routing, ...(quotaRequest ? [quotaRequest] : [])],
        });
        if (dataVolume) {
            attachDataVolume(name, dataVolume, instance, parent);
        }
        new ec2.EipAssociation(`${name}-ip-association`, {
            allocationId: eip.allocationId,
            instanceId: instance.id,
        }, { parent });

        // running=false stops the instance; disk, address and keys stay. Always present, so switching
        // is an update of this resource and never touches the instance itself.
        new InstanceState(`${name}-state`, {
            instanceId: instance.id,
            state: settings.running ? "running" : "stopped",
        }, { parent });

        if (settings.idleStopMinutes > 0) {
            createIdleBackstop(name, {
                instanceId: instance.id, idleStopMinutes: settings.idleStopMinutes, label, region: env.region, tags,
            }, parent);
        }
        if (settings.monthlyBudgetUsd !== undefined && settings.alertEmail !== undefined) {
            createBudget(name, { monthlyBudgetUsd: settings.monthlyBudgetUsd, alertEmail: settings.alertEmail, tags }, parent);
        }

        this.warnings = [...env.warnings, ...(env.price.warning ? [env.price.warning] : [])];
        reportWarnings(this.warnings, this);

        this.publicIp = eip.publicIp;
        this.sshCommand = pulumi.interpolate`ssh -i ~/.ssh/${label}.pem ${settings.sshUser}@${eip.publicIp}`;
        this.sshUser = pulumi.output(settings.sshUser);
        this.sshKnownHosts = pulumi.interpolate`${eip.publicIp} ${hostKey.publicKeyOpenssh.apply((key) => key.trim())}`;
        this.notebookUrl = settings.exposeNotebook
            ? pulumi.interpolate`https://${eip.publicIp}:${settings.notebookPort}/`
            : pulumi.output(`https://${TUNNEL_HOST}:${settings.notebookPort}/`);
        this.instanceId = instance.id;
        this.amiId = instance.ami;
        this.instanceType = instance.instanceType;
        this.availabilityZone = pulumi.output(env.placement.zone);
        this.dataVolumeId = dataVolume ? dataVolume.id : pulumi.output(undefined);
        this.notebookCertificatePem = notebookTls.certificate.certPem;
        this.sshPrivateKey = pulumi.secret(ssh.privateKey.privateKeyOpenssh);
        this.notebookPassword = password.password;
        this.estimatedHourlyCostUsd = pulumi.output(env.price.usd);

        this.registerOutputs({
            estimatedHourlyCostUsd: this.estimatedHourlyCostUsd,
            publicIp: this.publicIp,
            sshCommand: this.sshCommand,
            sshUser: this.sshUser,
            sshKnownHosts: this.sshKnownHosts,
            notebookUrl: this.notebookUrl,
            instanceId: this.instanceId,
            amiId: this.amiId,
            instanceType: this.instanceType,
            availabilityZone: this.availabilityZone,
            dataVolumeId: this.dataVolumeId,
            notebookCertificatePem: this.notebookCertificatePem,
            sshPrivateKey: this.sshPrivateKey,
            notebookPassword: this.notebookPassword,
        });
    }
}
