// Test-only stand-ins for the AWS the machine talks to, on 127.0.0.1: instance metadata (IMDSv2),
// and signed service endpoints (SNS's query protocol, SSM's JSON protocol) that check each
// request's Signature Version 4 as AWS does, with an implementation of SigV4 written here
// independently of the machine's (components/boot/gpu_notebook_aws.py sign).
// Relied on: AWS's "Create a canonical request for Signature Version 4" and "Signature Version 4
// signing process" pages (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html);
// the SNS Publish API reference (Subject at most 100 characters; a missing topic is NotFound,
// HTTP 404; a bad signature is SignatureDoesNotMatch, HTTP 403, as the query APIs answer); the
// SSM API reference (JSON 1.1, X-Amz-Target AmazonSSM.<Action>; ParameterNotFound, HTTP 400;
// a bad signature is InvalidSignatureException, HTTP 400); the EC2 user guide on IMDSv2 (a PUT
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

/**
 * Why AWS would refuse the request's signature for `service` in `region`, or null when it is
 * right: the scope names this key, day, region and service; host, x-amz-date and the session
 * token are signed; the date is within AWS's 15 minutes; the signature matches.
 */
export function signatureProblem(request: Received, service: string, region = REGION): string | null {
    const authorization = String(request.headers.authorization ?? "");
    const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authorization);
    if (!match) {
        return `malformed Authorization: ${authorization}`;
    }
    const [, key, day, scopeRegion, scopeService, signedHeaders, signature] = match;
    const date = String(request.headers["x-amz-date"] ?? "");
    const signed = signedHeaders.split(";");
    if (key !== CREDENTIALS.AccessKeyId || scopeRegion !== region || scopeService !== service || !date.startsWith(day)) {
        return `the credential scope ${key}/${day}/${scopeRegion}/${scopeService} is not for ${service} in ${region}`;
    }
    if (!["host", "x-amz-date", "x-amz-security-token"].every((name) => signed.includes(name)) || request.headers["x-amz-security-token"] !== CREDENTIALS.Token) {
        return `not signed with the session token and host: ${signedHeaders}`;
    }
    const when = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
    if (Math.abs(Date.now() - when) > 15 * 60_000) {
        return `Signature expired: ${date} is more than 15 minutes from now`;
    }
    return signature === expectedSignature(request, CREDENTIALS.SecretAccessKey) ? null : "The request signature we calculated does not match the signature you provided.";
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

/** SSM (JSON 1.1 protocol): GetParameter and PutParameter over `parameters`; signatures checked. */
export function startSsm(parameters: Map<string, { type: string; value: string }>): Promise<StandIn> {
    const answer = (response: ServerResponse, status: number, body: unknown) => {
        response.statusCode = status;
        response.setHeader("content-type", "application/x-amz-json-1.1");
        response.end(JSON.stringify(body));
    };
    return startServer((request, response) => {
        const problem = signatureProblem(request, "ssm");
        if (problem) {
            return answer(response, 400, { __type: "InvalidSignatureException", message: problem });
        }
        const action = String(request.headers["x-amz-target"] ?? "");
        const input = JSON.parse(request.body || "{}");
        if (action === "AmazonSSM.GetParameter") {
            const found = parameters.get(input.Name);
            if (!found) {
                return answer(response, 400, { __type: "ParameterNotFound" });
            }
            const value = found.type === "SecureString" && !input.WithDecryption ? "AQICAHencrypted" : found.value;
            return answer(response, 200, { Parameter: { Name: input.Name, Type: found.type, Value: value, Version: 1 } });
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
