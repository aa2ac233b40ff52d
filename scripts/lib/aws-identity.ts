// Whether the AWS credentials here answer, asked before npm run up writes anything: STS's
// GetCallerIdentity, which every valid credential may call (it needs no permission) and which
// says whose they are. Asked with AWS's own SDK (@aws-sdk/client-sts), as aws-call.ts says why:
// the hard part is not the signature but finding the credentials the way the AWS provider will.
import { call, loadSdk, timeoutSeconds } from "./aws-call";
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
 * Who the credentials here are, asked of STS in the region a new stack gets (region.ts), within
 * `seconds`. Throws one sentence: what failed, that nothing was written, and how to fix it.
 */
export async function callerIdentity(env: NodeJS.ProcessEnv = process.env, seconds = timeoutSeconds(env, "STS", DEFAULT_TIMEOUT_SECONDS)): Promise<Identity> {
    const { region } = regionForNewStack(env);
    const { GetCallerIdentityCommand, STSClient } = loadSdk(() => require("@aws-sdk/client-sts") as typeof import("@aws-sdk/client-sts"));
    try {
        const client = new STSClient({ region });
        const answer = await call(client, (abortSignal) => client.send(new GetCallerIdentityCommand({}), { abortSignal }), "STS", seconds, env);
        return { account: answer.Account ?? "", arn: answer.Arn ?? "" };
    } catch (error) {
        throw new Error(`${(error as Error).message}; nothing was written. To fix it, ${HOW_TO_PROVIDE}`);
    }
}
