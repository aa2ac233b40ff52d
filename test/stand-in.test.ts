// The stand-in pulumi's passphrase rule against the real CLI's (stand-in/pulumi cites the source):
// Pulumi prompts only when stdin AND stdout are terminals and no CI system is detected; otherwise,
// without PULUMI_CONFIG_PASSPHRASE(_FILE), a command that needs the stack's secrets fails with
// Pulumi's message. The terminal is a real pseudo-terminal (script from util-linux), and the
// client tells the stand-in's server what its own stdin and stdout are.
import * as assert from "assert";
import { spawnSync } from "child_process";

import { StandInWorld } from "./support/stand-ins";
import { requireCommands } from "./support/system";

const NEEDED = "passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables";
const PROMPTS = "the stand-in answers no prompt; here the real CLI asks: Enter your passphrase to protect config/secrets";

describe("the stand-in pulumi asks for a passphrase as Pulumi does", function () {
    this.timeout(30_000);
    let world: StandInWorld;

    before(function () {
        requireCommands(this, "script");
        world = new StandInWorld();
        assert.strictEqual(spawnSync("pulumi", ["login", "--local"], { cwd: world.project, env: world.env() }).status, 0);
    });
    after(() => world.cleanup());

    /** Runs `command` with bash on a pseudo-terminal: stdin and stdout are terminals unless it redirects them. */
    function onTerminal(command: string, env: NodeJS.ProcessEnv = {}): string {
        const ran = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: world.project, env: world.env(env), encoding: "utf8", input: "" });
        return ran.stdout;
    }

    it("at a terminal (stdin and stdout), a new stack's passphrase would be asked for", () => {
        assert.ok(onTerminal("pulumi stack init dev").includes(PROMPTS));
    });

    it("stdout redirected, stdin redirected, or a CI system detected: Pulumi's message instead", () => {
        for (const [command, env] of [
            ["pulumi stack init dev >/dev/null", {}],
            ["pulumi stack init dev </dev/null", {}],
            ["pulumi stack init dev", { GITHUB_ACTIONS: "true" }],
            ["pulumi stack init dev --non-interactive", {}],
            ["pulumi stack init dev", { TERM: "dumb" }],
        ] as const) {
            const said = onTerminal(command, env);
            assert.ok(said.includes(`error: could not create secrets manager for new stack: ${NEEDED}`), `${command} ${JSON.stringify(env)}: ${said}`);
        }
        assert.ok(onTerminal("pulumi stack init dev", { GITHUB_ACTIONS: "true", PULUMI_DISABLE_CI_DETECTION: "1" }).includes(PROMPTS));
    });

    it("reading plain outputs, the selected stack's name or the login needs no passphrase; secrets do", () => {
        const env = { PULUMI_CONFIG_PASSPHRASE: "" };
        assert.strictEqual(spawnSync("pulumi", ["stack", "init", "dev"], { cwd: world.project, env: world.env(env) }).status, 0);
        assert.strictEqual(spawnSync("pulumi", ["up", "--yes"], { cwd: world.project, env: world.env(env) }).status, 0);
        for (const args of [["whoami"], ["stack", "--show-name"], ["stack", "output", "--json"], ["config", "set", "plain", "value"]]) {
            const ran = spawnSync("pulumi", args, { cwd: world.project, env: world.env(), encoding: "utf8" });
            assert.strictEqual(ran.status, 0, `${args.join(" ")}: ${ran.stderr}`);
        }
        for (const args of [["stack", "output", "--show-secrets"], ["up", "--yes"], ["config", "set", "--secret", "key", "value"]]) {
            const ran = spawnSync("pulumi", args, { cwd: world.project, env: world.env(), encoding: "utf8" });
            assert.strictEqual(ran.status, 255, args.join(" "));
            assert.ok(ran.stderr.includes(NEEDED), `${args.join(" ")}: ${ran.stderr}`);
        }
    });
});
