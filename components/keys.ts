// Key material Pulumi generates for a notebook: the SSH login key, the SSH host key and the
// notebook's TLS key and self-signed certificate. Private halves live only in Pulumi state, as
// secrets; the host and TLS private keys also reach the instance through its (secret) user data.
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as tls from "@pulumi/tls";
import { TUNNEL_HOST } from "./contract";

/** Ten years: the certificate must outlive the notebook, since renewing it rewrites user data. */
const CERTIFICATE_VALIDITY_HOURS = 10 * 365 * 24;

export interface SshKeys {
    privateKey: tls.PrivateKey;
    keyPair: ec2.KeyPair;
}

export function createSshKeys(name: string, tags: Record<string, string>, parent: pulumi.Resource): SshKeys {
    const privateKey = new tls.PrivateKey(`${name}-ssh-key`, { algorithm: "ED25519" }, { parent });
    const keyPair = new ec2.KeyPair(`${name}-key`, {
        publicKey: privateKey.publicKeyOpenssh,
        tags,
    }, { parent });
    return { privateKey, keyPair };
}

/**
 * The instance's SSH host key. Generated here rather than on the instance so the stack can
 * publish it (sshKnownHosts) and every connection, the first one included, is verified. It lives
 * in state, so a replaced instance presents the same key and nobody sees a host-key warning.
 */
export function createSshHostKey(name: string, parent: pulumi.Resource): tls.PrivateKey {
    return new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent });
}

// The contract holds it; re-exported for the modules that already import it from here.
export { TUNNEL_HOST };

export interface NotebookTls {
    privateKey: tls.PrivateKey;
    certificate: tls.SelfSignedCert;
}

/**
 * A P-256 key (browsers do not accept Ed25519 certificates) and a server certificate whose SAN
 * holds the notebook's stable public IP, so the browser can pin exactly this server. The SAN also
 * names the local end of an SSH tunnel (127.0.0.1, localhost), so the same certificate verifies
 * whether the notebook is reached directly or through `npm run tunnel`, and switching
 * exposeNotebook does not re-issue it. Only the holder of this key can present it, so the extra
 * names let nobody else impersonate the notebook.
 */
export function createNotebookTls(
    name: string, publicIp: pulumi.Input<string>, parent: pulumi.Resource,
): NotebookTls {
    const privateKey = new tls.PrivateKey(`${name}-tls-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent });
    const certificate = new tls.SelfSignedCert(`${name}-tls-cert`, {
        privateKeyPem: privateKey.privateKeyPem,
        subject: { commonName: publicIp, organization: "gpu-notebook" },
        ipAddresses: [publicIp, TUNNEL_HOST],
        dnsNames: ["localhost"],
        validityPeriodHours: CERTIFICATE_VALIDITY_HOURS,
        earlyRenewalHours: 0,
        isCaCertificate: false,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
    }, { parent });
    return { privateKey, certificate };
}
