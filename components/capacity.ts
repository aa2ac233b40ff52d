// Capacity: which (zone, type, market) a notebook's machine tries, in what order, and what EC2
// says when it has none. EC2 cannot be asked whether a zone has a free GPU; it only refuses a
// launch or a start. So the driver (`npm run up`, `npm run start`) runs `pulumi up`, reads the
// refusal, and runs it again telling the program which candidates were full, through the
// environment (hintsFromEnvironment). The order itself is one pure function, candidateOrder.
// What the program tells the driver is data too: one record a notebook (CapacityRecord) that the
// program writes and the driver (scripts/lib/capacity.js) reads with this module, so no sentence
// a user reads is ever parsed.
// Loaded by the driver through scripts/lib/ts-require.js: keep it free of the Pulumi SDK.
import type { Market, NotebookSettings } from "./config/schema";
import { pulumiCommand } from "./config/words";
import { CAPACITY_ENV } from "./contract";

/** One way to get a machine: a type, in a zone, bought on a market. */
export interface Candidate {
    instanceType: string;
    zone: string;
    market: Market;
}

/** "us-east-1a/g5.xlarge/on-demand": how a candidate is named in the environment and the logs. */
export function candidateKey(candidate: Candidate): string {
    return `${candidate.zone}/${candidate.instanceType}/${candidate.market}`;
}

/** An instance type's name as EC2 spells it (g6.xlarge): in a candidate key, and in npm run start --type. */
const INSTANCE_TYPE_NAME = "[a-z0-9-]+\\.[a-z0-9-]+";

export function isInstanceTypeName(text: string): boolean {
    return new RegExp(`^${INSTANCE_TYPE_NAME}$`).test(text);
}

export function parseCandidateKey(key: string): Candidate | undefined {
    const match = new RegExp(`^([a-z0-9-]+)/(${INSTANCE_TYPE_NAME})/(on-demand|spot)$`).exec(key.trim());
    return match ? { zone: match[1], instanceType: match[2], market: match[3] as Market } : undefined;
}

/** What decides the order of a notebook's candidates. */
export interface OrderFacts {
    /** The candidate types in the user's order, after the quota check dropped what it cannot run. */
    types: readonly string[];
    /** Zones offering each type, sorted by name. */
    offeringZones: Readonly<Record<string, readonly string[]>>;
    /** Zones a machine can be placed in (a subnet exists there); undefined: every zone. */
    usableZones?: readonly string[];
    /** The zone the notebook is bound to (its data volume, its machine, subnetId, availabilityZone). */
    boundZone?: string;
    /** The type of the notebook's existing machine: it keeps it unless asked (requestedType). */
    currentType?: string;
    /** `npm run start -- --type`: the one type to change the existing machine to. */
    requestedType?: string;
    /** How the existing machine is bought: it keeps its market while the settings allow it. */
    currentMarket?: Market;
    /** `npm run start -- --on-demand`: the one market to replace the existing machine in. */
    requestedMarket?: Market;
    /** Markets in the order to try them: [on-demand], [spot], or [spot, on-demand] with spotFallback. */
    markets: readonly Market[];
    /** Candidates EC2 said are full in this run (candidateKey). */
    full: ReadonlySet<string>;
}

/**
 * The candidates to try, best first: by market (spot before its on-demand fallback), then by type
 * in the user's order, then by zone by name; only zones that offer the type and can hold the
 * machine, only the bound zone when there is one, and without those EC2 said are full. An
 * existing machine keeps its type (changing it is `--type`) and its market (so an on-demand
 * fallback is not swapped back to spot by the next run; `--on-demand` replaces a spot one); a
 * requested type or market is the only one.
 */
export function candidateOrder(facts: OrderFacts): Candidate[] {
    const types = facts.requestedType !== undefined ? [facts.requestedType]
        : facts.currentType !== undefined && facts.types.includes(facts.currentType) ? [facts.currentType]
            : facts.types;
    const markets = facts.requestedMarket !== undefined ? [facts.requestedMarket]
        : facts.currentMarket !== undefined && facts.markets.includes(facts.currentMarket) ? [facts.currentMarket]
            : facts.markets;
    const order: Candidate[] = [];
    for (const market of markets) {
        for (const instanceType of types) {
            const offered = facts.offeringZones[instanceType] ?? [];
            const zones = facts.boundZone !== undefined
                ? offered.filter((zone) => zone === facts.boundZone)
                : offered.filter((zone) => facts.usableZones === undefined || facts.usableZones.includes(zone));
            for (const zone of zones) {
                const candidate = { instanceType, zone, market };
                if (!facts.full.has(candidateKey(candidate))) {
                    order.push(candidate);
                }
            }
        }
    }
    return order;
}

/** What the driver tells one notebook's program run. */
export interface CapacityHints {
    full: ReadonlySet<string>;
    requestedType?: string;
    /** `npm run start -- --on-demand`. */
    requestedMarket?: Market;
    /** When the driver began, in milliseconds since 1970; undefined for a plain `pulumi up`. */
    runStarted?: number;
}

/** A plain `pulumi up`: nothing known full, nothing asked. */
export const NO_HINTS: CapacityHints = { full: new Set() };

/**
 * Why `npm run start -- --on-demand` may not replace this notebook's machine (the setting to
 * change, its value, what would be accepted), or undefined when it may: only a spot notebook whose
 * spotFallback is on-demand. The program refuses with it (preflight.ts), and npm run start asks
 * it first, before it asks the user (scripts/lib/query.ts).
 */
export function onDemandRefusal(settings: Pick<NotebookSettings, "spot" | "spotFallback">):
    { key: "spot" | "spotFallback"; value: unknown; accepted: string } | undefined {
    if (!settings.spot) {
        return { key: "spot", value: false, accepted: "true: --on-demand replaces a spot machine by an on-demand one, and this notebook runs on-demand already" };
    }
    if (settings.spotFallback !== "on-demand") {
        return {
            key: "spotFallback", value: settings.spotFallback ?? "",
            accepted: `on-demand: --on-demand replaces the spot machine by an on-demand one only when the notebook allows that fallback ` +
                `(${pulumiCommand("config set spotFallback on-demand")})`,
        };
    }
    return undefined;
}

/** The hints for one notebook (its name in the stack: "notebook" for a stack of one). */
export function hintsFromEnvironment(notebook: string, env: NodeJS.ProcessEnv = process.env): CapacityHints {
    const entries = (name: string) => (env[name] ?? "").split(/\s+/).filter((entry) => entry.startsWith(`${notebook}=`))
        .map((entry) => entry.slice(notebook.length + 1));
    const full = new Set(entries(CAPACITY_ENV.full).map(parseCandidateKey).filter((c): c is Candidate => c !== undefined).map(candidateKey));
    const [requestedType] = entries(CAPACITY_ENV.type);
    const requestedMarket = entries(CAPACITY_ENV.market).find((market): market is Market => market === "on-demand");
    const started = Number(env[CAPACITY_ENV.started]);
    return {
        full, requestedType, runStarted: Number.isFinite(started) && started > 0 ? started : undefined,
        ...(requestedMarket ? { requestedMarket } : {}),
    };
}

/**
 * EC2's own words when it has no capacity, as the provider passes them on: RunInstances and
 * StartInstances answer InsufficientInstanceCapacity; a spot request that cannot be met ends
 * with InsufficientCapacity or the request status capacity-not-available. The offline engine
 * answers with these; capacityRefusals recognises them.
 */
export function ec2CapacityError(candidate: Candidate, action: "launch" | "start"): string {
    if (candidate.market === "spot") {
        return action === "launch"
            ? `creating EC2 Instance: InsufficientInstanceCapacity: There is no Spot capacity available that matches your request. ` +
                `(spot request status: capacity-not-available, ${candidate.instanceType} in ${candidate.zone})`
            : `starting EC2 Instance: InsufficientCapacity: There is no Spot capacity available that matches your request ` +
                `(capacity-not-available, ${candidate.instanceType} in ${candidate.zone})`;
    }
    return `${action === "launch" ? "creating" : "starting"} EC2 Instance: InsufficientInstanceCapacity: We currently do not have ` +
        `sufficient ${candidate.instanceType} capacity in the Availability Zone you requested (${candidate.zone}). Our system will ` +
        `be working on provisioning additional capacity. You can currently get ${candidate.instanceType} capacity by not specifying ` +
        `an Availability Zone in your request or choosing other zones.`;
}

/** What EC2 refuses for want of capacity: a new machine (a launch) or the start of a stopped one. */
export type CapacityAction = "launch" | "start";

/**
 * The resources of a notebook that EC2 refuses, by action: its Instance is launched, its
 * InstanceState starts it. notebook.ts names them with this; the record carries the names, so
 * the driver finds the notebook of an error by the resource the error is about.
 */
export function machineResources(notebook: string): Record<CapacityAction, string> {
    return { launch: `${notebook}-instance`, start: `${notebook}-state` };
}

/** What the on-demand fallback of a spot machine costs an hour, in USD; a price not looked up is absent. */
export interface FallbackPrice {
    usdPerHour?: number;
    spotUsdPerHour?: number;
}

/** "$1.006 an hour (+$0.580)", or "price unknown": how the run's line and npm run start say it. */
export function fallbackPrice(price: FallbackPrice): string {
    if (price.usdPerHour === undefined) {
        return "price unknown";
    }
    const more = price.spotUsdPerHour === undefined ? "" : ` (+$${(price.usdPerHour - price.spotUsdPerHour).toFixed(3)})`;
    return `$${price.usdPerHour.toFixed(3)} an hour${more}`;
}

/** What one notebook's run tells the driver: the candidate it tries, and where EC2 would say no. */
export interface CapacityRecord {
    /** The notebook's name in the stack ("notebook" for a stack of one), as the environment names it. */
    notebook: string;
    candidate: Candidate;
    /** The resources EC2 refuses (machineResources). */
    resources: Record<CapacityAction, string>;
    /** A spot machine with spotFallback on-demand: what `npm run start -- --on-demand` would cost. */
    onDemandFallback?: FallbackPrice;
}

/**
 * The record's line starts with this, JSON follows. The program logs it at debug level: Pulumi
 * writes every diagnostic to `--event-log`, where the driver reads it, but shows debug ones only
 * with --debug, so the user sees the same lines as before.
 */
export const CAPACITY_RECORD_PREFIX = "gpu-notebook-capacity: ";

export function capacityRecordLine(record: CapacityRecord): string {
    return CAPACITY_RECORD_PREFIX + JSON.stringify(record);
}

const isName = (value: unknown): value is string => typeof value === "string" && value !== "";
const isPrice = (value: unknown) => value === undefined || (typeof value === "number" && Number.isFinite(value));

/** The record a line holds, when it is one and well formed (a record of a newer or older program is not). */
function readRecord(line: string): CapacityRecord | undefined {
    if (!line.startsWith(CAPACITY_RECORD_PREFIX)) {
        return undefined;
    }
    let record: Partial<CapacityRecord>;
    try {
        record = JSON.parse(line.slice(CAPACITY_RECORD_PREFIX.length));
    } catch {
        return undefined;
    }
    const { notebook, candidate, resources, onDemandFallback } = record ?? {};
    const valid = isName(notebook) && candidate !== undefined && parseCandidateKey(candidateKey(candidate)) !== undefined &&
        isName(resources?.launch) && isName(resources?.start) &&
        (onDemandFallback === undefined || (isPrice(onDemandFallback.usdPerHour) && isPrice(onDemandFallback.spotUsdPerHour)));
    return valid ? record as CapacityRecord : undefined;
}

/** The records among a run's log messages, each read from a line of its own; every other line is ignored. */
export function capacityRecords(messages: readonly string[]): CapacityRecord[] {
    return messages.flatMap((message) => message.split("\n")).map((line) => readRecord(line.trim()))
        .filter((record): record is CapacityRecord => record !== undefined);
}

/**
 * EC2's capacity error codes (see ec2CapacityError): words of EC2's API, not of this project. An
 * error about a machine's resource carrying one is a refusal for want of capacity.
 */
const CAPACITY_ERROR = /InsufficientInstanceCapacity|InsufficientCapacity|capacity-not-available/;

/** One refusal: which notebook, of what, for which candidate, and what its fallback would cost. */
export interface CapacityRefusal {
    action: CapacityAction;
    notebook: string;
    candidate: Candidate;
    onDemandFallback?: FallbackPrice;
}

/**
 * The capacity refusals of a run, one per notebook and action, in the order of the errors: an
 * error with EC2's capacity code about a resource a record names.
 */
export function capacityRefusals(records: readonly CapacityRecord[], errors: readonly { resource: string; message: string }[]): CapacityRefusal[] {
    const found = new Map<string, CapacityRefusal>();
    for (const { resource, message } of errors) {
        if (!CAPACITY_ERROR.test(message)) {
            continue;
        }
        for (const { notebook, candidate, resources, onDemandFallback } of records) {
            const action = (Object.keys(resources) as CapacityAction[]).find((each) => resources[each] === resource);
            if (action !== undefined) {
                found.set(`${action} ${notebook}`, { action, notebook, candidate, ...(onDemandFallback ? { onDemandFallback } : {}) });
            }
        }
    }
    return [...found.values()];
}
