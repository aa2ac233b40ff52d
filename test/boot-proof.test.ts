// Proves the instance's boot configuration with the real parts Debian provides, from what the
// program renders under the mocks: cloud-init validates the user data, and a real Jupyter server
// started from the written files (and from the systemd unit's own command line) serves the notebook
// over verified TLS, behind the password, to curl-like clients and to headless Chromium. (shellcheck
// of every shell script: shell-scripts.test.ts.)
import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import { createHash, X509Certificate } from "crypto";
import {
    chownSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync,
} from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { performance } from "perf_hooks";

import { homeOf, INSTANCE_PATHS, notebookDirOf } from "../components/boot";
import { unitName } from "../components/contract";
import { jupyterPasswordMatches } from "../components/password";
import { Chromium, CHROMIUM, navigate, waitFor } from "./support/chromium";
import { hasSessionCookie, jupyterLogin, request } from "./support/http";
import { JUPYTER_SERVER_COMMAND, JupyterServer, startJupyter } from "./support/jupyter";
import { VALID_CONFIG } from "./support/program";
import { Account, buildInstanceRoot, inInstanceView, isRoot, render, Rendered, serviceSection, unusedAccount } from "./support/instance";
import { DEBIAN_PYTHON, delay, requireCommands, skipOrFail } from "./support/system";

const REPO = path.join(__dirname, "..");
const ARTIFACTS = path.join(REPO, "test-artifacts", "boot-proof");

function cloudInitSchema(file: string): { status: number | null; report: string } {
    const result = spawnSync("cloud-init", ["schema", "-c", file], { encoding: "utf8", timeout: 60_000 });
    return { status: result.status, report: `${result.stdout}${result.stderr}` };
}

/** sha256 of the certificate's SubjectPublicKeyInfo, base64: the form Chromium's SPKI pin takes. */
function spkiPin(certificatePem: string): string {
    const spki = new X509Certificate(certificatePem).publicKey.export({ type: "spki", format: "der" });
    return createHash("sha256").update(spki).digest("base64");
}

/**
 * Logs in and reads the notebook list; returns ms since the process started. Retries cover a
 * server still finishing its start, bounded to 20 s in all and 3 s per request.
 */
async function firstAuthenticatedRequest(server: JupyterServer, rendered: Rendered): Promise<number> {
    const deadline = performance.now() + 20_000;
    let lastError: unknown;
    for (let attempt = 0; attempt < 100 && performance.now() < deadline; attempt++) {
        try {
            const { jar } = await jupyterLogin(server.baseUrl, rendered.password, rendered.certificatePem, 3000);
            const listing = await request(`${server.baseUrl}/api/contents`, { ca: rendered.certificatePem, jar, timeoutMs: 3000 });
            if (listing.status === 200) {
                return performance.now() - server.startedAt;
            }
            lastError = new Error(`GET /api/contents answered ${listing.status}`);
        } catch (error) {
            lastError = error;
        }
        await delay(100);
    }
    throw new Error(`no authenticated answer from Jupyter: ${lastError}\n${server.output()}`);
}

describe("boot configuration, proven with Debian's real parts", function () {
    let rendered: Rendered;
    let root: string;
    let account: Account;

    before(async function () {
        requireCommands(this, "openssl");
        rendered = await render(VALID_CONFIG);
        account = unusedAccount(rendered.user);
        root = mkdtempSync(path.join(tmpdir(), "gpu-notebook-instance-"));
        execFileSync("chmod", ["0755", root]);
        buildInstanceRoot(root, rendered, account);
    });

    after(() => {
        if (root) {
            rmSync(root, { recursive: true, force: true });
        }
    });

    describe("cloud-init", function () {
        let scratch: string | undefined;

        before(function () {
            requireCommands(this, "cloud-init", "python3-module:jsonschema");
            scratch = mkdtempSync(path.join(tmpdir(), "gpu-notebook-cloud-init-"));
        });

        after(() => {
            if (scratch) {
                rmSync(scratch, { recursive: true, force: true });
            }
        });

        function scratchFile(name: string): string {
            assert.ok(scratch, "no scratch directory");
            return path.join(scratch, name);
        }

        it("really validates: a broken write_files entry is rejected (the validator did not skip)", () => {
            const canary = scratchFile("canary.yaml");
            writeFileSync(canary, "#cloud-config\nwrite_files:\n  - path: /x\n    content: x\n    permissions: 420\n");
            const { status, report } = cloudInitSchema(canary);
            assert.notEqual(status, 0, `cloud-init accepted a broken document, so it is not validating:\n${report}`);
            assert.match(report, /write_files\.0\.permissions/);
        });

        const configs: Record<string, Record<string, string>> = {
            "the default config": VALID_CONFIG,
            "a custom user and port (users entry)": { ...VALID_CONFIG, sshUser: "alice", notebookPort: "9443" },
        };
        for (const [label, config] of Object.entries(configs)) {
            it(`accepts the user data rendered for ${label}`, async () => {
                const file = scratchFile("user-data.yaml");
                writeFileSync(file, (await render(config)).userData);
                const { status, report } = cloudInitSchema(file);
                assert.equal(status, 0, report);
                assert.match(report, /^Valid cloud-config/m);
                assert.doesNotMatch(report, /deprecat\w*:\s*\S/i, report);
            });
        }
    });

    describe("Jupyter from the written files", function () {
        let server: JupyterServer | undefined;
        let bootToNotebook: number | Error | undefined;
        const ca = () => rendered.certificatePem;

        before(async function () {
            requireCommands(this, "unshare", "setpriv", "python3-module:jupyter_server", "python3-module:nbclassic");
            if (!isRoot()) {
                skipOrFail(this, "these tests mount the instance's files in a private namespace and need root");
            }
            // A notebook the user already has, to see the server list the right folder.
            const existing = path.join(root, notebookDirOf(account.name), "from-the-user.txt");
            writeFileSync(existing, "kept\n");
            chownSync(existing, account.uid, account.gid);
            // The exact rendered config at its real path; the helper appends --ServerApp.ip=127.0.0.1
            // --ServerApp.port=<free port> --ServerApp.port_retries=0 --ServerApp.open_browser=False,
            // which override the file's 0.0.0.0 and port so the server only listens locally.
            server = await startJupyter({
                configFile: INSTANCE_PATHS.jupyterConfig,
                cwd: root,
                home: homeOf(account.name),
                command: inInstanceView(root, account, homeOf(account.name),
                    [...JUPYTER_SERVER_COMMAND, `--config=${INSTANCE_PATHS.jupyterConfig}`]),
            });
            // Measured here, right after the start; a failure is kept for its own test below, so
            // every other check still runs and reports on its own subject.
            bootToNotebook = await firstAuthenticatedRequest(server, rendered).catch((error: Error) => error);
        });

        after(async () => {
            await server?.stop();
        });

        function live(): JupyterServer {
            assert.ok(server, "Jupyter did not start");
            return server;
        }

        it("answers an authenticated HTTPS request right after it starts (boot to notebook)", () => {
            if (bootToNotebook instanceof Error) {
                throw bootToNotebook;
            }
            assert.equal(typeof bootToNotebook, "number");
            console.log(`      boot to notebook (local stand-in): ${bootToNotebook?.toFixed(0)} ms from starting the Jupyter ` +
                "process to the first successful authenticated HTTPS request");
        });

        it("serves TLS that verifies against notebookCertificatePem alone", async () => {
            const response = await request(`${live().baseUrl}/login`, { ca: ca() });
            assert.equal(response.status, 200);
            assert.equal(response.peerCertificate?.fingerprint256, new X509Certificate(ca()).fingerprint256);
        });

        it("is not trusted without that certificate (no other trust is involved)", async () => {
            await assert.rejects(request(`${live().baseUrl}/login`), (error: NodeJS.ErrnoException) =>
                /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(error.code ?? ""));
        });

        it("does not serve the notebook over plain HTTP", async () => {
            // The connection must be accepted and then dropped unanswered (the TLS server refusing
            // plain HTTP), not refused for want of a listener.
            const plain = `http://127.0.0.1:${live().port}`;
            for (const route of ["/login", "/tree", "/api/contents"]) {
                const outcome = await request(`${plain}${route}`).then(
                    (response) => `answered HTTP ${response.status}: ${response.body.slice(0, 200)}`,
                    (error: NodeJS.ErrnoException) => `dropped: ${error.code} ${error.message}`,
                );
                assert.match(outcome, /^dropped: /, `plain HTTP ${route} was ${outcome}`);
                assert.doesNotMatch(outcome, /ECONNREFUSED/);
            }
        });

        it("refuses the API and the notebook list without credentials", async () => {
            const api = await request(`${live().baseUrl}/api/contents`, { ca: ca() });
            assert.equal(api.status, 403);
            const tree = await request(`${live().baseUrl}/tree`, { ca: ca() });
            assert.equal(tree.status, 302);
            assert.match(String(tree.headers.location), /^\/login\?next=/);
        });

        it("logs in with notebookPassword", async () => {
            const { response, jar } = await jupyterLogin(live().baseUrl, rendered.password, ca());
            assert.equal(response.status, 302, response.body.slice(0, 500));
            assert.ok(hasSessionCookie(jar), `no session cookie after login: ${[...jar.cookies.keys()]}`);
            const api = await request(`${live().baseUrl}/api/contents`, { ca: ca(), jar });
            assert.equal(api.status, 200);
        });

        it("refuses a wrong password", async () => {
            const { response, jar } = await jupyterLogin(live().baseUrl, `${rendered.password}x`, ca());
            assert.equal(response.status, 401);
            assert.ok(!hasSessionCookie(jar), "a wrong password got a session cookie");
            const api = await request(`${live().baseUrl}/api/contents`, { ca: ca(), jar });
            assert.equal(api.status, 403);
        });

        it("runs as the notebook user and serves ~/notebooks", async () => {
            const status = readFileSync(`/proc/${live().process.pid}/status`, "utf8");
            assert.match(status, new RegExp(`^Uid:\\s+${account.uid}\\s+${account.uid}\\s+${account.uid}\\s+${account.uid}$`, "m"));
            const { jar } = await jupyterLogin(live().baseUrl, rendered.password, ca());
            const listing = await request(`${live().baseUrl}/api/contents`, { ca: ca(), jar });
            const names = (JSON.parse(listing.body).content as { name: string }[]).map((entry) => entry.name);
            assert.ok(names.includes("from-the-user.txt"), `listing: ${names.join(", ")}`);
            const saved = await request(`${live().baseUrl}/api/contents/saved-by-jupyter.txt`, {
                method: "PUT",
                ca: ca(),
                jar,
                headers: { "Content-Type": "application/json", "X-XSRFToken": jar.cookies.get("_xsrf") ?? "" },
                body: JSON.stringify({ type: "file", format: "text", content: "written through the notebook\n" }),
            });
            assert.equal(saved.status, 201, saved.body);
            const onDisk = path.join(root, notebookDirOf(account.name), "saved-by-jupyter.txt");
            assert.equal(readFileSync(onDisk, "utf8"), "written through the notebook\n");
            assert.equal(statSync(onDisk).uid, account.uid);
        });

        it("carries the jupyter_server 2.x settings (identity provider) next to the 1.x ones", () => {
            // Loaded the way the server loads it (traitlets), not read as text, as the notebook user
            // on the instance's files (it reads the password hash at its real path).
            const [command, ...args] = inInstanceView(root, account, "/", [DEBIAN_PYTHON, "-c", [
                "import json, sys",
                "from traitlets.config.loader import PyFileConfigLoader",
                "loader = PyFileConfigLoader(sys.argv[1], path=None)",
                "print(json.dumps(loader.load_config()))",
            ].join("\n"), INSTANCE_PATHS.jupyterConfig]);
            const loaded = JSON.parse(execFileSync(command, args, { encoding: "utf8" }));
            const provider = loaded.PasswordIdentityProvider ?? {};
            assert.ok(jupyterPasswordMatches(provider.hashed_password ?? "", rendered.password),
                `PasswordIdentityProvider.hashed_password does not match notebookPassword: ${provider.hashed_password}`);
            assert.equal(provider.password_required, true);
            assert.equal(provider.allow_password_change, false);
            assert.equal(loaded.IdentityProvider?.token, "");
            assert.equal(loaded.ServerApp.password, provider.hashed_password);
            assert.equal(loaded.ServerApp.token, "");
            assert.equal(loaded.ServerApp.certfile, INSTANCE_PATHS.certFile);
            assert.equal(loaded.ServerApp.keyfile, INSTANCE_PATHS.keyFile);
            assert.equal(loaded.ServerApp.root_dir, notebookDirOf(account.name));
        });

        describe("in headless Chromium", function () {
            let browser: Chromium | undefined;

            before(function () {
                requireCommands(this, CHROMIUM);
                mkdirSync(ARTIFACTS, { recursive: true });
            });

            after(async () => {
                await browser?.close();
            });

            it("logs in through the form, trusting only this certificate, and shows the notebook list", async () => {
                // The SPKI pin is the only trust added: Chromium accepts exactly this key.
                browser = Chromium.launch([`--ignore-certificate-errors-spki-list=${spkiPin(ca())}`]);
                const page = await browser.newPage();
                await page.send("Emulation.setDeviceMetricsOverride", { width: 1280, height: 800, deviceScaleFactor: 1, mobile: false });
                // Debian's server has no JupyterLab (the AMI's default page); nbclassic's notebook
                // list at /tree is the page a user lands on here, after the login it redirects to.
                await navigate(page, `${live().baseUrl}/tree`);
                await waitFor(page, "location.pathname === '/login' && document.querySelector('input[type=password]')");
                await page.evaluate("document.querySelector('input[type=password]').focus()");
                await page.send("Input.insertText", { text: rendered.password });
                const button = await page.evaluate<{ x: number; y: number }>(`(() => {
                    const box = document.querySelector('form [type=submit]').getBoundingClientRect();
                    return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
                })()`);
                const screenshot = async (name: string) => {
                    const { data } = await page.send("Page.captureScreenshot", { format: "png" });
                    writeFileSync(path.join(ARTIFACTS, name), Buffer.from(data, "base64"));
                };
                await screenshot("1-login.png");
                for (const type of ["mousePressed", "mouseReleased"]) {
                    await page.send("Input.dispatchMouseEvent", { type, ...button, button: "left", clickCount: 1 });
                }
                await waitFor(page, "location.pathname === '/tree'");
                await waitFor(page, "[...document.querySelectorAll('#notebook_list .item_name')]" +
                    ".some((item) => item.textContent.includes('from-the-user.txt'))");
                await screenshot("2-notebook-list.png");
                assert.equal(await page.evaluate<string>("location.origin"), live().baseUrl);
            });
        });
    });

    describe("the systemd units and the tmpfiles.d entry", function () {
        const units = () => rendered.files.filter((file) => file.path.startsWith("/etc/systemd/system/"));

        before(function () {
            requireCommands(this, "unshare", "systemd-analyze", "systemd-tmpfiles");
            if (!isRoot()) {
                skipOrFail(this, "these tests mount the instance's files in a private namespace and need root");
            }
        });

        it("are units systemd accepts, with every command they run in place", () => {
            // Unit files only: a drop-in (under a unit's .d/ folder) is read with its unit, never named alone.
            const names = units().map((file) => file.path).filter((name) => !name.includes(".d/"));
            for (const unit of ["gpu-notebook-jupyter.service", "gpu-notebook-idle.service", "gpu-notebook-idle.timer", "gpu-notebook-jobs.service"]) {
                assert.ok(names.includes(`/etc/systemd/system/${unit}`), `the user data writes ${unit}`);
            }
            // The launcher is the one path prepare-jupyter.sh makes at boot (a link into the AMI's Python).
            const launcher = path.join(root, INSTANCE_PATHS.launcher);
            rmSync(launcher, { force: true });
            writeFileSync(launcher, "#!/bin/sh\n", { mode: 0o755 });
            // systemd-analyze sees the instance's /etc and /usr/local (overlaid, read-only, in a
            // private mount namespace), so it checks User=, the executables and the units together.
            const script = [
                "set -eu",
                'mount -t overlay gpu-notebook-etc -o "lowerdir=$1/etc:/etc" /etc',
                'mount -t overlay gpu-notebook-local -o "lowerdir=$1/usr/local:/usr/local" /usr/local',
                "shift",
                'exec systemd-analyze verify --man=no "$@"',
            ].join("\n");
            const result = spawnSync("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "verify", root, ...names],
                { encoding: "utf8", timeout: 60_000 });
            rmSync(launcher, { force: true });
            assert.equal(result.status, 0, result.stderr);
            // Unknown keys and bad values are only warnings to systemd: none is accepted here.
            assert.equal(result.stderr.trim(), "", result.stderr);
        });

        it("orders every login session's scope after the stop sequence's unit, whose start waits for nothing a login does not", () => {
            const stopUnit = units().find((file) => file.path === INSTANCE_PATHS.stopService)?.content ?? "";
            const dropIn = units().find((file) => file.path === INSTANCE_PATHS.sessionScopeDropIn)?.content;
            assert.ok(dropIn, `the bundle installs ${INSTANCE_PATHS.sessionScopeDropIn}`);
            assert.deepEqual(dropIn.split("\n").filter((line) => line && !line.startsWith("#")), ["[Unit]", `After=${unitName(INSTANCE_PATHS.stopService)}`]);
            // Started on fork and kept active (so ExecStop runs at shutdown), ordered after nothing
            // that waits for the data volume or the bundle: a login at boot is never held by it.
            const service = serviceSection(stopUnit);
            assert.deepEqual([service.Type, service.RemainAfterExit, service.TimeoutStopSec], ["simple", "yes", "infinity"]);
            assert.match(service.ExecStart, /^-\/usr\/bin\/python3 \S+ started /);
            const after = (/^After=(.*)$/m.exec(stopUnit)?.[1] ?? "").split(" ");
            assert.deepEqual(after.filter((unit) => unit.startsWith("gpu-notebook")), [], after.join(" "));
            // Scopes exist only as transient units, which systemd-analyze cannot load: the same
            // "session-" prefix drop-in, with the rendered content, beside a probe service named
            // like a session and ordered before the stop unit, makes a cycle only if systemd 252
            // applies the drop-in and reads After= as written. Without the drop-in: no cycle.
            const probe = mkdtempSync(path.join(tmpdir(), "gpu-notebook-scope-order-"));
            try {
                writeFileSync(path.join(probe, unitName(INSTANCE_PATHS.stopService)), stopUnit);
                writeFileSync(path.join(probe, "session-7.service"),
                    `[Unit]\nWants=${unitName(INSTANCE_PATHS.stopService)}\nBefore=${unitName(INSTANCE_PATHS.stopService)}\n[Service]\nExecStart=/bin/true\n`);
                const verify = () => spawnSync("systemd-analyze", ["verify", "--man=no", path.join(probe, "session-7.service")],
                    { encoding: "utf8", timeout: 60_000, env: { ...process.env, SYSTEMD_UNIT_PATH: `${probe}:` } }).stderr;
                assert.doesNotMatch(verify(), /ordering cycle/, "no cycle without the drop-in");
                mkdirSync(path.join(probe, "session-.service.d"));
                writeFileSync(path.join(probe, "session-.service.d", path.basename(INSTANCE_PATHS.sessionScopeDropIn)), dropIn);
                const cycle = verify();
                assert.match(cycle, /Found ordering cycle on \S+\/start/, cycle);
                for (const unit of ["session-7.service", unitName(INSTANCE_PATHS.stopService)]) {
                    assert.ok(cycle.includes(`${unit}/start`), cycle);
                }
            } finally {
                rmSync(probe, { recursive: true, force: true });
            }
        });

        it("makes the jobs' run directory at boot, owned by the notebook user and closed to others", () => {
            const entry = path.join(root, INSTANCE_PATHS.jobsTmpfiles);
            execFileSync("systemd-tmpfiles", ["--create", `--root=${root}`, entry]);
            const made = statSync(path.join(root, INSTANCE_PATHS.jobsRunDir));
            assert.ok(made.isDirectory());
            assert.equal(made.uid, account.uid);
            assert.equal(made.gid, account.gid);
            assert.equal(made.mode & 0o777, 0o750);
        });

        it("settles the jobs at boot as the notebook user, after the data volume, keeping what it restarts", () => {
            const jobs = serviceSection(units().find((file) => file.path === INSTANCE_PATHS.jobsService)?.content ?? "");
            assert.equal(jobs.User, account.name);
            assert.deepEqual(jobs.ExecStart.split(" "), [INSTANCE_PATHS.jobRunner, "boot", "--machine", INSTANCE_PATHS.machineFile]);
            assert.equal(jobs.KillMode, "process");
            assert.equal(jobs.RemainAfterExit, "yes");
            const unit = units().find((file) => file.path === INSTANCE_PATHS.jobsService)?.content ?? "";
            assert.match(unit, new RegExp(`^RequiresMountsFor=${notebookDirOf(account.name)}$`, "m"));
            assert.doesNotMatch(unit, /jupyter/i, "independent of the notebook server");
        });
    });

    describe("the systemd unit's command", function () {
        let server: JupyterServer | undefined;
        let service: Record<string, string>;

        before(function () {
            requireCommands(this, "unshare", "setpriv", "python3-module:jupyter_server");
            if (!isRoot()) {
                skipOrFail(this, "these tests mount the instance's files in a private namespace and need root");
            }
            service = serviceSection(readFileSync(path.join(root, INSTANCE_PATHS.serviceUnit), "utf8"));
        });

        after(async () => {
            await server?.stop();
        });

        it("runs the launcher with the config, as the notebook user, in ~/notebooks", () => {
            assert.equal(service.User, account.name);
            assert.equal(service.Group, account.name);
            assert.equal(service.WorkingDirectory, notebookDirOf(account.name));
            assert.equal(service.Environment, `HOME=${homeOf(account.name)}`);
            assert.deepEqual(service.ExecStart.split(/\s+/), [INSTANCE_PATHS.launcher, `--config=${INSTANCE_PATHS.jupyterConfig}`]);
        });

        it("answers when run with only its executable swapped for Debian's jupyter_server", async () => {
            assert.doesNotMatch(service.ExecStart, /["'\\$%]/, "ExecStart needs systemd quoting rules to split");
            const [executable, ...args] = service.ExecStart.split(/\s+/);
            assert.equal(executable, INSTANCE_PATHS.launcher);
            const user = service.User;
            assert.equal(user, account.name, `the unit runs as ${user}, the instance's user is ${account.name}`);
            const home = /^HOME=(.+)$/.exec(service.Environment ?? "")?.[1];
            assert.ok(home, `the unit sets no HOME: ${service.Environment}`);
            // Same arguments and working directory; the helper appends only the listen flags
            // (--ServerApp.ip=127.0.0.1 --ServerApp.port=<free port> --ServerApp.port_retries=0
            // --ServerApp.open_browser=False).
            server = await startJupyter({
                configFile: INSTANCE_PATHS.jupyterConfig,
                cwd: root,
                home,
                command: inInstanceView(root, account, service.WorkingDirectory, [...JUPYTER_SERVER_COMMAND, ...args]),
            });
            assert.equal(readlinkSync(`/proc/${server.process.pid}/cwd`), service.WorkingDirectory);
            await firstAuthenticatedRequest(server, rendered);
            const { jar } = await jupyterLogin(server.baseUrl, rendered.password, rendered.certificatePem);
            const listing = await request(`${server.baseUrl}/api/contents`, { ca: rendered.certificatePem, jar });
            assert.equal(listing.status, 200);
            assert.equal(JSON.parse(listing.body).type, "directory");
        });
    });
});
