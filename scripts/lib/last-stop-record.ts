// The last stop's record, read without starting the machine: the SSM String parameter that the
// stack's output lastStopParameter names (its ARN) and that the machine's stop sequence and the
// idle backstop write (components/notify.ts). Read with AWS's SDK (@aws-sdk/client-ssm, GetParameter;
// a String needs no decryption) through aws-call.ts, as npm run up asks STS: no aws CLI needed.
// Rendered by last-stop.js. Whatever fails is said as the one line it adds to npm run status.
import { awsErrorCode, call, loadSdk, timeoutSeconds } from "./aws-call";

const { lastStopLines } = require("./last-stop.js") as typeof import("./last-stop.js");

/**
 * How long reading it may take, credentials and answer together, unless GPU_NOTEBOOK_SSM_TIMEOUT
 * says: short, as npm run status answers within about 10 s when the machine does not.
 */
export const DEFAULT_TIMEOUT_SECONDS = 8;

/** The region and the name of the parameter `arn` (arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME; its name is /NAME). */
export function parameterOf(arn: string): { region: string; name: string } | undefined {
    const match = /^arn:[^:]+:ssm:([^:]+):[^:]*:parameter(\/.+)$/.exec(arn);
    return match ? { region: match[1], name: match[2] } : undefined;
}

/**
 * The lines npm run status shows for the record in `arn`: when and why the machine last stopped
 * and whether that was notified, or one line saying why that cannot be told. Never throws.
 */
export async function lastStopReport(arn: string, env: NodeJS.ProcessEnv = process.env, now = Date.now()): Promise<string[]> {
    const parameter = parameterOf(arn);
    if (parameter === undefined) {
        return [`Last stop:   could not be read: the output lastStopParameter is no SSM parameter's ARN: ${arn}`];
    }
    const { region, name } = parameter;
    const { GetParameterCommand, SSMClient } = loadSdk(() => require("@aws-sdk/client-ssm") as typeof import("@aws-sdk/client-ssm"));
    const client = new SSMClient({ region });
    let value: string | undefined;
    try {
        const answer = await call(client, (abortSignal) => client.send(new GetParameterCommand({ Name: name }), { abortSignal }), "SSM",
            timeoutSeconds(env, "SSM", DEFAULT_TIMEOUT_SECONDS), env);
        value = answer.Parameter?.Value;
    } catch (error) {
        if (awsErrorCode((error as Error).cause) === "ParameterNotFound") {
            // The outputs name it, so the deploy made it: they are from a deploy since destroyed or
            // replaced (another account or region, a stale GPU_NOTEBOOK_OUTPUTS_FILE).
            return [`Last stop:   not found: AWS SSM has no parameter ${name} in ${region} (ParameterNotFound); ` +
                "the outputs are from a deploy that is gone or was replaced: npm run up records stops again"];
        }
        return [`Last stop:   could not be read: ${(error as Error).message}`];
    }
    let record: unknown;
    try {
        record = JSON.parse(value ?? "");
    } catch {
        return [`Last stop:   could not be read: the record in ${name} is not JSON`];
    }
    return lastStopLines(record, now);
}
