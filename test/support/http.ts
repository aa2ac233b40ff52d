// A small HTTP(S) client for tests against local servers: it trusts exactly the CA it is given (no
// "insecure" switch exists here), keeps cookies, and follows Jupyter's password login flow.
import * as http from "http";
import * as https from "https";
import { TLSSocket } from "tls";

export interface Response {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    /** The server's certificate when the connection was TLS. */
    peerCertificate?: ReturnType<TLSSocket["getPeerCertificate"]>;
}

export interface RequestOptions {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    /** PEM certificates to trust instead of the system's; the only trust a test may add. */
    ca?: string;
    /** Cookies sent and updated from Set-Cookie. */
    jar?: CookieJar;
    timeoutMs?: number;
}

/** Name → value cookies of one origin, enough for a Jupyter session. */
export class CookieJar {
    readonly cookies = new Map<string, string>();

    header(): string {
        return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    }

    store(setCookie: string[] | undefined): void {
        for (const line of setCookie ?? []) {
            const [pair] = line.split(";");
            const separator = pair.indexOf("=");
            if (separator > 0) {
                this.cookies.set(pair.slice(0, separator).trim(), pair.slice(separator + 1).trim());
            }
        }
    }
}

/** One request to a local URL; rejects on connection or TLS errors (for example an untrusted certificate). */
export function request(url: string, options: RequestOptions = {}): Promise<Response> {
    const target = new URL(url);
    if (target.hostname !== "127.0.0.1") {
        throw new Error(`tests only talk to 127.0.0.1, not ${target.hostname}`);
    }
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.jar && options.jar.cookies.size > 0) {
        headers.Cookie = options.jar.header();
    }
    if (options.body !== undefined) {
        headers["Content-Length"] = String(Buffer.byteLength(options.body));
    }
    const secure = target.protocol === "https:";
    const requestOptions: https.RequestOptions = {
        method: options.method ?? "GET",
        headers,
        timeout: options.timeoutMs ?? 10_000,
        agent: false,
        ...(secure ? { ca: options.ca, rejectUnauthorized: true } : {}),
    };
    return new Promise((resolve, reject) => {
        const send = secure ? https.request : http.request;
        const outgoing = send(url, requestOptions, (incoming) => {
            const chunks: Buffer[] = [];
            const socket = incoming.socket as TLSSocket;
            const peerCertificate = secure ? socket.getPeerCertificate() : undefined;
            incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
            incoming.on("error", reject);
            incoming.on("end", () => {
                options.jar?.store(incoming.headers["set-cookie"]);
                resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks).toString("utf8"), peerCertificate });
            });
        });
        outgoing.on("timeout", () => outgoing.destroy(new Error(`no answer from ${url} within ${requestOptions.timeout} ms`)));
        outgoing.on("error", reject);
        if (options.body !== undefined) {
            outgoing.write(options.body);
        }
        outgoing.end();
    });
}

export interface LoginResult {
    /** The answer to POST /login. */
    response: Response;
    /** Cookies after the login (the session cookie when it succeeded). */
    jar: CookieJar;
}

/** Jupyter's browser login: GET /login for the _xsrf cookie, then POST the password form with it. */
export async function jupyterLogin(baseUrl: string, password: string, ca: string, timeoutMs?: number): Promise<LoginResult> {
    const jar = new CookieJar();
    const page = await request(`${baseUrl}/login`, { ca, jar, timeoutMs });
    if (page.status !== 200) {
        throw new Error(`GET /login answered ${page.status}: ${page.body.slice(0, 500)}`);
    }
    const xsrf = jar.cookies.get("_xsrf");
    if (xsrf === undefined) {
        throw new Error("GET /login set no _xsrf cookie");
    }
    const body = new URLSearchParams({ _xsrf: xsrf, password }).toString();
    const response = await request(`${baseUrl}/login?next=%2Ftree`, {
        method: "POST",
        ca,
        jar,
        body,
        timeoutMs,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    return { response, jar };
}

/** Whether the jar holds a Jupyter session cookie (`username-<host>-<port>`). */
export function hasSessionCookie(jar: CookieJar): boolean {
    return [...jar.cookies.keys()].some((name) => name.startsWith("username-"));
}
