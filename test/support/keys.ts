// Real key material for the mocks, in the formats the tls provider returns, so tests can parse it
// and the boot-proof suites can hand it to real sshd and Jupyter servers.
import { createHash, createPrivateKey, generateKeyPairSync, KeyObject } from "crypto";
import { execFileSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

function sshString(data: Buffer | string): Buffer {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
}

function uint32(value: number): Buffer {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    return buffer;
}

function wrap64(text: string): string {
    return text.replace(/(.{70})/g, "$1\n").replace(/\n$/, "");
}

export interface Ed25519Material {
    privateKeyOpenssh: string;
    privateKeyPem: string;
    publicKeyOpenssh: string;
    publicKeyPem: string;
    publicKeyFingerprintSha256: string;
}

/** An Ed25519 key in OpenSSH's own private key format (openssh-key-v1, unencrypted). */
export function ed25519Material(comment = ""): Ed25519Material {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const jwk = privateKey.export({ format: "jwk" });
    const seed = Buffer.from(jwk.d as string, "base64url");
    const pub = Buffer.from(jwk.x as string, "base64url");
    const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
    const check = createHash("sha256").update(seed).digest().readUInt32BE(0);
    let privateBlock = Buffer.concat([
        uint32(check), uint32(check),
        sshString("ssh-ed25519"), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment),
    ]);
    const padding: number[] = [];
    for (let i = 1; (privateBlock.length + padding.length) % 8 !== 0; i++) {
        padding.push(i);
    }
    privateBlock = Buffer.concat([privateBlock, Buffer.from(padding)]);
    const body = Buffer.concat([
        Buffer.from("openssh-key-v1\0", "binary"),
        sshString("none"), sshString("none"), sshString(""), uint32(1),
        sshString(publicBlob), sshString(privateBlock),
    ]);
    return {
        privateKeyOpenssh:
            `-----BEGIN OPENSSH PRIVATE KEY-----\n${wrap64(body.toString("base64"))}\n-----END OPENSSH PRIVATE KEY-----\n`,
        privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeyOpenssh: `ssh-ed25519 ${publicBlob.toString("base64")}\n`,
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
        publicKeyFingerprintSha256:
            `SHA256:${createHash("sha256").update(publicBlob).digest("base64").replace(/=+$/, "")}`,
    };
}

export interface EcdsaMaterial {
    privateKeyPem: string;
    privateKeyPemPkcs8: string;
    publicKeyPem: string;
}

/** A P-256 key as the tls provider returns it (SEC1 "EC PRIVATE KEY" PEM). */
export function ecdsaP256Material(): EcdsaMaterial {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return {
        privateKeyPem: privateKey.export({ type: "sec1", format: "pem" }).toString(),
        privateKeyPemPkcs8: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    };
}

export interface CertificateRequest {
    privateKeyPem: string;
    commonName: string;
    ipAddresses: string[];
    dnsNames: string[];
    validityPeriodHours: number;
}

/** A real self-signed server certificate, made by openssl from the resource's inputs. */
export function selfSignedCertificate(request: CertificateRequest): string {
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-cert-"));
    try {
        const keyFile = path.join(dir, "key.pem");
        const key: KeyObject = createPrivateKey(request.privateKeyPem);
        writeFileSync(keyFile, key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
        const san = [
            ...request.ipAddresses.map((ip) => `IP:${ip}`),
            ...request.dnsNames.map((dns) => `DNS:${dns}`),
        ].join(",");
        const days = Math.max(1, Math.ceil(request.validityPeriodHours / 24));
        const args = [
            "req", "-x509", "-new", "-key", keyFile, "-days", String(days), "-sha256",
            "-subj", `/CN=${request.commonName}/O=gpu-notebook`,
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext", "extendedKeyUsage=serverAuth",
        ];
        if (san) {
            args.push("-addext", `subjectAltName=${san}`);
        }
        return execFileSync("openssl", args, { encoding: "utf8" });
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
