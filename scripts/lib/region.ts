// The AWS region a new stack is pinned to, found the way the AWS SDKs find it and without the aws
// CLI: AWS_REGION, then AWS_DEFAULT_REGION, then the `region` of the profile (AWS_PROFILE, else
// default) in the shared config file (AWS_CONFIG_FILE, else ~/.aws/config), then us-east-1.
// npm run up pins it (scripts/up asks the query program) and npm run plan shows it (stack-file.ts):
// one function, so the two cannot disagree.
import { readFileSync } from "fs";
import { homedir } from "os";
import * as path from "path";

/** The region `npm run up` sets when the user's AWS setup names none. */
export const DEFAULT_REGION = "us-east-1";

/** A region name as npm run up accepts it (us-east-1, ap-southeast-2, us-gov-west-1). */
const REGION_NAME = /^[a-z]{2}(-[a-z]+)+-[0-9]+$/;

export interface RegionChoice {
    region: string;
    /** Where it came from, in words: "AWS_REGION", "your AWS profile course", ... */
    source: string;
}

/**
 * One setting of one profile in a shared config file, as "Configuration and credential file
 * settings" (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html) lays it
 * out: sections `[default]` and `[profile NAME]`, entries `name = value`, lines starting with # or
 * ; are comments. Undefined when the file, the section or the setting is not there.
 */
export function profileSetting(text: string, profile: string, setting: string): string | undefined {
    const wanted = profile === "default" ? ["default", "profile default"] : [`profile ${profile}`];
    let inProfile = false;
    let found: string | undefined;
    for (const line of text.split(/\r?\n/)) {
        const trimmed = line.trim();
        if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) {
            continue;
        }
        const section = /^\[\s*(.+?)\s*\]$/.exec(trimmed);
        if (section) {
            inProfile = wanted.includes(section[1].replace(/\s+/g, " "));
            continue;
        }
        // An indented line continues a nested setting (s3 = ...), whose keys are not the profile's own.
        const entry = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(trimmed);
        if (inProfile && entry && !/^\s/.test(line) && entry[1].toLowerCase() === setting) {
            found = entry[2].trim();
        }
    }
    return found === "" ? undefined : found;
}

/** The region the user's AWS setup names, and where; undefined when it names none. */
export function awsSetupRegion(env: NodeJS.ProcessEnv = process.env): RegionChoice | undefined {
    if (env.AWS_REGION) {
        return { region: env.AWS_REGION, source: "AWS_REGION" };
    }
    if (env.AWS_DEFAULT_REGION) {
        return { region: env.AWS_DEFAULT_REGION, source: "AWS_DEFAULT_REGION" };
    }
    const profile = env.AWS_PROFILE || "default";
    const file = env.AWS_CONFIG_FILE || path.join(env.HOME || homedir(), ".aws", "config");
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
    const region = profileSetting(text, profile, "region");
    return region !== undefined ? { region, source: `your AWS profile ${profile}` } : undefined;
}

/**
 * The region a stack without aws:region gets: the AWS setup's, else DEFAULT_REGION. Throws, in
 * the words npm run up and npm run plan share, when it is not a region name.
 */
export function regionForNewStack(env: NodeJS.ProcessEnv = process.env): RegionChoice {
    const choice = awsSetupRegion(env) ?? { region: DEFAULT_REGION, source: "no region in AWS_REGION, AWS_DEFAULT_REGION or your AWS profile" };
    if (!REGION_NAME.test(choice.region)) {
        throw new Error(`${choice.region} (${choice.source}) is not an AWS region name such as us-east-1`);
    }
    return choice;
}
