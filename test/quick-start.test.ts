// The README's quick start, followed word for word on a fresh copy of the project, as a newcomer
// would: a home directory with nothing in it, no Pulumi login, no AWS region, the recording
// stand-in `pulumi` as the only Pulumi CLI. Each command of the quick start's code blocks is run
// as written, in order, with bash, in the project folder. What "runs" means:
//   - `npm ci` is not run: node_modules is linked from this checkout, which is what it installs
//     (running it would download packages);
//   - `npm test` is not run: it is the suite this test belongs to;
//   - every other command runs for real. The stand-in `pulumi up` "deploys" the outputs of the
//     real program run under the mocks; the machine is Debian's sshd and an HTTPS server on
//     127.0.0.1 presenting that program's host key and certificate, reached through the scripts'
//     test-only redirections (GPU_NOTEBOOK_SSH_*, GPU_NOTEBOOK_HTTPS_*), which change where they
//     connect, never which key or certificate they accept. The address service is on 127.0.0.1.
// A command this test does not know is a failure: the quick start and this test change together.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as http from "http";
import { tmpdir, userInfo } from "os";
import * as path from "path";

import { parseStackConfig } from "../components/config";
import { readStackConfig } from "../scripts/lib/stack-file";
import { DeployedMachine, deployUnderMocks } from "./support/machine";
import { VALID_CONFIG } from "./support/program";
import { HttpsFixture, ROOT, Sshd, SSHD, startHttps, startSshd, stopProcess } from "./support/scripts";
import { StandInWorld } from "./support/stand-ins";
import { freePort, requireCommands } from "./support/system";

const MY_IP = "198.51.100.61";

/** The commands of the README's quick start, in order: every line of its sh blocks, split at &&. */
function quickStartCommands(readme: string): string[] {
    const start = readme.indexOf("\n## Quick start\n");
    assert.ok(start >= 0, "the README has a Quick start section");
    const end = readme.indexOf("\n## ", start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
    return blocks.flatMap((block) => block.split("\n"))
        .map((line) => line.replace(/\s#.*$/, "").trim())
        .filter((line) => line !== "")
        .flatMap((line) => line.split("&&").map((command) => command.trim()));
}

interface Ran { status: number | null; stdout: string; stderr: string }

describe("the README's quick start, followed word for word on a fresh copy", function () {
    this.timeout(120_000);
    const commands = quickStartCommands(readFileSync(path.join(ROOT, "README.md"), "utf8"));
    let world: StandInWorld | undefined;
    let machine: DeployedMachine;
    let sshd: Sshd | undefined;
    let notebook: HttpsFixture | undefined;
    let ipService: http.Server | undefined;
    let redirects: NodeJS.ProcessEnv = {};

    before(async function () {
        requireCommands(this, SSHD, "ssh", "curl", "npm");
        machine = await deployUnderMocks(VALID_CONFIG);
        // Every ssh is sent to the sshd below (GPU_NOTEBOOK_SSH_HOST, _PORT).
        const here = new StandInWorld({ realSsh: true });
        world = here;
        here.setOutputs(machine.outputs, machine.secrets);
        sshd = await startSshd(path.join(here.dir, "sshd"), machine.hostPrivateKey, machine.loginPublicKey);
        notebook = await startHttps(machine.tlsPrivateKey, machine.outputs.notebookCertificatePem, '{"server":"the notebook"}', await freePort());
        const service = http.createServer((_request, response) => response.end(`${MY_IP}\n`));
        ipService = service;
        await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
        redirects = {
            GPU_NOTEBOOK_IP_URL: `http://127.0.0.1:${(service.address() as { port: number }).port}/`,
            GPU_NOTEBOOK_SSH_HOST: "127.0.0.1",
            GPU_NOTEBOOK_SSH_PORT: String(sshd.port),
            GPU_NOTEBOOK_SSH_USER: userInfo().username,
            GPU_NOTEBOOK_HTTPS_HOST: "127.0.0.1",
            GPU_NOTEBOOK_HTTPS_PORT: String(notebook.port),
        };
    });

    after(async () => {
        await stopProcess(sshd?.process);
        await new Promise<void>((resolve) => (notebook ? notebook.server.close(() => resolve()) : resolve()));
        await new Promise<void>((resolve) => (ipService ? ipService.close(() => resolve()) : resolve()));
        world?.cleanup();
    });

    /** Runs one quick-start command as typed, with bash, in the project folder; `input` is typed into it. */
    function run(command: string, input = ""): Promise<Ran> {
        const here = world as StandInWorld;
        return new Promise((resolve) => {
            const child = spawn("bash", ["-c", command], { cwd: here.project, env: here.env(redirects), stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (chunk) => { stdout += chunk; });
            child.stderr.on("data", (chunk) => { stderr += chunk; });
            const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stdout, stderr });
            });
            child.stdin.end(input);
        });
    }

    function ok(ran: Ran, command: string): Ran {
        assert.strictEqual(ran.status, 0, `${command}:\n${ran.stdout}\n${ran.stderr}\ncalls:\n${world?.callLines().join("\n")}`);
        return ran;
    }

    /** What following each command proves; a command missing here fails the test below. */
    const follow: Record<string, (command: string) => Promise<void>> = {
        "npm run up": async (command) => {
            const ran = ok(await run(command), command);
            const here = world as StandInWorld;
            assert.match(ran.stdout, /running 'pulumi login --local'/);
            assert.match(ran.stdout, /will run in us-east-1/);
            assert.match(ran.stdout, new RegExp(`allowedCidrs is now ${MY_IP.replace(/\./g, "\\.")}/32`));
            const stack = here.stackConfig("dev");
            assert.strictEqual(stack["aws:region"], "us-east-1");
            assert.deepStrictEqual(stack["gpu-notebook:allowedCidrs"], [`${MY_IP}/32`]);
            assert.ok(here.callLines().some((line) => line.startsWith("up ")), "pulumi up ran");
            const key = path.join(here.home, ".ssh", "gpu-notebook-dev.pem");
            assert.strictEqual(statSync(key).mode & 0o777, 0o600);
            for (const suffix of [".known_hosts", ".ssh_config"]) {
                assert.ok(existsSync(path.join(here.home, ".ssh", `gpu-notebook-dev${suffix}`)), `~/.ssh/gpu-notebook-dev${suffix}`);
            }
            // The README's promise: Pulumi's own commands find the stack afterwards.
            const own = ok(await run("pulumi stack output publicIp"), "pulumi stack output publicIp");
            assert.strictEqual(own.stdout, `${machine.outputs.publicIp}\n`);
            // Nobody set a passphrase: the one npm run up made is named, and unlocks the secrets as the README says.
            assert.match(ran.stdout, /a random one is kept for you in \S+\/\.pulumi\/gpu-notebook-dev\.passphrase \(readable only by you\)/);
            const exported = "export PULUMI_CONFIG_PASSPHRASE_FILE=~/.pulumi/gpu-notebook-dev.passphrase";
            assert.ok(readFileSync(path.join(ROOT, "README.md"), "utf8").includes(`\`${exported}\``));
            const secret = ok(await run(`${exported} && pulumi stack output --show-secrets notebookPassword`), exported);
            assert.strictEqual(secret.stdout, `${machine.outputs.notebookPassword}\n`);
        },
        "npm run notebook": async (command) => {
            const ran = ok(await run(command), command);
            assert.ok(ran.stdout.includes(`Notebook: ${machine.outputs.notebookUrl}`), ran.stdout);
            assert.ok(ran.stdout.includes(`Password: ${machine.outputs.notebookPassword}`));
            assert.match(ran.stdout, /The notebook answered after \d+ s\./);
        },
        "npm run ssh": async (command) => {
            const ran = ok(await run(command, "echo quick-start-shell-as-$(whoami)\n"), command);
            assert.match(ran.stdout, new RegExp(`quick-start-shell-as-${userInfo().username}`));
            assert.doesNotMatch(ran.stderr, /continue connecting|Permanently added/);
        },
        "npm run destroy": async (command) => {
            ok(await run(command), command);
            assert.ok((world as StandInWorld).callLines().some((line) => /^destroy( |$)/.test(line)), "pulumi destroy ran");
            const own = await run("pulumi stack output publicIp");
            assert.notStrictEqual(own.status, 0, "nothing is left deployed");
        },
    };
    const notRun: Record<string, string> = {
        "npm ci": "node_modules is linked from this checkout",
        "npm test": "it is the suite this test belongs to",
    };

    it("opens on the steps a newcomer needs: install and create, connect, take down, test", () => {
        assert.deepStrictEqual(commands, ["npm ci", "npm run up", "npm run notebook", "npm run ssh", "npm run destroy", "npm ci", "npm test"]);
    });

    it("holds only commands this test knows how to follow", () => {
        assert.deepStrictEqual(commands.filter((command) => !(command in follow) && !(command in notRun)), []);
    });

    for (const command of commands.filter((each) => each in follow)) {
        it(`\`${command}\` works as written`, () => follow[command](command));
    }
});

/**
 * Every `pulumi config set` the README and the docs show with a real value (the same through
 * `npx pulumi` or `npm run pulumi --`), as it is written, grouped by paragraph: a reader follows a
 * paragraph's recipes in order (`spot true`, then `spotFallback on-demand`). A placeholder
 * (<key>, …) is no recipe.
 */
function configRecipes(): { where: string; commands: string[] }[] {
    const documents = ["README.md", ...readdirSync(path.join(ROOT, "docs")).map((name) => `docs/${name}`)];
    return documents.flatMap((where) => readFileSync(path.join(ROOT, where), "utf8").split(/\n[ \t]*\n/)
        .map((paragraph) => ({
            where,
            commands: [...paragraph.matchAll(/(?:^[ \t]*|`)((?:npx pulumi|npm run pulumi --|pulumi) config set [^`\n#]+)/gm)]
                .map((match) => match[1].trim()).filter((command) => !/[<…]|\.\.\./.test(command)),
        })))
        .filter(({ commands }) => commands.length > 0);
}

describe("the README's config recipes, run as written on a fresh copy (stand-in pulumi)", function () {
    this.timeout(60_000);
    let world: StandInWorld | undefined;
    /** The stack file a fresh copy has after its first npm run up; the README's class example. */
    let fresh = "";
    let classExample = "";
    const recipes = configRecipes();

    before(() => {
        // A user who set their own passphrase: what the recipes do does not depend on it.
        const here = new StandInWorld({ ownPassphrase: "a passphrase of the user's own" });
        world = here;
        // What a fresh clone holds (a stack file, if the project ships one), then what npm run up adds.
        for (const args of [["login", "--local"], ["stack", "select", "--create", "dev"], ["config", "set", "aws:region", "us-east-1"],
            ["config", "set", "--path", "allowedCidrs[0]", "198.51.100.7/32"]]) {
            const ran = spawnSync("pulumi", args, { cwd: here.project, env: here.env(), encoding: "utf8" });
            assert.strictEqual(ran.status, 0, ran.stderr);
        }
        fresh = readFileSync(path.join(here.project, "Pulumi.dev.yaml"), "utf8");
        const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
        classExample = /#### A class of three\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
        assert.match(classExample, /gpu-notebook:notebooks:/);
    });

    after(() => world?.cleanup());

    it("finds the recipes: the failover list, a notebook's own type, a region, a snapshot to restore", () => {
        const commands = recipes.flatMap((recipe) => recipe.commands).join("\n");
        for (const expected of [/config set instanceTypes '\[/, /config set --path 'notebooks\.carol\.instanceType'/, /config set aws:region/,
            /config set restoreFromSnapshotId snap-/]) {
            assert.match(commands, expected);
        }
    });

    it("each recipe, on the stack file a fresh copy has (a class's on the README's class), gives a config the deploy accepts", () => {
        const here = world as StandInWorld;
        const stackFile = path.join(here.project, "Pulumi.dev.yaml");
        for (const { where, commands } of recipes) {
            writeFileSync(stackFile, commands.some((command) => /'notebooks\./.test(command)) ? classExample : fresh);
            for (const command of commands) {
                const ran = spawnSync("bash", ["-c", command], { cwd: here.project, env: here.env(), encoding: "utf8" });
                assert.strictEqual(ran.status, 0, `${where}: ${command}: ${ran.stderr}`);
                const { config } = readStackConfig(stackFile, "dev");
                assert.doesNotThrow(() => parseStackConfig(config), `${where}: ${command}\n${readFileSync(stackFile, "utf8")}`);
            }
        }
    });
});

describe("the README's Upgrading, followed as written in real git repositories", function () {
    this.timeout(30_000);
    let dir = "";
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const upgrading = readme.slice(readme.indexOf("\n### Upgrading\n"), readme.indexOf("\n#### Upgrading from"));
    const settings = "encryptionsalt: v1:mine\nconfig:\n  aws:region: eu-west-1\n  gpu-notebook:instanceType: g5.xlarge\n";
    // Merges need an author; `git commit` in a merge opens an editor, which a person closes.
    const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "u", GIT_AUTHOR_EMAIL: "u@example.com", GIT_COMMITTER_NAME: "u",
        GIT_COMMITTER_EMAIL: "u@example.com", GIT_EDITOR: "true" };

    function git(cwd: string, ...args: string[]): { status: number | null; output: string } {
        const ran = spawnSync("git", args, { cwd, env: gitEnv, encoding: "utf8" });
        return { status: ran.status, output: ran.stdout + ran.stderr };
    }

    function sh(cwd: string, command: string): void {
        const ran = spawnSync("bash", ["-c", command], { cwd, env: gitEnv, encoding: "utf8" });
        assert.strictEqual(ran.status, 0, `${command}: ${ran.stdout}${ran.stderr}`);
    }

    /** An upstream whose older commit shipped a Pulumi.dev.yaml with a setting and whose newest ships this checkout's; a clone of the older one. */
    function cloneOfTheOldVersion(name: string): string {
        const upstream = path.join(dir, `${name}-upstream`);
        mkdirSync(upstream);
        git(upstream, "init", "-q");
        writeFileSync(path.join(upstream, "Pulumi.dev.yaml"), "config:\n  gpu-notebook:instanceType: g4dn.xlarge\n");
        git(upstream, "add", ".");
        git(upstream, "commit", "-qm", "a version whose stack file set instanceType");
        const user = path.join(dir, name);
        assert.strictEqual(git(dir, "clone", "-q", upstream, user).status, 0);
        writeFileSync(path.join(upstream, "Pulumi.dev.yaml"), readFileSync(path.join(ROOT, "Pulumi.dev.yaml")));
        git(upstream, "commit", "-qam", "this version");
        return user;
    }

    /** A later release upstream, which leaves the stack file alone (project.test.ts pins it). */
    function laterRelease(user: string): void {
        const upstream = `${user}-upstream`;
        writeFileSync(path.join(upstream, "index.ts"), "// a later release\n");
        git(upstream, "add", "index.ts");
        git(upstream, "commit", "-qm", "a later release");
    }

    before(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gn-upgrade-"));
    });

    after(() => rmSync(dir, { recursive: true, force: true }));

    it("keeps the settings of a checkout that edited the old stack file, through the one pull that changes it", () => {
        const user = cloneOfTheOldVersion("edited");
        writeFileSync(path.join(user, "Pulumi.dev.yaml"), settings);
        const plain = git(user, "pull");
        assert.notStrictEqual(plain.status, 0, "a plain git pull refuses, as the README says");
        assert.match(plain.output, /Your local changes to the following files would be overwritten by merge:\s+Pulumi\.dev\.yaml/);
        const command = /^ {2}(cp Pulumi\.dev\.yaml .+)$/m.exec(upgrading)?.[1];
        assert.ok(command, "the README gives the command");
        sh(user, command);
        assert.strictEqual(readFileSync(path.join(user, "Pulumi.dev.yaml"), "utf8"), settings);
        assert.strictEqual(git(user, "log", "-1", "--format=%s").output.trim(), "this version");
        // From then on a pull merges around the settings.
        laterRelease(user);
        const later = git(user, "pull", "-q");
        assert.strictEqual(later.status, 0, later.output);
        assert.strictEqual(git(user, "log", "-1", "--format=%s").output.trim(), "a later release");
        assert.strictEqual(readFileSync(path.join(user, "Pulumi.dev.yaml"), "utf8"), settings);
    });

    it("keeps the settings of a checkout that had committed them, through the conflict, and later pulls merge around them", () => {
        const user = cloneOfTheOldVersion("committed");
        writeFileSync(path.join(user, "Pulumi.dev.yaml"), settings);
        git(user, "commit", "-qam", "my settings");
        const pull = /`(git pull --no-rebase)`/.exec(upgrading)?.[1];
        const resolve = /`(git checkout --ours Pulumi\.dev\.yaml && git add Pulumi\.dev\.yaml && git commit)`/.exec(upgrading)?.[1];
        assert.ok(pull && resolve, "the README gives both commands");
        const pulled = spawnSync("bash", ["-c", pull], { cwd: user, env: gitEnv, encoding: "utf8" });
        assert.notStrictEqual(pulled.status, 0);
        assert.match(pulled.stdout + pulled.stderr, /CONFLICT \(content\): Merge conflict in Pulumi\.dev\.yaml/);
        sh(user, resolve);
        assert.strictEqual(readFileSync(path.join(user, "Pulumi.dev.yaml"), "utf8"), settings);
        assert.strictEqual(git(user, "status", "--porcelain").output, "");
        laterRelease(user);
        const later = git(user, "pull", "--no-rebase", "-q");
        assert.strictEqual(later.status, 0, later.output);
        assert.strictEqual(readFileSync(path.join(user, "Pulumi.dev.yaml"), "utf8"), settings);
    });
});
