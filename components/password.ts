// Jupyter's password hash, computed by the deploying program so no plaintext password reaches
// the instance. Pure: same password and salt, same hash.
import { createHash } from "crypto";

/**
 * The `sha256:<salt>:<hex digest of sha256(password + salt)>` form that jupyter_server's
 * `passwd_check` accepts in both 1.x (`ServerApp.password`) and 2.x
 * (`PasswordIdentityProvider.hashed_password`).
 */
export function jupyterPasswordHash(password: string, salt: string): string {
    if (!/^[A-Za-z0-9]+$/.test(salt)) {
        // The salt sits between ':' separators and inside a Python string literal.
        throw new Error("the password salt must be letters and digits only");
    }
    const digest = createHash("sha256").update(password + salt, "utf8").digest("hex");
    return `sha256:${salt}:${digest}`;
}

/** The check jupyter_server performs at login, for tests and for users verifying a hash. */
export function jupyterPasswordMatches(hash: string, password: string): boolean {
    const [algorithm, salt, digest] = hash.split(":", 3);
    if (algorithm !== "sha256" || salt === undefined || digest === undefined) {
        return false;
    }
    return createHash("sha256").update(password + salt, "utf8").digest("hex") === digest;
}
