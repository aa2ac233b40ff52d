// Test-only stand-ins for the AWS the machine and the scripts talk to, on 127.0.0.1: instance
// metadata (IMDSv2), and signed service endpoints (SNS's and STS's query protocol, SSM's JSON protocol) that check each
// request's Signature Version 4 as AWS does, with an implementation of SigV4 written here
// independently of the machine's (components/boot/gpu_notebook_aws.py sign).
// Relied on: AWS's "Create a canonical request for Signature Version 4" and "Signature Version 4
// signing process" pages (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html);
// the SNS Publish API reference (Subject at most 100 characters; a missing topic is NotFound,
// HTTP 404; a bad signature is SignatureDoesNotMatch, HTTP 403, as the query APIs answer); the
// SSM API reference (docs.aws.amazon.com/systems-manager/latest/APIReference: JSON 1.1,
// X-Amz-Target AmazonSSM.<Action>; GetParameter's response, its Parameter data type; its errors
// ParameterNotFound, HTTP 400; the common errors AccessDeniedException, UnrecognizedClientException,
// InvalidSignatureException, IncompleteSignature, ExpiredTokenException, HTTP 400); the STS API reference's
// GetCallerIdentity (its response shape) and the common errors (InvalidClientTokenId,
// SignatureDoesNotMatch, ExpiredToken(Exception), HTTP 403); the EC2 user guide on IMDSv2 (a PUT
// to /latest/api/token with a TTL header, then reads carrying the token; 401 without it; 404 for
// an absent item such as spot/instance-action before any notice).
import { createHash, createHmac } from "crypto";
import { createServer, IncomingMessage, Server, ServerResponse } from "http";
import { AddressInfo } from "net";

export const REGION = "eu-west-1";
export const INSTANCE_ID = "i-0fedcba9876543210";
export const ROLE = "gpu-notebook-instance-role";
export const CREDENTIALS = { AccessKeyId: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "secret/EXAMPLE+key", Token: "session-token-EXAMPLE" };

/** A request a stand-in received. */
export interface Received {
    method?: string;
    url?: string;
    headers: IncomingMessage["headers"];
    body: string;
}

/** SigV4 of a POST to / (no query), as AWS documents it, to check a signature a stand-in received. */
export function expectedSignature(request: Received, secret: string): string {
    const date = String(request.headers["x-amz-date"]);
    const authorization = String(request.headers.authorization);
    const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1] ?? "";
    const scope = /Credential=[^/]+\/([^,]+)/.exec(authorization)?.[1] ?? "";
    const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
    const canonical = ["POST", "/", "", ...signed.split(";").map((name) => `${name}:${request.headers[name]}`), "", signed, sha256(request.body)].join("\n");
    const toSign = ["AWS4-HMAC-SHA256", date, scope, sha256(canonical)].join("\n");
    let key: Buffer = Buffer.from(`AWS4${secret}`);
    for (const part of scope.split("/")) {
        key = createHmac("sha256", key).update(part).digest();
    }
    return createHmac("sha256", key).update(toSign).digest("hex");
}

/** A key a signed stand-in knows: its secret, and the session token it must come with, if any. */
export interface SigningKey { AccessKeyId: string; SecretAccessKey: string; Token?: string }

/** Why AWS refuses a request's credentials or signature: the error code it answers, and its message. */
export interface Refusal { code: "InvalidClientTokenId" | "SignatureDoesNotMatch" | "IncompleteSignature" | "ExpiredToken"; message: string }

/**
 * Why AWS would refuse the request's signature for `service`, or null when it is right: the key
 * is one of `keys` (else InvalidClientTokenId, as for a key AWS has no record of) and not
 * `expired` (ExpiredToken); the scope names that key, the day, `region` (any region when
 * undefined) and `service`; host, x-amz-date and a key's session token are signed; the date is
 * within AWS's 15 minutes; the signature matches the key's secret (else SignatureDoesNotMatch).
 */
export function signatureRefusal(request: Received, service: string, region: string | undefined, keys: SigningKey[], expired: string[] = []): Refusal | null {
    const authorization = String(request.headers.authorization ?? "");
    const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authorization);
    if (!match) {
        return { code: "IncompleteSignature", message: `malformed Authorization: ${authorization}` };
    }
    const [, keyId, day, scopeRegion, scopeService, signedHeaders, signature] = match;
    const key = keys.find((known) => known.AccessKeyId === keyId);
    if (key === undefined) {
        return { code: "InvalidClientTokenId", message: "The security token included in the request is invalid." };
    }
    if (expired.includes(keyId)) {
        return { code: "ExpiredToken", message: "The security token included in the request is expired" };
    }
    const date = String(request.headers["x-amz-date"] ?? "");
    const signed = signedHeaders.split(";");
    if ((region !== undefined && scopeRegion !== region) || scopeService !== service || !date.startsWith(day)) {
        return { code: "SignatureDoesNotMatch", message: `the credential scope ${keyId}/${day}/${scopeRegion}/${scopeService} is not for ${service} in ${region ?? "a region"}` };
    }
    const token = key.Token !== undefined ? ["x-amz-security-token"] : [];
    if (!["host", "x-amz-date", ...token].every((name) => signed.includes(name)) || request.headers["x-amz-security-token"] !== key.Token) {
        return { code: "SignatureDoesNotMatch", message: `not signed with the host, the date and the key's session token: ${signedHeaders}` };
    }
    const when = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
    if (Math.abs(Date.now() - when) > 15 * 60_000) {
        return { code: "SignatureDoesNotMatch", message: `Signature expired: ${date} is more than 15 minutes from now` };
    }
    return signature === expectedSignature(request, key.SecretAccessKey) ? null : {
        code: "SignatureDoesNotMatch",
        message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    };
}

/** Why AWS would refuse the request's signature for `service` in `region` by the machine's role (CREDENTIALS), or null. */
export function signatureProblem(request: Received, service: string, region = REGION): string | null {
    return signatureRefusal(request, service, region, [CREDENTIALS])?.message ?? null;
}

/** A stand-in server on 127.0.0.1, its URL and what it received. */
export interface StandIn {
    url: string;
    received: Received[];
    close(): Promise<void>;
}

export async function startServer(handle: (request: Received, response: ServerResponse) => void): Promise<StandIn> {
    const received: Received[] = [];
    const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
        let body = "";
        request.on("data", (chunk) => { body += chunk; });
        request.on("end", () => {
            const seen = { method: request.method, url: request.url, headers: request.headers, body };
            received.push(seen);
            handle(seen, response);
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        received,
        close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
}

/** IMDSv2: metadata paths (below /latest/meta-data/) to their answers; undefined answers 404. */
export function startImds(metadata: Record<string, () => string | undefined>): Promise<StandIn> {
    const all: Record<string, () => string | undefined> = {
        "placement/region": () => REGION,
        "instance-id": () => INSTANCE_ID,
        "iam/security-credentials/": () => ROLE,
        [`iam/security-credentials/${ROLE}`]: () => JSON.stringify({ Code: "Success", Type: "AWS-HMAC", ...CREDENTIALS }),
        ...metadata,
    };
    return startServer((request, response) => {
        const answer = all[(request.url ?? "").replace("/latest/meta-data/", "")];
        if (request.method === "PUT" && request.url === "/latest/api/token" && request.headers["x-aws-ec2-metadata-token-ttl-seconds"]) {
            response.end("imds-session-token");
        } else if (request.method === "GET" && request.headers["x-aws-ec2-metadata-token"] !== "imds-session-token") {
            response.statusCode = 401;
            response.end();
        } else {
            const value = request.method === "GET" && answer ? answer() : undefined;
            response.statusCode = value === undefined ? 404 : 200;
            response.end(value ?? "");
        }
    });
}

/** SNS (query protocol): Publish to the topics given, each message kept; signatures checked. */
export function startSns(topics: string[], published: { topic: string; subject: string; message: string }[]): Promise<StandIn> {
    const error = (response: ServerResponse, status: number, code: string, message: string) => {
        response.statusCode = status;
        response.end(`<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code>` +
            `<Message>${message}</Message></Error><RequestId>stand-in</RequestId></ErrorResponse>`);
    };
    return startServer((request, response) => {
        const problem = signatureProblem(request, "sns");
        if (problem) {
            return error(response, 403, "SignatureDoesNotMatch", problem);
        }
        const form = new URLSearchParams(request.body);
        const topic = form.get("TopicArn") ?? "";
        if (form.get("Action") !== "Publish" || form.get("Version") !== "2010-03-31") {
            return error(response, 400, "InvalidAction", `${form.get("Action")} is not valid for this web service`);
        }
        if (!topics.includes(topic)) {
            return error(response, 404, "NotFound", "Topic does not exist");
        }
        const subject = form.get("Subject") ?? "";
        if (subject.length > 100 || !form.get("Message")) {
            return error(response, 400, "InvalidParameter", "Invalid parameter: Subject or Message");
        }
        published.push({ topic, subject, message: form.get("Message") ?? "" });
        response.end(`<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${published.length}</MessageId>` +
            "</PublishResult><ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></PublishResponse>");
    });
}

/** What SSM's JSON 1.1 protocol answers for a refused signature, by the reason signatureRefusal gives. */
const SSM_REFUSALS: Record<Refusal["code"], string> = {
    InvalidClientTokenId: "UnrecognizedClientException",
    SignatureDoesNotMatch: "InvalidSignatureException",
    IncompleteSignature: "IncompleteSignatureException",
    ExpiredToken: "ExpiredTokenException",
};

/** Who the stand-in SSM serves: the keys it knows (default the machine's role), its region and account, the keys it denies. */
export interface SsmOptions {
    keys?: SigningKey[];
    region?: string;
    account?: string;
    /** Keys known but without ssm:GetParameter: their GetParameter is AccessDeniedException, with the identity's ARN in the message. */
    denied?: { key: string; arn: string }[];
}

/**
 * SSM (JSON 1.1 protocol, X-Amz-Target AmazonSSM.<Action>): GetParameter and PutParameter over
 * `parameters`; signatures checked. Answers as the SSM API reference shows: GetParameter's
 * {"Parameter": {Name, Type, Value, Version, LastModifiedDate, ARN, DataType}}; errors as
 * {"__type": CODE, "message": ...} with HTTP 400 (ParameterNotFound has no message, as the aws
 * CLI's "An error occurred (ParameterNotFound) when calling the GetParameter operation: " shows;
 * an IAM refusal is AccessDeniedException with "User: ARN is not authorized to perform: ACTION
 * on resource: ARN ...", its message under "Message"; refused signatures by the common errors).
 */
export function startSsm(parameters: Map<string, { type: string; value: string }>, options: SsmOptions = {}): Promise<StandIn> {
    const { keys = [CREDENTIALS], region = REGION, account = "123456789012", denied = [] } = options;
    const answer = (response: ServerResponse, status: number, body: unknown) => {
        response.statusCode = status;
        response.setHeader("content-type", "application/x-amz-json-1.1");
        response.setHeader("x-amzn-requestid", "00000000-0000-4000-8000-000000000000");
        response.end(JSON.stringify(body));
    };
    return startServer((request, response) => {
        const refusal = signatureRefusal(request, "ssm", region, keys);
        if (refusal) {
            return answer(response, 400, { __type: SSM_REFUSALS[refusal.code], message: refusal.message });
        }
        const action = String(request.headers["x-amz-target"] ?? "");
        const input = JSON.parse(request.body || "{}");
        const arn = `arn:aws:ssm:${region}:${account}:parameter${String(input.Name).startsWith("/") ? "" : "/"}${input.Name}`;
        const keyId = /Credential=([^/]+)\//.exec(String(request.headers.authorization))?.[1];
        const who = denied.find((each) => each.key === keyId);
        if (who) {
            const operation = action.replace("AmazonSSM.", "ssm:");
            return answer(response, 400, {
                __type: "AccessDeniedException",
                Message: `User: ${who.arn} is not authorized to perform: ${operation} on resource: ${arn} because no identity-based policy allows the ${operation} action`,
            });
        }
        if (action === "AmazonSSM.GetParameter") {
            const found = parameters.get(input.Name);
            if (!found) {
                return answer(response, 400, { __type: "ParameterNotFound" });
            }
            const value = found.type === "SecureString" && !input.WithDecryption ? "AQICAHencrypted" : found.value;
            return answer(response, 200, {
                Parameter: { Name: input.Name, Type: found.type, Value: value, Version: 1, LastModifiedDate: 1.7649e9, ARN: arn, DataType: "text" },
            });
        }
        if (action === "AmazonSSM.PutParameter") {
            if (parameters.has(input.Name) && !input.Overwrite) {
                return answer(response, 400, { __type: "ParameterAlreadyExists" });
            }
            parameters.set(input.Name, { type: input.Type, value: input.Value });
            return answer(response, 200, { Version: 2, Tier: "Standard" });
        }
        return answer(response, 400, { __type: "UnknownOperationException" });
    });
}

/** An identity the stand-in STS knows: the key that signs as it, and what GetCallerIdentity says of it. */
export interface StsIdentity extends SigningKey { Account: string; Arn: string; UserId: string; /** Its session token has expired. */ expired?: boolean }

/**
 * The identities of the stand-in STS the scripts' test worlds share (stand-ins.ts): the default
 * profile's key every world writes to ~/.aws/credentials, a second one for a named profile, and a
 * session key whose token has expired.
 */
export const STS_IDENTITIES: Record<"student" | "course" | "expired", StsIdentity> = {
    student: {
        AccessKeyId: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Account: "123456789012", Arn: "arn:aws:iam::123456789012:user/student", UserId: "AIDAEXAMPLESTUDENT01",
    },
    course: {
        AccessKeyId: "AKIAEXAMPLECOURSE001", SecretAccessKey: "course/EXAMPLE+secret+of+the+course+profile",
        Account: "210987654321", Arn: "arn:aws:iam::210987654321:user/course/alice", UserId: "AIDAEXAMPLECOURSE001",
    },
    expired: {
        AccessKeyId: "ASIAEXAMPLEEXPIRED01", SecretAccessKey: "expired/EXAMPLE+secret", Token: "expired-session-token-EXAMPLE",
        Account: "123456789012", Arn: "arn:aws:sts::123456789012:assumed-role/student/expired", UserId: "AROAEXAMPLEEXPIRED01:expired", expired: true,
    },
};

const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";

/**
 * STS (query protocol, API version 2011-06-15): GetCallerIdentity, with the request's SigV4
 * checked against `identities` (in `region`; any region when undefined). Answers as the STS API
 * reference's GetCallerIdentity shows: GetCallerIdentityResponse > GetCallerIdentityResult >
 * Arn, UserId, Account, then ResponseMetadata > RequestId; and refuses with the query protocol's
 * ErrorResponse > Error > Type, Code, Message (the common errors: InvalidClientTokenId and
 * SignatureDoesNotMatch, HTTP 403; ExpiredToken, HTTP 403, for an expired session token).
 */
export function startSts(identities: StsIdentity[], region?: string): Promise<StandIn> {
    const expired = identities.filter((identity) => identity.expired).map((identity) => identity.AccessKeyId);
    const reply = (response: ServerResponse, status: number, body: string) => {
        response.statusCode = status;
        response.setHeader("content-type", "text/xml");
        response.setHeader("x-amzn-requestid", "00000000-0000-4000-8000-000000000000");
        response.end(body);
    };
    const error = (response: ServerResponse, status: number, code: string, message: string) =>
        reply(response, status, `<ErrorResponse xmlns="${STS_XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code>` +
            `<Message>${message}</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>`);
    return startServer((request, response) => {
        const refusal = signatureRefusal(request, "sts", region, identities, expired);
        if (refusal) {
            return error(response, refusal.code === "IncompleteSignature" ? 400 : 403, refusal.code, refusal.message);
        }
        const form = new URLSearchParams(request.body);
        if (request.method !== "POST" || form.get("Action") !== "GetCallerIdentity" || form.get("Version") !== "2011-06-15") {
            return error(response, 400, "InvalidAction", `Could not find operation ${form.get("Action")} for version ${form.get("Version")}`);
        }
        const keyId = /Credential=([^/]+)\//.exec(String(request.headers.authorization))?.[1];
        const who = identities.find((identity) => identity.AccessKeyId === keyId) as StsIdentity;
        reply(response, 200, `<GetCallerIdentityResponse xmlns="${STS_XMLNS}"><GetCallerIdentityResult>` +
            `<Arn>${who.Arn}</Arn><UserId>${who.UserId}</UserId><Account>${who.Account}</Account>` +
            "</GetCallerIdentityResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata>" +
            "</GetCallerIdentityResponse>");
    });
}
