// A stack of several notebooks (config `notebooks`), such as a class with one per student. Every
// notebook is prepared, and the account's quotas checked for all of them together, before
// anything is created; then what they share is made once and each notebook is its own
// GpuNotebook named after its entry, so adding or removing one touches no other.
import * as pulumi from "@pulumi/pulumi";
import * as servicequotas from "@pulumi/aws/servicequotas";
import { Provider } from "@pulumi/aws/provider";

import { lookupEc2Quota, lookupElasticIps } from "./aws-data";
import { Budget, CONFIG_NAMESPACE, DeployRefused, firstType, NamedSettings, notebookProblems, NotebookProblems, Problem, StackSettings } from "./config";
import { createBudget } from "./cost-controls";
import { createVpcWithRoute, NotebookNetwork, PublicVpc, zoneSubnetCidr } from "./network";
import { defaultLabel, GpuNotebook, NotebookOutputs, PreparedNotebook, SECRET_OUTPUTS, SharedByNotebooks } from "./notebook";
import {
    decideAddresses, decideQuota, ELASTIC_IP_QUOTA, Ec2Quota, QuotaDecision, reportWarnings, sharedLookups,
} from "./preflight";
import { createPriceListProvider } from "./pricing";

/** What the stack's `notebooks` output holds per notebook: everything but the secrets and the AMI. */
export const FLEET_PUBLIC_OUTPUTS = [
    "publicIp", "notebookUrl", "sshCommand", "sshUser", "sshKnownHosts", "instanceId", "instanceType",
    "availabilityZone", "dataVolumeId", "notebookCertificatePem", "estimatedHourlyCostUsd", "running", "idleStopMinutes",
    "lastStopParameter",
] as const satisfies readonly Exclude<keyof NotebookOutputs, (typeof SECRET_OUTPUTS)[number]>[];

type Values<Keys extends keyof NotebookOutputs> = { [Key in Keys]: pulumi.Unwrap<NotebookOutputs[Key]> };

/** The stack outputs of a stack with `notebooks`: two maps by notebook name, and the total price. */
export interface FleetOutputs {
    /** Not secret, so `pulumi stack output notebooks` is readable. */
    notebooks: pulumi.Output<Record<string, Values<(typeof FLEET_PUBLIC_OUTPUTS)[number]>>>;
    /** Secret: each notebook's password and SSH private key. */
    notebookSecrets: pulumi.Output<Record<string, Values<(typeof SECRET_OUTPUTS)[number]>>>;
    /** USD per hour for all the instances together; undefined when any price is unknown. */
    estimatedHourlyCostUsd: pulumi.Output<number | undefined>;
}

/** The start of the names of what the notebooks share (a notebook's resources start with its name). */
const SHARED = "shared";

/** Notebooks checked against the account, ready to build; only prepareFleet makes one. */
export interface PreparedFleet {
    notebooks: PreparedNotebook[];
    budget?: Budget;
    /** Quota increases to file (requestQuotaIncrease), for every notebook together. */
    quotaRequests: { quota: Ec2Quota; value: number }[];
    /** What the stack's checks should tell the user. */
    warnings: string[];
}

/**
 * Prepares every notebook (GpuNotebook.prepare) and checks the account's quotas for all of them
 * together: the vCPUs of each GPU quota, added up, and an Elastic IP for each notebook besides the
 * addresses the account holds. Creates nothing; throws one DeployRefused with every notebook's
 * problems.
 */
export async function prepareFleet(stack: StackSettings & { kind: "fleet" }): Promise<PreparedFleet> {
    const lookups = sharedLookups();
    const settled = await Promise.allSettled(stack.notebooks.map(({ name, settings }) =>
        GpuNotebook.prepare(name, { settings, notebookName: name }, { quotaCheck: "the stack", lookups })));
    const notebooks: PreparedNotebook[] = [];
    const found: NotebookProblems[] = [];
    settled.forEach((result, index) => {
        const { name, ownKeys } = stack.notebooks[index];
        if (result.status === "fulfilled") {
            notebooks.push(result.value);
        } else if (result.reason instanceof DeployRefused) {
            found.push({ name, ownKeys, problems: result.reason.problems });
        } else {
            throw result.reason;
        }
    });
    const limits = notebooks.length > 0 ? await accountLimits(notebooks, stack.notebooks) : { decisions: [], problems: [] };
    const problems = [...notebookProblems(found), ...limits.problems];
    if (problems.length > 0) {
        throw new DeployRefused(problems);
    }
    return {
        notebooks,
        budget: stack.budget,
        quotaRequests: limits.decisions.flatMap((decision) => decision.kind === "request" ? [{ quota: decision.quota, value: decision.value }] : []),
        warnings: limits.decisions.flatMap((decision) => decision.kind === "enough" ? [] : [decision.warning]),
    };
}

/** The account's quotas against what all the notebooks need: decisions, and refusals as problems. */
async function accountLimits(
    notebooks: PreparedNotebook[], configured: NamedSettings[],
): Promise<{ decisions: QuotaDecision[]; problems: Problem[] }> {
    // Account keys are top-level only, so every notebook has the same.
    const { region } = notebooks[0].account;
    const requestIncrease = notebooks[0].settings.requestQuotaIncrease;
    const byQuota = new Map<string, PreparedNotebook[]>();
    for (const notebook of notebooks) {
        const code = notebook.account.vcpus.quota.code;
        byQuota.set(code, [...(byQuota.get(code) ?? []), notebook]);
    }
    const decide: (() => QuotaDecision)[] = [...byQuota.values()].map((sharing) => () => decideQuota({
        demands: sharing.map(({ name, settings, account }) => ({ notebook: name, instanceType: firstType(settings), vcpus: account.vcpus.needed })),
        market: sharing[0].market,
        region,
        current: sharing[0].account.vcpus.current,
        requestIncrease,
    }));
    // Every notebook configured keeps an address, those that could not be prepared included.
    const labels = configured.map(({ name }) => defaultLabel(name));
    const [held, quota] = await Promise.all([
        lookupElasticIps({ project: pulumi.getProject(), stack: pulumi.getStack() }, labels),
        lookupEc2Quota(ELASTIC_IP_QUOTA.code),
    ]);
    decide.push(() => decideAddresses({ region, notebooks: configured.length, held, quota, requestIncrease }));

    const decisions: QuotaDecision[] = [];
    const problems: Problem[] = [];
    for (const decision of decide) {
        try {
            decisions.push(decision());
        } catch (error) {
            if (!(error instanceof DeployRefused)) {
                throw error;
            }
            problems.push(...error.problems);
        }
    }
    return { decisions, problems };
}

/** What the notebooks share, each made once on first use: the Price List provider, a created network. */
function sharedThings(tags: Record<string, string>, quotaIncreases: SharedByNotebooks["quotaIncreases"]): SharedByNotebooks {
    let priceList: Provider | undefined;
    let vpc: PublicVpc | undefined;
    const subnets = new Map<string, NotebookNetwork>();
    return {
        priceList: () => (priceList ??= createPriceListProvider(`${SHARED}-price-list`)),
        createdNetwork: (zone) => {
            vpc ??= createVpcWithRoute(SHARED, tags);
            const network = subnets.get(zone) ?? vpc.subnet(`subnet-${zone}`, zone, zoneSubnetCidr(zone));
            subnets.set(zone, network);
            return network;
        },
        quotaIncreases,
    };
}

/** Builds a prepared fleet: the shared things, then one GpuNotebook per notebook; returns the stack outputs. */
export async function createFleet(fleet: PreparedFleet): Promise<FleetOutputs> {
    const stack = pulumi.getStack();
    const tags = { Name: `${CONFIG_NAMESPACE}-${stack}`, project: pulumi.getProject(), stack };
    reportWarnings(fleet.warnings);
    const quotaIncreases = Object.fromEntries(fleet.quotaRequests.map(({ quota, value }) => [quota.code,
        new servicequotas.ServiceQuota(`${SHARED}-quota-${quota.code}`, { serviceCode: "ec2", quotaCode: quota.code, value })]));
    if (fleet.budget) {
        createBudget(SHARED, { ...fleet.budget, tags });
    }
    const shared = sharedThings(tags, quotaIncreases);
    const built = await Promise.all(fleet.notebooks.map((notebook) => GpuNotebook.create(notebook, shared)));
    const byName = <Key extends keyof NotebookOutputs>(keys: readonly Key[]) => pulumi.output(Object.fromEntries(built.map((notebook, index) =>
        [fleet.notebooks[index].name, Object.fromEntries(keys.map((key) => [key, notebook.outputs[key]]))]))) as pulumi.Output<Record<string, Values<Key>>>;
    return {
        notebooks: byName(FLEET_PUBLIC_OUTPUTS),
        notebookSecrets: pulumi.secret(byName(SECRET_OUTPUTS)),
        estimatedHourlyCostUsd: pulumi.all(built.map((notebook) => notebook.outputs.estimatedHourlyCostUsd)).apply((prices) =>
            prices.every((price): price is number => price !== undefined)
                // Rounded to the Price List's precision, so 0.526 + 0.526 is 1.052, not 1.0520000000000003.
                ? Math.round(prices.reduce((sum, price) => sum + price, 0) * 1e6) / 1e6
                : undefined),
    };
}
