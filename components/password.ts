// The notebook's login password (the configured one, or one generated once and kept in state) and
// Jupyter's hash of it, computed by the deploying program so no plaintext password reaches the
// instance. The hash is a pure function: same password and salt, same hash, same user data.
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/**
 * The `sha256:<salt>:<hex digest of sha256(password + salt)>` form that jupyter_server's
 * `passwd_check` accepts in both 1.x (`ServerApp.password`) and 2.x
 * (`PasswordIdentityProvider.hashed_password`).
 */
function jupyterPasswordHash(password: string, salt: string): string {
    if (!/^[A-Za-z0-9]+$/.test(salt)) {
        // The salt sits between ':' separators and inside a Python string literal.
        throw new Error("the password salt must be letters and digits only");
    }
    const digest = createHash("sha256").update(password + salt, "utf8").digest("hex");
    return `sha256:${salt}:${digest}`;
}

/** The check jupyter_server performs at login. Exported for tests. */
export function jupyterPasswordMatches(hash: string, password: string): boolean {
    const [algorithm, salt, digest] = hash.split(":", 3);
    if (algorithm !== "sha256" || salt === undefined || digest === undefined) {
        return false;
    }
    return createHash("sha256").update(password + salt, "utf8").digest("hex") === digest;
}

export interface NotebookPassword {
    /** Secret: what the user types at the login page. */
    password: pulumi.Output<string>;
    /** Secret: the jupyter_server hash of it, for the instance's configuration. */
    hash: pulumi.Output<string>;
}

/** The configured password, or a generated one, and its hash with a salt kept in state. */
export function createNotebookPassword(name: string, configured: string | undefined, parent: pulumi.Resource): NotebookPassword {
    const password: pulumi.Output<string> = configured !== undefined
        ? pulumi.secret(configured)
        : new random.RandomPassword(`${name}-password`, { length: 24, special: false }, { parent }).result;
    // A salt kept in state, so the hash (and with it the user data) is the same on every run.
    const salt = new random.RandomString(`${name}-password-salt`, { length: 16, special: false }, { parent });
    const hash = pulumi.secret(pulumi.all([password, salt.result]).apply(([plain, saltText]) => jupyterPasswordHash(plain, saltText)));
    return { password: pulumi.secret(password), hash };
}
