// Whether the AWS credentials here answer, asked before npm run up writes anything: STS's
// GetCallerIdentity, which every valid credential may call (it needs no permission) and which
// says whose they are. Asked with AWS's own SDK (@aws-sdk/client-sts) rather than the aws CLI,
// which the README does not require, or a request signed here: the hard part is not the signature
// but finding the credentials the way the AWS provider will (environment, shared files with
// AWS_PROFILE, SSO, credential_process, web identity, container and instance roles), and the
// SDK's default chain is that very chain. It also honours AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL
// ("Service-specific endpoints", AWS SDKs and Tools Reference Guide), which the tests point at a
// stand-in STS on 127.0.0.1.
import type { GetCallerIdentityCommandOutput } from "@aws-sdk/client-sts";

import { regionForNewStack } from "./region";

/** How long the whole check may take, credentials and answer together, unless GPU_NOTEBOOK_STS_TIMEOUT says. */
export const DEFAULT_TIMEOUT_SECONDS = 20;

/** What to do when they do not answer, in the words of a user who may have no aws CLI. */
export const HOW_TO_PROVIDE = "give AWS credentials first: put an access key in ~/.aws/credentials " +
    "([default], then aws_access_key_id = ... and aws_secret_access_key = ..., or run 'aws configure' if you have the AWS CLI), " +
    "or set AWS_PROFILE to a profile of ~/.aws/config (for SSO, run 'aws sso login' first), " +
    "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; then run npm run up again";

export interface Identity { account: string; arn: string }

/**
 * An error as the SDK throws it: a service's refusal carries its error code as `name` and the
 * HTTP status in `$metadata`; a connection that failed has no status there, and Node's code.
 */
interface SdkError { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string }

/**
 * Why `error` means the credentials did not answer, in one sentence that names what failed.
 * The SDK's chain ends with "Could not load credentials from any providers" when it found none;
 * a named profile that is missing or an expired SSO session has a message of its own.
 */
export function failure(error: unknown, env: NodeJS.ProcessEnv = process.env): string {
    const { name, message = String(error), $metadata, code } = (error ?? {}) as SdkError;
    if (name === "CredentialsProviderError" || name === "TokenProviderError") {
        if (!/from any providers/.test(message)) {
            return `the AWS credentials could not be loaded: ${message}`;
        }
        const files = `${env.AWS_SHARED_CREDENTIALS_FILE || "~/.aws/credentials"} or ${env.AWS_CONFIG_FILE || "~/.aws/config"}`;
        const profile = env.AWS_PROFILE;
        return profile
            ? `no AWS credentials found for the profile ${profile} (AWS_PROFILE) in ${files}`
            : `no AWS credentials found (none in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, in ${files}, nor an instance role)`;
    }
    if ($metadata?.httpStatusCode !== undefined) {
        return `the AWS credentials were refused by STS: ${name}: ${message}`;
    }
    return `AWS STS could not be reached: ${code ? `${code}: ` : ""}${message}`;
}

/** The timeout in seconds: GPU_NOTEBOOK_STS_TIMEOUT when it is a positive number. */
export function timeoutSeconds(env: NodeJS.ProcessEnv): number {
    const asked = Number(env.GPU_NOTEBOOK_STS_TIMEOUT);
    return env.GPU_NOTEBOOK_STS_TIMEOUT && Number.isFinite(asked) && asked > 0 ? asked : DEFAULT_TIMEOUT_SECONDS;
}

/**
 * Who the credentials here are, asked of STS in the region a new stack gets (region.ts), within
 * `seconds`. Throws one sentence: what failed, that nothing was written, and how to fix it.
 */
export async function callerIdentity(env: NodeJS.ProcessEnv = process.env, seconds = timeoutSeconds(env)): Promise<Identity> {
    const { region } = regionForNewStack(env);
    // The SDK warns on Node 20 that its releases from 2027 on need 22. The product needs 22
    // already (README); the version pinned here runs on 20, where only the tests run.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    // Loaded here: only npm run up asks, and the SDK is the biggest thing the scripts load.
    const { GetCallerIdentityCommand, STSClient } = require("@aws-sdk/client-sts") as typeof import("@aws-sdk/client-sts");
    const client = new STSClient({ region });
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The deadline covers finding the credentials too (an SSO refresh, a credential_process, the
    // instance metadata service), which no abort signal reaches: hence a race, not the signal alone.
    const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
            abort.abort();
            reject(new Error(`no answer from AWS STS within ${seconds} s`));
        }, seconds * 1000);
    });
    let answer: GetCallerIdentityCommandOutput;
    try {
        answer = await Promise.race([client.send(new GetCallerIdentityCommand({}), { abortSignal: abort.signal }), deadline]);
    } catch (error) {
        const what = abort.signal.aborted ? `no answer from AWS STS within ${seconds} s` : failure(error, env);
        throw new Error(`${what}; nothing was written. To fix it, ${HOW_TO_PROVIDE}`);
    } finally {
        clearTimeout(timer);
        client.destroy();
    }
    return { account: answer.Account ?? "", arn: answer.Arn ?? "" };
}
