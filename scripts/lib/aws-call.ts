// What the scripts' calls of AWS through its SDK share (aws-identity.ts: STS for npm run up;
// last-stop-record.ts: SSM for npm run status): one request, bounded in time including the search
// for credentials, and its failure said in words. The SDK rather than the aws CLI, which the
// README does not require: its default chain finds the credentials the way the AWS provider will
// (environment, shared files with AWS_PROFILE, SSO, credential_process, web identity, container
// and instance roles), and it honours AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL ("Service-
// specific endpoints", AWS SDKs and Tools Reference Guide), which the tests point at stand-ins on
// 127.0.0.1.

/**
 * An error as the SDK throws it: a service's refusal carries its error code as `name` and the
 * HTTP status in `$metadata`; a connection that failed has no status there, and Node's code.
 */
interface SdkError { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string }

/** The error code AWS answered with (a service's refusal), or undefined for any other failure. */
export function awsErrorCode(error: unknown): string | undefined {
    const { name, $metadata } = (error ?? {}) as SdkError;
    return $metadata?.httpStatusCode !== undefined ? name : undefined;
}

/**
 * Why the call failed, in one sentence that names what failed, for `service` (its short name:
 * STS, SSM). The SDK's chain ends with "Could not load credentials from any providers" when it
 * found none; a named profile that is missing or an expired SSO session has a message of its own.
 * AWS's refusals keep their code and message: an access denied is the credentials' permissions,
 * anything else (an unknown key, a bad signature, an expired token) the credentials themselves.
 */
export function failure(error: unknown, service: string, env: NodeJS.ProcessEnv = process.env): string {
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
        return /^AccessDenied/.test(name ?? "")
            ? `access denied by AWS ${service}: ${name}: ${message}`
            : `the AWS credentials were refused by ${service}: ${name}: ${message}`;
    }
    return `AWS ${service} could not be reached: ${code ? `${code}: ` : ""}${message}`;
}

/** The timeout in seconds: GPU_NOTEBOOK_<SERVICE>_TIMEOUT when it is a positive number, else `fallback`. */
export function timeoutSeconds(env: NodeJS.ProcessEnv, service: string, fallback: number): number {
    const text = env[`GPU_NOTEBOOK_${service}_TIMEOUT`];
    const asked = Number(text);
    return text && Number.isFinite(asked) && asked > 0 ? asked : fallback;
}

/** The message of a call that got no answer in time. */
export function noAnswer(service: string, seconds: number): string {
    return `no answer from AWS ${service} within ${seconds} s`;
}

/**
 * The answer `send` gets from `service` (its command sent by `client` with the abort signal
 * given), within `seconds`; the client is destroyed after. Throws one sentence (failure's, or
 * noAnswer's) whose `cause` is the error the SDK threw.
 */
export async function call<Answer>(client: { destroy(): void }, send: (abortSignal: AbortSignal) => Promise<Answer>, service: string,
    seconds: number, env: NodeJS.ProcessEnv = process.env): Promise<Answer> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The deadline covers finding the credentials too (an SSO refresh, a credential_process, the
    // instance metadata service), which no abort signal reaches: hence a race, not the signal alone.
    const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
            abort.abort();
            reject(new Error(noAnswer(service, seconds)));
        }, seconds * 1000);
    });
    try {
        return await Promise.race([send(abort.signal), deadline]);
    } catch (error) {
        throw new Error(abort.signal.aborted ? noAnswer(service, seconds) : failure(error, service, env), { cause: error });
    } finally {
        clearTimeout(timer);
        client.destroy();
    }
}

/**
 * Loads a client package of the SDK (`require`, given by the caller so that it resolves from the
 * scripts): loaded when asked, as it is the biggest thing the scripts load.
 */
export function loadSdk<Package>(load: () => Package): Package {
    // The SDK warns on Node 20 that its releases from 2027 on need 22. The product needs 22
    // already (README); the version pinned here runs on 20, where only the tests run.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    return load();
}
