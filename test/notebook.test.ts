// The whole program under mocks: what it creates, how it is wired, what it exports.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { X509Certificate } from "crypto";
import * as path from "path";
import { gunzipSync } from "zlib";
import * as pulumi from "@pulumi/pulumi";
import { Provider } from "@pulumi/aws/provider";
import { parse } from "yaml";

import { bootFile, BOOTSTRAP_LIMIT_BYTES, INSTANCE_PATHS } from "../components/boot";
import { unpackBundle } from "../components/bundle";
import { BUNDLE_TAG } from "../components/contract";
import { parseConfig } from "../components/config";
import { ingressRules } from "../components/network";
import { GpuNotebook, SECRET_OUTPUTS, SharedByNotebooks } from "../components/notebook";
import { jupyterPasswordMatches } from "../components/password";
import { createPriceListProvider } from "../components/pricing";
import { DEFAULT_FAKE_AMI, fakePublicIp, MockCloud } from "../components/offline/mock-cloud";
import { runOffline, unwrap } from "../components/offline/run-program";
import { refusal, registered, runProgram, runShared, StackRun, VALID_CONFIG } from "./support/program";
import { bundleBytesOf, machineFiles, machineJsonOf, userDataOf, WrittenFile, writtenFiles } from "./support/user-data";
import { DEBIAN_PYTHON, requireCommands, withPrivateFile } from "./support/system";
import { EGRESS, INGRESS, INSTANCE } from "./support/types";

function fileAt(files: WrittenFile[], filePath: string): WrittenFile {
    const file = files.find((entry) => entry.path === filePath);
    assert.ok(file, `the machine gets ${filePath}`);
    return file;
}

/**
 * The listen settings a Jupyter config file leaves in effect, as Jupyter reads it: traitlets
 * executes the file with its `c`, so a later assignment wins over the one a test sees as text.
 */
function effectiveJupyterSettings(configText: string): Record<string, unknown> {
    // The config reads the password hash the bootstrap writes; here a stand-in file holds one.
    const hashPath = JSON.stringify(INSTANCE_PATHS.passwordHashFile);
    assert.ok(configText.includes(hashPath), `the config reads ${hashPath}`);
    return withPrivateFile("sha1:0:0", (hashFile) => withPrivateFile(configText.split(hashPath).join(JSON.stringify(hashFile)),
        (file) => JSON.parse(execFileSync(DEBIAN_PYTHON, ["-c", `
import json, os, sys
from traitlets.config.loader import PyFileConfigLoader
app = PyFileConfigLoader(os.path.basename(sys.argv[1]), path=os.path.dirname(sys.argv[1])).load_config().ServerApp
print(json.dumps({name: app[name] for name in ("ip", "port", "port_retries")}))
`, file], { encoding: "utf8", timeout: 20_000 }))));
}

// The configurations these tests share a run of (runShared), besides VALID_CONFIG.
const cidrs = ["198.51.100.7/32", "10.20.0.0/16", "2001:db8::/48"];
const ownNetworks = { allowedCidrs: JSON.stringify(cidrs), notebookPort: "9443" };
const alice = { ...VALID_CONFIG, notebookPort: "9999", sshUser: "alice" };
const bigger = { ...VALID_CONFIG, instanceType: "g5.2xlarge", diskSizeGb: "300" };
const unexposed = {
    ...VALID_CONFIG, allowedCidrs: JSON.stringify(["198.51.100.7/32", "2001:db8::/48"]), exposeNotebook: "false", notebookPort: "9443",
};

describe("the notebook stack", () => {
    describe("network access", () => {
        it("opens exactly the configured CIDRs on SSH and the notebook port, nothing else inbound", async () => {
            const { cloud } = await runShared(ownNetworks);
            const rules = cloud.ofType(INGRESS).map((rule) => ({
                cidr: rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6,
                from: rule.inputs.fromPort,
                to: rule.inputs.toPort,
                protocol: rule.inputs.ipProtocol,
            }));
            const expected = [22, 9443].flatMap((port) => cidrs.map((cidr) => ({ cidr, from: port, to: port, protocol: "tcp" })));
            const key = (rule: { cidr: string; from: number }) => `${rule.from} ${rule.cidr}`;
            assert.deepStrictEqual(rules.map(key).sort(), expected.map(key).sort());
            assert.deepStrictEqual(rules.sort((a, b) => key(a).localeCompare(key(b))),
                expected.sort((a, b) => key(a).localeCompare(key(b))));
            const group = cloud.one("aws:ec2/securityGroup:SecurityGroup");
            assert.strictEqual(group.inputs.ingress, undefined, "no inline ingress rules on the group");
        });

        it("puts IPv6 networks in cidrIpv6 and IPv4 networks in cidrIpv4", async () => {
            const { cloud } = await runShared(ownNetworks);
            const rules = cloud.ofType(INGRESS);
            assert.strictEqual(rules.length, 6, "a rule per network per port");
            assert.deepStrictEqual(rules.filter((rule) => rule.inputs.cidrIpv6 !== undefined).map((rule) => rule.inputs.cidrIpv6),
                ["2001:db8::/48", "2001:db8::/48"]);
            for (const rule of rules) {
                const v4 = rule.inputs.cidrIpv4 as string | undefined;
                const v6 = rule.inputs.cidrIpv6 as string | undefined;
                assert.ok((v4 === undefined) !== (v6 === undefined), "exactly one address family per rule");
                assert.ok(v4 === undefined || !v4.includes(":"));
                assert.ok(v6 === undefined || v6.includes(":"));
            }
        });

        it("decides one rule per network per port, in the field of its address family (table)", () => {
            const rule = (port: number, cidr: string) => {
                const found = ingressRules(["198.51.100.7/32", "2001:db8::/48"], [22, 8888]).find((candidate) =>
                    candidate.port === port && Object.values(candidate.source).includes(cidr));
                return found && { source: found.source, description: found.description };
            };
            const table: [number, string, unknown][] = [
                [22, "198.51.100.7/32", { source: { cidrIpv4: "198.51.100.7/32" }, description: "SSH" }],
                [22, "2001:db8::/48", { source: { cidrIpv6: "2001:db8::/48" }, description: "SSH" }],
                [8888, "198.51.100.7/32", { source: { cidrIpv4: "198.51.100.7/32" }, description: "Jupyter over HTTPS" }],
                [8888, "2001:db8::/48", { source: { cidrIpv6: "2001:db8::/48" }, description: "Jupyter over HTTPS" }],
            ];
            for (const [port, cidr, expected] of table) {
                assert.deepStrictEqual(rule(port, cidr), expected, `tcp/${port} from ${cidr}`);
            }
            assert.strictEqual(ingressRules(["198.51.100.7/32", "2001:db8::/48"], [22, 8888]).length, 4);
            assert.deepStrictEqual(ingressRules([], [22, 8888]), [], "no network, no rule");
            assert.deepStrictEqual(ingressRules(["198.51.100.7/32"], []), [], "no port, no rule");
        });

        it("names each rule by its port and network, so removing one network leaves the others' rules be", () => {
            const ids = (cidrs: string[]) => ingressRules(cidrs, [22, 8888]).map((rule) => rule.id);
            const before = ids(["198.51.100.7/32", "10.0.0.0/8", "2001:db8::/48"]);
            const after = ids(["198.51.100.7/32", "2001:db8::/48"]);
            assert.deepStrictEqual(after, before.filter((id) => !id.includes("10-0-0-0-8")));
            assert.strictEqual(new Set(before).size, before.length, "every rule has its own name");
        });

        it("keeps outbound traffic open for package installs", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const egress = cloud.ofType(EGRESS).map((rule) => rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6).sort();
            assert.deepStrictEqual(egress, ["0.0.0.0/0", "::/0"]);
        });
    });

    describe("the instance", () => {
        it("is the configured GPU type on the looked-up Deep Learning AMI", async () => {
            const { cloud } = await runShared(bigger);
            const instance = cloud.one(INSTANCE);
            assert.strictEqual(instance.inputs.instanceType, "g5.2xlarge");
            assert.strictEqual(instance.inputs.ami, DEFAULT_FAKE_AMI.id);
            const lookup = cloud.calls.find((call) => call.token === "aws:ec2/getAmi:getAmi");
            assert.ok(lookup);
            assert.deepStrictEqual(lookup.inputs.owners, ["amazon"]);
        });

        it("defaults to g4dn.xlarge, the cheapest GPU type", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceType, "g4dn.xlarge");
        });

        it("requires IMDSv2 with a hop limit of 1", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const metadata = cloud.one(INSTANCE).inputs.metadataOptions;
            assert.strictEqual(metadata.httpTokens, "required");
            assert.strictEqual(metadata.httpPutResponseHopLimit, 1);
        });

        it("has an encrypted gp3 root disk sized for the AMI plus room for work", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const root = cloud.one(INSTANCE).inputs.rootBlockDevice;
            assert.strictEqual(root.encrypted, true);
            assert.strictEqual(root.volumeType, "gp3");
            assert.ok(root.volumeSize >= DEFAULT_FAKE_AMI.rootSizeGb + 50, `root disk ${root.volumeSize} GiB`);
        });

        it("uses diskSizeGb when set", async () => {
            const { cloud } = await runShared(bigger);
            assert.strictEqual(cloud.one(INSTANCE).inputs.rootBlockDevice.volumeSize, 300);
        });

        it("refuses a diskSizeGb smaller than the AMI before registering anything, the Price List provider included", async () => {
            const cloud = new MockCloud({ ami: { ...DEFAULT_FAKE_AMI, rootSizeGb: 120 } });
            const error = await refusal({ ...VALID_CONFIG, diskSizeGb: "119" }, cloud);
            assert.match(error.message, /gpu-notebook:diskSizeGb = 119 is not accepted/);
            assert.match(error.message, /needs at least 120 GiB/);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("states the AMI's size as the minimum: one GiB less is refused, the size itself accepted", async () => {
            const cloud = new MockCloud({ ami: { ...DEFAULT_FAKE_AMI, rootSizeGb: 120 } });
            assert.match((await refusal({ ...VALID_CONFIG, diskSizeGb: "119" }, cloud)).message, /gpu-notebook:diskSizeGb = 119 is not accepted: .*needs at least 120 GiB/);
            const accepted = new MockCloud({ ami: { ...DEFAULT_FAKE_AMI, rootSizeGb: 120 } });
            await runProgram({ ...VALID_CONFIG, diskSizeGb: "120" }, accepted);
            assert.strictEqual(accepted.one(INSTANCE).inputs.rootBlockDevice.volumeSize, 120);
        });

        it("logs in with the generated key pair and sits behind the notebook's security group", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const instance = cloud.one(INSTANCE);
            const keyPair = cloud.one("aws:ec2/keyPair:KeyPair");
            const sshKey = cloud.ofType("tls:index/privateKey:PrivateKey").find((key) => key.inputs.algorithm === "ED25519");
            assert.ok(sshKey, "an Ed25519 SSH key is generated");
            assert.match(keyPair.inputs.publicKey, /^ssh-ed25519 /);
            assert.match(instance.inputs.keyName, new RegExp(`^${keyPair.name}-`));
            const groupIds = new Set(cloud.ofType(INGRESS).map((rule) => rule.inputs.securityGroupId));
            assert.strictEqual(groupIds.size, 1, "all rules belong to one group");
            assert.deepStrictEqual(instance.inputs.vpcSecurityGroupIds, [...groupIds]);
        });

        it("attaches its own Elastic IP to its own instance", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const eip = cloud.one("aws:ec2/eip:Eip");
            const association = cloud.one("aws:ec2/eipAssociation:EipAssociation");
            assert.strictEqual(eip.inputs.domain, "vpc");
            assert.strictEqual(association.inputs.allocationId, eip.computed.allocationId, "this address");
            assert.strictEqual(association.inputs.instanceId, await unwrap(outputs.instanceId), "this instance");
            assert.strictEqual(await unwrap(outputs.publicIp), eip.computed.publicIp, "the address the outputs name");
        });

        it("stops rather than terminates when shut down from inside", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceInitiatedShutdownBehavior, "stop");
        });

        it("is tagged with Name, project, stack and the idle watcher's limit", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.deepStrictEqual(cloud.one(INSTANCE).inputs.tags,
                { Name: "gpu-notebook-dev", project: "gpu-notebook", stack: "dev", idleStopMinutes: "60" });
        });

        it("is not replaced when a newer AMI is released", async () => {
            const first = await runShared(VALID_CONFIG);
            const newer = new MockCloud({ ami: { ...DEFAULT_FAKE_AMI, id: "ami-0fedcba9876543210" } });
            const second = await runProgram(VALID_CONFIG, newer);
            const instanceOptions = second.options.find((entry) => entry.type === INSTANCE);
            assert.ok(instanceOptions);
            assert.deepStrictEqual(instanceOptions.opts.ignoreChanges, ["ami", `tags.${BUNDLE_TAG}`]);
            assert.notStrictEqual(newer.one(INSTANCE).inputs.ami, first.cloud.one(INSTANCE).inputs.ami,
                "the lookup did return a different AMI");
        });

        it("is replaced (when its boot configuration changes) by deleting it first, so one machine's quota suffices", async () => {
            const { options } = await runShared(VALID_CONFIG);
            const instanceOptions = options.find((entry) => entry.type === INSTANCE);
            assert.strictEqual(instanceOptions?.opts.deleteBeforeReplace, true);
        });

        it("honours a pinned amiId, and looks up that image", async () => {
            const cloud = new MockCloud({ ami: { ...DEFAULT_FAKE_AMI, id: "ami-0aaaabbbbccccdddd" } });
            const run = await runProgram({ ...VALID_CONFIG, amiId: "ami-0aaaabbbbccccdddd" }, cloud);
            const lookup = cloud.calls.find((call) => call.token === "aws:ec2/getAmi:getAmi");
            assert.deepStrictEqual(lookup?.inputs.filters, [{ name: "image-id", values: ["ami-0aaaabbbbccccdddd"] }]);
            const instanceOptions = run.options.find((entry) => entry.type === INSTANCE);
            assert.deepStrictEqual(instanceOptions?.opts.ignoreChanges, [`tags.${BUNDLE_TAG}`]);
        });
    });

    describe("the certificate and the addresses", () => {
        it("names the Elastic IP in the certificate's SAN, and the URL and SSH command use it", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const ip = await unwrap(outputs.publicIp);
            assert.strictEqual(ip, fakePublicIp(cloud.one("aws:ec2/eip:Eip").name));
            const cert = new X509Certificate(await unwrap(outputs.notebookCertificatePem));
            assert.ok(cert.subjectAltName?.split(", ").includes(`IP Address:${ip}`), `SAN ${cert.subjectAltName}`);
            assert.strictEqual(cert.checkIP(ip), ip);
            assert.strictEqual(await unwrap(outputs.notebookUrl), `https://${ip}:8888/`);
            assert.match(await unwrap(outputs.sshCommand), new RegExp(` -i "\\$HOME/\\.ssh/gpu-notebook-dev\\.pem" .* ubuntu@${ip.replace(/\./g, "\\.")}$`));
        });

        it("uses the configured port and user in the URL and SSH command", async () => {
            const { outputs } = await runShared(alice);
            const ip = await unwrap(outputs.publicIp);
            assert.strictEqual(await unwrap(outputs.notebookUrl), `https://${ip}:9999/`);
            assert.match(await unwrap(outputs.sshCommand), new RegExp(` alice@${ip.replace(/\./g, "\\.")}$`));
        });

        it("is a server-auth certificate on a P-256 key, valid for years", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const certInputs = cloud.one("tls:index/selfSignedCert:SelfSignedCert").inputs;
            assert.ok(certInputs.allowedUses.includes("server_auth"));
            assert.strictEqual(certInputs.earlyRenewalHours, 0);
            const cert = new X509Certificate(await unwrap(outputs.notebookCertificatePem));
            assert.strictEqual(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
            const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365 * 24 * 3600 * 1000);
            assert.ok(years >= 9.9, `valid for ${years} years`);
        });
    });

    describe("the user data", () => {
        // any: the machine file is JSON
        async function renderedFor(config: Record<string, string>): Promise<{ userData: string; files: WrittenFile[]; machine: any; password: string; run: StackRun }> {
            const run = await runShared(config);
            const instance = run.cloud.one(INSTANCE);
            return {
                userData: userDataOf(instance),
                files: machineFiles(run.cloud, instance),
                machine: machineJsonOf(run.cloud, instance),
                password: await unwrap(run.outputs.notebookPassword),
                run,
            };
        }

        it("parses as cloud-config and stays a bootstrap of at most 4 KB, gzipped as cloud-init inflates it", async () => {
            const { userData, run } = await renderedFor(VALID_CONFIG);
            const named = (await renderedFor(alice)).run.cloud.one(INSTANCE).inputs.userDataBase64;
            assert.ok(Buffer.from(named, "base64").length <= BOOTSTRAP_LIMIT_BYTES, "with a user of its own too");
            assert.ok(userData.startsWith("#cloud-config\n"));
            const document = parse(userData);
            assert.ok(Array.isArray(document.write_files));
            const sent = Buffer.from(run.cloud.one(INSTANCE).inputs.userDataBase64, "base64");
            assert.deepStrictEqual([...sent.subarray(0, 2)], [0x1f, 0x8b], "gzip, which cloud-init recognises by its magic bytes");
            assert.strictEqual(gunzipSync(sent).toString("utf8"), userData);
            assert.ok(sent.length <= BOOTSTRAP_LIMIT_BYTES, `${sent.length} bytes`);
        });

        it("installs the job runner, the jobs' run directory, their boot unit and a user manager that outlives logins", async () => {
            const { files, machine } = await renderedFor({ ...VALID_CONFIG, sshUser: "alice" });
            const runner = fileAt(files, INSTANCE_PATHS.jobRunner);
            assert.deepStrictEqual([runner.owner, runner.permissions], ["root:root", "0755"]);
            assert.strictEqual(runner.content, bootFile("gpu-notebook-job"), "shipped as its source");
            assert.strictEqual(fileAt(files, INSTANCE_PATHS.jobsTmpfiles).content.split("\n").filter((line) => line && !line.startsWith("#")).join("\n"),
                // The notification log's folder belongs to the notebook user too: its jobs notify when they end.
                `d ${INSTANCE_PATHS.jobsRunDir} 0750 alice alice -\nd ${path.posix.dirname(INSTANCE_PATHS.notifyLog)} 0755 alice alice -`);
            assert.match(fileAt(files, INSTANCE_PATHS.jobsService).content,
                new RegExp(`^ExecStart=${INSTANCE_PATHS.jobRunner} boot --machine ${INSTANCE_PATHS.machineFile}$`, "m"));
            assert.strictEqual(machine.notebook.jobsDir, "/home/alice/notebooks/jobs");
            const runcmd: string[][] = machine.setup;
            const at = (command: string[]) => runcmd.findIndex((entry) => JSON.stringify(entry) === JSON.stringify(command));
            const prepare = runcmd.findIndex((entry) => entry[0] === INSTANCE_PATHS.prepareScript);
            // After the notebook directory exists and systemd has reloaded its units, before the idle timer starts.
            for (const command of [["systemd-tmpfiles", "--create", INSTANCE_PATHS.jobsTmpfiles], ["loginctl", "enable-linger", "alice"],
                ["systemctl", "enable", "gpu-notebook-jobs.service", "gpu-notebook-bundle.service"]]) {
                assert.ok(at(command) > prepare && at(command) < runcmd.length - 1, `${command.join(" ")} in ${JSON.stringify(runcmd)}`);
            }
        });

        it("enables TLS in Jupyter with exactly the certificate and key it writes", async () => {
            const { userData, files, run } = await renderedFor(VALID_CONFIG);
            const config = fileAt(files, INSTANCE_PATHS.jupyterConfig).content;
            assert.ok(config.includes(`c.ServerApp.certfile = "${INSTANCE_PATHS.certFile}"`));
            assert.ok(config.includes(`c.ServerApp.keyfile = "${INSTANCE_PATHS.keyFile}"`));
            const certPem = await unwrap(run.outputs.notebookCertificatePem);
            assert.strictEqual(fileAt(files, INSTANCE_PATHS.certFile).content, certPem);
            // The private key comes with the user data (a secret), never in the bundle.
            const key = fileAt(writtenFiles(userData), INSTANCE_PATHS.keyFile);
            assert.match(key.content, /BEGIN EC PRIVATE KEY/);
            assert.strictEqual(key.permissions, "0600");
            assert.strictEqual(key.owner, "ubuntu:ubuntu");
        });

        it("requires the password by a hash that verifies against notebookPassword, and never holds the plaintext", async () => {
            const { userData, files, password, run } = await renderedFor(VALID_CONFIG);
            const config = fileAt(files, INSTANCE_PATHS.jupyterConfig).content;
            assert.ok(config.includes(`with open("${INSTANCE_PATHS.passwordHashFile}", encoding="utf-8") as hash_file:`));
            const settings = [...config.matchAll(/^c\.(?:PasswordIdentityProvider\.hashed_password|ServerApp\.password) = (\w+)$/gm)]
                .map((match) => match[1]);
            assert.deepStrictEqual(settings, ["password_hash", "password_hash"], "both the 2.x and the 1.x setting carry the hash");
            // The hash is a secret: it comes with the user data, readable by the notebook user alone.
            const hashFile = fileAt(writtenFiles(userData), INSTANCE_PATHS.passwordHashFile);
            assert.deepStrictEqual([hashFile.owner, hashFile.permissions], ["ubuntu:ubuntu", "0600"]);
            const hash = hashFile.content.trim();
            assert.ok(jupyterPasswordMatches(hash, password), "the hash verifies against the password");
            assert.ok(!jupyterPasswordMatches(hash, password + "x"), "and not against another");
            const bundle = bundleBytesOf(run.cloud, run.cloud.one(INSTANCE));
            assert.ok(!unpackBundle(bundle).some((file) => file.content.includes(hash)), "the bundle holds no secret");
            assert.ok(config.includes("c.PasswordIdentityProvider.password_required = True"));
            assert.ok(config.includes("c.ServerApp.password_required = True"));
            assert.ok(!userData.includes(password), "the plaintext password is not in the user data");
        });

        it("uses a configured notebookPassword and keeps it secret", async () => {
            const chosen = "correct horse battery staple";
            const { userData, password, run } = await renderedFor({ ...VALID_CONFIG, notebookPassword: chosen });
            assert.strictEqual(password, chosen);
            assert.strictEqual(await pulumi.isSecret(run.outputs.notebookPassword), true);
            assert.ok(!userData.includes(chosen));
            assert.strictEqual(run.cloud.ofType("random:index/randomPassword:RandomPassword").length, 0);
        });

        it("listens on all interfaces on notebookPort with no port fallback and no browser", async () => {
            const { files } = await renderedFor(ownNetworks);
            const config = fileAt(files, INSTANCE_PATHS.jupyterConfig).content;
            for (const line of ['c.ServerApp.ip = "0.0.0.0"', "c.ServerApp.port = 9443", "c.ServerApp.port_retries = 0",
                "c.ServerApp.open_browser = False"]) {
                assert.ok(config.split("\n").includes(line), `config has ${line}`);
            }
        });

        it("runs JupyterLab as sshUser in ~/notebooks from a unit that restarts and starts at boot", async () => {
            const { userData, files, machine } = await renderedFor(alice);
            const unit = fileAt(files, INSTANCE_PATHS.serviceUnit).content;
            assert.match(unit, /^User=alice$/m);
            assert.match(unit, /^WorkingDirectory=\/home\/alice\/notebooks$/m);
            assert.match(unit, /^Restart=on-failure$/m);
            assert.match(unit, /^WantedBy=multi-user.target$/m);
            assert.match(unit, new RegExp(`^ExecStart=${INSTANCE_PATHS.launcher} --config=${INSTANCE_PATHS.jupyterConfig}$`, "m"));
            // jupyter_server ignores an unreadable --config and would serve without password or TLS.
            assert.match(unit, new RegExp(`^ExecStartPre=/usr/bin/test -r ${INSTANCE_PATHS.jupyterConfig}$`, "m"));
            const document = parse(userData);
            assert.deepStrictEqual(machine.setup.find((command: string[]) => command[0] === INSTANCE_PATHS.prepareScript), [INSTANCE_PATHS.prepareScript, "alice", "/home/alice/notebooks", INSTANCE_PATHS.launcher, "gpu-notebook-jupyter.service"]);
            const login = document.users.find((user: { name?: string }) => user.name === "alice");
            assert.match(login.ssh_authorized_keys[0], /^ssh-ed25519 /);
        });
    });

    describe("SSH host key", () => {
        interface HostKeys { ed25519_private: string; ed25519_public: string }

        it("hands the instance one Ed25519 host key and has cloud-init delete the AMI's and generate no other type", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const document = parse(userDataOf(cloud.one(INSTANCE)));
            assert.deepStrictEqual(Object.keys(document.ssh_keys).sort(), ["ed25519_private", "ed25519_public"]);
            assert.match(document.ssh_keys.ed25519_private, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
            assert.strictEqual(document.ssh_deletekeys, true);
            assert.deepStrictEqual(document.ssh_genkeytypes, ["ed25519"]);
        });

        it("exports sshKnownHosts naming the public IP and the very key handed to the instance", async function () {
            requireCommands(this, "ssh-keygen");
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const hostKeys = parse(userDataOf(cloud.one(INSTANCE))).ssh_keys as HostKeys;
            const ip = await unwrap(outputs.publicIp);
            const knownHosts = await unwrap(outputs.sshKnownHosts);
            assert.strictEqual(knownHosts, `${ip} ${hostKeys.ed25519_public}`);
            // The public half sshd will present is derived from the private key the instance gets.
            const derived = withPrivateFile(hostKeys.ed25519_private,
                (keyFile) => execFileSync("ssh-keygen", ["-y", "-f", keyFile], { encoding: "utf8" }).trim());
            assert.strictEqual(knownHosts, `${ip} ${derived}`);
        });

        it("is a key of its own, not the login key", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const hostKeys = parse(userDataOf(cloud.one(INSTANCE))).ssh_keys as HostKeys;
            assert.notStrictEqual(hostKeys.ed25519_public, cloud.one("aws:ec2/keyPair:KeyPair").inputs.publicKey.trim());
            assert.notStrictEqual(hostKeys.ed25519_private, await unwrap(outputs.sshPrivateKey));
        });

        it("keeps the host private key out of every output and sends the user data as a secret", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const instance = cloud.one(INSTANCE);
            const hostKeys = parse(userDataOf(instance)).ssh_keys as HostKeys;
            const hostPrivateKey = hostKeys.ed25519_private.trim();
            for (const [name, output] of Object.entries(outputs)) {
                const value = String(await unwrap(output as pulumi.Output<unknown>));
                assert.ok(!value.includes(hostPrivateKey), `${name} does not hold the host private key`);
                // The one output with a private key holds the login key, a different one.
                assert.ok(!/PRIVATE KEY/.test(value) || name === "sshPrivateKey", `${name} holds no private key`);
            }
            assert.notStrictEqual((await unwrap(outputs.sshPrivateKey)).trim(), hostPrivateKey);
            assert.ok(instance.secretInputs.includes("userDataBase64"), "the user data is sent as a secret");
        });

        it("passes cloud-init's own schema validation", async function () {
            requireCommands(this, "cloud-init");
            const { cloud } = await runShared(unexposed);
            const result = withPrivateFile(userDataOf(cloud.one(INSTANCE)),
                (file) => execFileSync("cloud-init", ["schema", "-c", file], { encoding: "utf8", stdio: "pipe" }));
            assert.match(result, /Valid cloud-config/);
        });
    });

    describe("exposeNotebook", () => {
        it("false opens only SSH to the allowed networks", async () => {
            const { cloud } = await runShared(unexposed);
            const rules = cloud.ofType(INGRESS);
            assert.strictEqual(rules.length, 2, "one rule per network");
            for (const rule of rules) {
                assert.strictEqual(rule.inputs.fromPort, 22);
                assert.strictEqual(rule.inputs.toPort, 22);
            }
        });

        it("false binds Jupyter to the instance's 127.0.0.1", async () => {
            const { cloud } = await runShared(unexposed);
            const config = fileAt(machineFiles(cloud, cloud.one(INSTANCE)), INSTANCE_PATHS.jupyterConfig).content;
            assert.ok(config.split("\n").includes('c.ServerApp.ip = "127.0.0.1"'), config);
        });

        it("decides where Jupyter listens: the config, loaded as Jupyter loads it, ends with the address and port rendered", async function () {
            requireCommands(this, DEBIAN_PYTHON, "python3-module:traitlets");
            for (const [config, ip] of [[VALID_CONFIG, "0.0.0.0"], [unexposed, "127.0.0.1"]] as const) {
                const { cloud } = await runShared(config);
                const effective = effectiveJupyterSettings(fileAt(machineFiles(cloud, cloud.one(INSTANCE)), INSTANCE_PATHS.jupyterConfig).content);
                assert.deepStrictEqual(effective, { ip, port: Number(config.notebookPort ?? 8888), port_retries: 0 },
                    `exposeNotebook ${config.exposeNotebook ?? "true"}`);
            }
        });

        it("false makes notebookUrl the tunnel's local URL, which the certificate is valid for", async () => {
            const { outputs } = await runShared(unexposed);
            assert.strictEqual(await unwrap(outputs.notebookUrl), "https://127.0.0.1:9443/");
            const cert = new X509Certificate(await unwrap(outputs.notebookCertificatePem));
            assert.strictEqual(cert.checkIP("127.0.0.1"), "127.0.0.1");
            assert.strictEqual(cert.checkHost("localhost"), "localhost");
            assert.strictEqual(cert.checkIP(await unwrap(outputs.publicIp)), await unwrap(outputs.publicIp));
        });

        it("true (the default) serves the public URL and opens the notebook port", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            assert.deepStrictEqual([...new Set(cloud.ofType(INGRESS).map((rule) => rule.inputs.fromPort))].sort(), [22, 8888]);
            assert.strictEqual(await unwrap(outputs.notebookUrl), `https://${await unwrap(outputs.publicIp)}:8888/`);
        });
    });

    describe("outputs", () => {
        it("exports every documented output", async () => {
            const { outputs } = await runShared(VALID_CONFIG);
            assert.deepStrictEqual(Object.keys(outputs).sort(), [
                "amiId", "availabilityZone", "dataVolumeId", "estimatedHourlyCostUsd", "idleStopMinutes", "instanceId", "instanceType",
                "lastStopParameter", "notebookCertificatePem", "notebookPassword", "notebookUrl", "publicIp", "running", "sshCommand",
                "sshKnownHosts", "sshPrivateKey", "sshUser",
            ]);
            assert.strictEqual(await unwrap(outputs.instanceType), "g4dn.xlarge");
            assert.strictEqual(await unwrap(outputs.amiId), DEFAULT_FAKE_AMI.id);
            assert.match(await unwrap(outputs.instanceId), /^i-/);
        });

        it("exports the running setting and idle stop it deploys, for the scripts to read what is deployed", async () => {
            const { outputs } = await runShared({ ...VALID_CONFIG, running: "false", idleStopMinutes: "30" });
            assert.strictEqual(await unwrap(outputs.running), false);
            assert.strictEqual(await unwrap(outputs.idleStopMinutes), 30);
        });

        it("keeps sshPrivateKey and notebookPassword secret, and no other output holds key material", async () => {
            const { outputs } = await runShared(VALID_CONFIG);
            assert.strictEqual(await pulumi.isSecret(outputs.sshPrivateKey), true);
            assert.strictEqual(await pulumi.isSecret(outputs.notebookPassword), true);
            assert.match(await unwrap(outputs.sshPrivateKey), /BEGIN OPENSSH PRIVATE KEY/);
            const password = await unwrap(outputs.notebookPassword);
            assert.ok(password.length >= 20);
            for (const [name, output] of Object.entries(outputs) as [string, pulumi.Output<unknown>][]) {
                if (name === "sshPrivateKey" || name === "notebookPassword") {
                    continue;
                }
                assert.strictEqual(await pulumi.isSecret(output), false, `${name} is plain`);
                const value = String(await unwrap(output));
                assert.ok(!/PRIVATE KEY/.test(value), `${name} holds no private key`);
                assert.ok(!value.includes(password), `${name} holds no password`);
            }
        });
    });

    describe("repeatability", () => {
        it("gives identical resource inputs when run twice with the same config", async () => {
            const first = await runShared(VALID_CONFIG);
            const second = await runProgram(VALID_CONFIG);
            assert.notStrictEqual(second, first, "two runs");
            assert.ok(first.cloud.resources.length > 10);
            assert.deepStrictEqual(second.cloud.resources, first.cloud.resources);
        });

        it("refuses bad config before creating any resource", async () => {
            const cloud = new MockCloud();
            const error = await refusal({ allowedCidrs: JSON.stringify(["0.0.0.0/0"]) }, cloud);
            assert.match(error.message, /allowOpenAccess/);
            assert.deepStrictEqual(registered(cloud), []);
            assert.deepStrictEqual(cloud.calls, [], "not even a lookup");
        });
    });

    describe("several notebooks in one stack (what a fleet builds on)", () => {
        /** A program that prepares every notebook first, then builds them sharing one Price List provider. */
        function fleet(entries: Record<string, Record<string, string>>) {
            return async () => {
                const prepared = await Promise.all(Object.entries(entries).map(([name, config]) =>
                    GpuNotebook.prepare(name, { settings: parseConfig({ ...VALID_CONFIG, ...config }) })));
                let priceList: Provider | undefined;
                const shared: SharedByNotebooks = { priceList: () => (priceList ??= createPriceListProvider("price-list")) };
                const notebooks = await Promise.all(prepared.map((notebook) => GpuNotebook.create(notebook, shared)));
                return {
                    notebooks: Object.fromEntries(notebooks.map((notebook, index) => [prepared[index].name, notebook.outputs])),
                    vcpus: prepared.map((notebook) => notebook.account.vcpus),
                };
            };
        }

        it("builds each notebook with its own machine, keys and address, and one Price List provider for all", async () => {
            const cloud = new MockCloud();
            const { outputs } = await runOffline(fleet({ alice: {}, bob: { instanceType: "g5.xlarge" } }), {}, cloud);
            assert.deepStrictEqual(cloud.ofType("pulumi:providers:aws").map((provider) => provider.name), ["price-list"]);
            assert.deepStrictEqual(cloud.ofType(INSTANCE).map((instance) => `${instance.name} ${instance.inputs.instanceType}`),
                ["alice-instance g4dn.xlarge", "bob-instance g5.xlarge"]);
            const [alice, bob] = [outputs.notebooks.alice, outputs.notebooks.bob];
            assert.notStrictEqual(await unwrap(alice.publicIp), await unwrap(bob.publicIp));
            assert.notStrictEqual(await unwrap(alice.sshPrivateKey), await unwrap(bob.sshPrivateKey));
            assert.notStrictEqual(await unwrap(alice.notebookPassword), await unwrap(bob.notebookPassword));
            assert.strictEqual(await unwrap(bob.estimatedHourlyCostUsd), 1.006, "priced through the shared provider");
            assert.deepStrictEqual(outputs.vcpus.map((need) => `${need.quota.code} ${need.needed} of ${JSON.stringify(need.current)}`),
                ["L-DB2E81BA 4 of {\"value\":16}", "L-DB2E81BA 4 of {\"value\":16}"], "what a fleet adds up per quota");
            for (const secret of SECRET_OUTPUTS) {
                assert.strictEqual(await pulumi.isSecret(alice[secret]), true, `${secret} is secret`);
            }
        });

        it("registers nothing of any notebook when one of them is refused", async () => {
            const cloud = new MockCloud();
            const error = await runOffline(fleet({ alice: {}, bob: { availabilityZone: "us-east-1e" } }), {}, cloud).catch((caught) => caught);
            assert.match(String(error), /gpu-notebook:availabilityZone = "us-east-1e" is not accepted/);
            assert.deepStrictEqual(registered(cloud), []);
        });
    });
});
