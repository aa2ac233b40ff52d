// What a refusal is made of: one Problem per reason, and the one exception that carries them all.
// Naming: a function that returns a Problem is called ...Problem(s); the exception is DeployRefused,
// made by `new DeployRefused(problems)` or its two shorthands for a single reason.
// Its own module: the scripts read config without loading the whole SDK (about a second).
import { RunError } from "@pulumi/pulumi/errors";

import { ConfigKey, settingName } from "./schema";

/** One reason a deploy is refused, as a sentence a user can act on. */
export interface Problem {
    /**
     * The setting to change (a key of this namespace, or an unknown one). Absent when the AWS
     * account, not a setting, stands in the way: a quota, a missing default subnet, stray tags.
     */
    key?: string;
    message: string;
    /** In a stack with `notebooks`: the notebooks it concerns (absent: the stack, or all of them alike). */
    notebooks?: string[];
}

/** A value as a refusal quotes it. */
export function show(value: unknown): string {
    return JSON.stringify(value);
}

/** The one sentence every refused value gets: key, value, and what would be accepted. */
export function settingProblem(key: ConfigKey, value: unknown, accepted: string): Problem {
    return { key, message: `${settingName(key)} = ${show(value)} is not accepted: ${accepted}` };
}

/**
 * Thrown before anything is created when the notebook cannot be deployed as configured; the
 * message holds one line per problem. Its heading tells the user where to look: "Configuration
 * refused" when every problem names a setting to change, "Launch refused" when the account must
 * change first.
 */
// A RunError: the Pulumi CLI shows its message alone, never a stack trace (a refusal is the user's to read).
export class DeployRefused extends RunError {
    constructor(readonly problems: Problem[]) {
        const account = problems.some((p) => p.key === undefined);
        super(`${account ? "Launch" : "Configuration"} refused, nothing was created:\n${problems.map((p) => `  - ${p.message}`).join("\n")}`);
        this.name = "DeployRefused";
    }

    /** Refuses one setting's value (settingProblem). */
    static setting(key: ConfigKey, value: unknown, accepted: string): DeployRefused {
        return new DeployRefused([settingProblem(key, value, accepted)]);
    }

    /** A refusal no setting can lift: the account has to change first. */
    static account(message: string): DeployRefused {
        return new DeployRefused([{ message }]);
    }
}
