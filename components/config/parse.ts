// Config values (text, as the Pulumi engine hands them over) into typed settings with the defaults
// applied. A value that cannot be parsed is a Problem; the rules of what is accepted are validate.ts's.
import { Problem, settingProblem, show } from "./problems";
import { CONFIG_NAMESPACE, ConfigKey, DEFAULTS, NotebookSettings } from "./schema";
import { pulumiCommand } from "./words";
import { NotifyEvent } from "../contract";

/** What a list setting looks like, for the refusal of one that is not a list. */
const LIST_EXAMPLES: Partial<Record<ConfigKey, string>> = {
    instanceTypes: '["g5.xlarge", "g4dn.xlarge"]',
    notifyOn: '["job-failed", "stopping"]',
};

function parseList(key: ConfigKey, text: string, problems: Problem[]): string[] {
    const trimmed = text.trim();
    if (trimmed.startsWith("[")) {
        try {
            const value: unknown = JSON.parse(trimmed);
            if (Array.isArray(value) && value.every((item) => typeof item === "string")) {
                return value;
            }
        } catch {
            // fall through to the problem below
        }
        problems.push(settingProblem(key, text, `a list of strings, such as ${LIST_EXAMPLES[key] ?? '["203.0.113.7/32"]'}`));
        return [];
    }
    // `pulumi config set allowedCidrs 1.2.3.4/32,10.0.0.0/8` stores a plain string: accept it.
    return trimmed.split(/[\s,]+/).filter((item) => item.length > 0);
}

function parseAmount(key: ConfigKey, text: string, problems: Problem[]): number {
    if (/^\s*\d+(\.\d{1,2})?\s*$/.test(text)) {
        return Number(text);
    }
    problems.push(settingProblem(key, text, "an amount in USD with at most two decimals, such as 50 or 49.99"));
    return Number.NaN;
}

function parseBoolean(key: ConfigKey, text: string, problems: Problem[]): boolean {
    if (text === "true" || text === "false") {
        return text === "true";
    }
    problems.push(settingProblem(key, text, "true or false"));
    return false;
}

function parseInteger(key: ConfigKey, text: string, problems: Problem[]): number {
    if (/^\s*-?\d+\s*$/.test(text)) {
        return Number(text);
    }
    problems.push(settingProblem(key, text, "a whole number"));
    return Number.NaN;
}

/** Config values by key, as the engine hands them over: text, lists and objects as JSON. */
export type ConfigValues = ReadonlyMap<string, string>;

/** A value, or undefined when unset: an empty string is what Pulumi.yaml's documented "unset" defaults look like. */
export function textOf(values: ConfigValues, key: ConfigKey): string | undefined {
    const value = values.get(key);
    return value === undefined || value.trim() === "" ? undefined : value;
}

function optional<T>(
    values: ConfigValues, key: ConfigKey, parse: (key: ConfigKey, text: string, problems: Problem[]) => T, problems: Problem[],
): T | undefined {
    const text = textOf(values, key);
    return text === undefined ? undefined : parse(key, text, problems);
}

export function budgetOf(values: ConfigValues, problems: Problem[]): Pick<NotebookSettings, "monthlyBudgetUsd" | "alertEmail"> {
    const monthlyBudgetUsd = optional(values, "monthlyBudgetUsd", parseAmount, problems);
    // 0 is Pulumi.yaml's documented "no budget".
    return { monthlyBudgetUsd: monthlyBudgetUsd === 0 ? undefined : monthlyBudgetUsd, alertEmail: textOf(values, "alertEmail")?.trim() };
}

/** Settings from config values, defaults applied, not yet validated; a value that cannot be parsed is a problem. */
export function settingsFrom(values: ConfigValues, problems: Problem[]): NotebookSettings {
    const get = (key: ConfigKey) => textOf(values, key);
    const read = <T>(key: ConfigKey, parse: (key: ConfigKey, text: string, problems: Problem[]) => T) => optional(values, key, parse, problems);
    const diskSizeGb = read("diskSizeGb", parseInteger);
    const single = get("instanceType")?.trim();
    const listed = read("instanceTypes", parseList);
    if (single !== undefined && listed !== undefined) {
        problems.push(settingProblem("instanceTypes", listed, `a list, or ${CONFIG_NAMESPACE}:instanceType = ${show(single)}, not both: ` +
            `instanceType means a list of one; keep one of them (${pulumiCommand("config rm instanceType")})`));
    }
    return {
        allowedCidrs: read("allowedCidrs", parseList) ?? [],
        allowOpenAccess: read("allowOpenAccess", parseBoolean) ?? DEFAULTS.allowOpenAccess,
        instanceTypes: listed ?? [single ?? DEFAULTS.instanceType],
        typesListed: listed !== undefined,
        amiId: get("amiId")?.trim(),
        // 0 is Pulumi.yaml's documented "choose for me".
        diskSizeGb: diskSizeGb === 0 ? undefined : diskSizeGb,
        notebookPort: read("notebookPort", parseInteger) ?? DEFAULTS.notebookPort,
        notebookPassword: values.get("notebookPassword") || undefined,
        sshUser: get("sshUser")?.trim() ?? DEFAULTS.sshUser,
        dataVolumeGb: read("dataVolumeGb", parseInteger) ?? DEFAULTS.dataVolumeGb,
        restoreFromSnapshotId: get("restoreFromSnapshotId")?.trim(),
        availabilityZone: get("availabilityZone")?.trim(),
        moveToZone: get("moveToZone")?.trim(),
        subnetId: get("subnetId")?.trim(),
        vpcId: get("vpcId")?.trim(),
        requestQuotaIncrease: read("requestQuotaIncrease", parseBoolean) ?? DEFAULTS.requestQuotaIncrease,
        exposeNotebook: read("exposeNotebook", parseBoolean) ?? DEFAULTS.exposeNotebook,
        idleStopMinutes: read("idleStopMinutes", parseInteger) ?? DEFAULTS.idleStopMinutes,
        running: read("running", parseBoolean) ?? DEFAULTS.running,
        spot: read("spot", parseBoolean) ?? DEFAULTS.spot,
        spotFallback: get("spotFallback")?.trim() as NotebookSettings["spotFallback"],
        notifyEmail: get("notifyEmail")?.trim(),
        // A secret: read as it is, never shown.
        notifyWebhook: get("notifyWebhook")?.trim(),
        // Checked against the event names by validate.ts, which names the unknown ones.
        notifyOn: (read("notifyOn", parseList) as NotifyEvent[] | undefined) ?? DEFAULTS.notifyOn,
        jobStallMinutes: read("jobStallMinutes", parseInteger) ?? DEFAULTS.jobStallMinutes,
        jobStopGraceSeconds: read("jobStopGraceSeconds", parseInteger) ?? DEFAULTS.jobStopGraceSeconds,
        ...budgetOf(values, problems),
    };
}
