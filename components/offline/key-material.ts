// Real key material for the mocks, in the formats the tls provider returns, so tests can parse it
// and the boot-proof suites can hand it to real sshd and Jupyter servers. Keys made from a seed
// (the mocks use the resource's name) are the same in every process, as a real provider's are
// across runs once they are in state; without a seed they are random.
import { createECDH, createHash, createPrivateKey, createPublicKey, KeyObject, randomBytes } from "crypto";
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

/** 32 bytes: sha256 of the seed and a counter (the counter lets a caller skip an unusable value), or random. */
function keyBytes(seed: string | undefined, counter = 0): Buffer {
    return seed === undefined ? randomBytes(32) : createHash("sha256").update(`${seed}/${counter}`).digest();
}

// An Ed25519 PKCS#8 DER document is this fixed prefix followed by the 32-byte private seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** An Ed25519 key in OpenSSH's own private key format (openssh-key-v1, unencrypted). */
export function ed25519Material(seed?: string): Ed25519Material {
    const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, keyBytes(seed)]), format: "der", type: "pkcs8" });
    const publicKey = createPublicKey(privateKey);
    const jwk = privateKey.export({ format: "jwk" });
    const secret = Buffer.from(jwk.d as string, "base64url");
    const pub = Buffer.from(jwk.x as string, "base64url");
    const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
    const check = createHash("sha256").update(secret).digest().readUInt32BE(0);
    let privateBlock = Buffer.concat([
        uint32(check), uint32(check),
        sshString("ssh-ed25519"), sshString(pub), sshString(Buffer.concat([secret, pub])), sshString(""),
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

// The order of the P-256 group: a private key is a number from 1 to this minus 1.
const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

/** A P-256 key as the tls provider returns it (SEC1 "EC PRIVATE KEY" PEM). */
export function ecdsaP256Material(seed?: string): EcdsaMaterial {
    const usable = (bytes: Buffer) => {
        const value = BigInt(`0x${bytes.toString("hex")}`);
        return value > 0n && value < P256_ORDER;
    };
    let scalar = keyBytes(seed);
    for (let counter = 1; !usable(scalar); counter++) {
        scalar = keyBytes(seed, counter);
    }
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(scalar);
    const point = ecdh.getPublicKey();
    const privateKey = createPrivateKey({
        key: {
            kty: "EC", crv: "P-256", d: scalar.toString("base64url"),
            x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33, 65).toString("base64url"),
        },
        format: "jwk",
    });
    const publicKey = createPublicKey(privateKey);
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
