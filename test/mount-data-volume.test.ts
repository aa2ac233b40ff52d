// The first-boot mount script, run for real on file-backed disk images attached as loop devices:
// a blank volume is formatted and mounted, a volume with files is mounted as it is, a second run
// changes nothing. The script finds its device by volume id under a by-id directory, as on EC2;
// here that directory is a temporary one linking the id to the loop device, and fstab is a
// temporary file, so the machine running the tests is not changed.
import * as assert from "assert";
import { spawnSync, SpawnSyncReturns } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "components", "boot", "mount-data-volume.sh");
const VOLUME_ID = "vol-0123456789abcdef0";
const OWNER = "nobody";
const TOOLS = ["losetup", "mkfs.ext4", "blkid", "blockdev", "findmnt", "mount", "umount", "mountpoint", "sfdisk"];
const IMAGE_BYTES = 64 * 1024 * 1024;
const FSTAB_BEFORE = "# /etc/fstab: static file system information.\nUUID=1111-2222 / ext4 defaults 0 1\n";

function run(command: string, args: string[], input?: string): SpawnSyncReturns<string> {
    return spawnSync(command, args, { encoding: "utf8", input, timeout: 60_000 });
}

function must(command: string, args: string[], input?: string): string {
    const result = run(command, args, input);
    if (result.status !== 0) {
        throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
    }
    return result.stdout.trim();
}

/** Why loop-device tests cannot run here, or undefined when they can. */
function loopDevicesUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) {
        return "they need root (losetup and mount)";
    }
    const missing = TOOLS.filter((tool) => run("sh", ["-c", `command -v ${tool}`]).status !== 0);
    if (missing.length > 0) {
        return `missing tools: ${missing.join(", ")} (Debian packages util-linux, mount, e2fsprogs, fdisk)`;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-loop-probe-"));
    try {
        const image = path.join(dir, "probe.img");
        writeFileSync(image, "");
        truncateSync(image, 1024 * 1024);
        const attached = run("losetup", ["--find", "--show", image]);
        if (attached.status !== 0) {
            return `losetup cannot attach a file here: ${attached.stderr.trim()}`;
        }
        must("losetup", ["--detach", attached.stdout.trim()]);
        return undefined;
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

interface Disk {
    dir: string;
    image: string;
    device: string;
    byId: string;
    fstab: string;
    mountPoint: string;
}

describe("the data volume mount script, on loop devices", function () {
    let disk: Disk | undefined;

    before(function () {
        const reason = loopDevicesUnavailable();
        if (reason === undefined) {
            return;
        }
        if (process.env.CI === "true") {
            throw new Error(`loop-device tests cannot run on CI: ${reason}`);
        }
        console.log(`\n    SKIPPING the mount script tests on this machine: ${reason}.\n`);
        this.skip();
    });

    /** A disk image attached as a loop device, linked under a by-id directory as EC2's udev names it. */
    function attachDisk(prepare?: (image: string) => void): Disk {
        const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-mount-"));
        const image = path.join(dir, "volume.img");
        writeFileSync(image, "");
        truncateSync(image, IMAGE_BYTES);
        prepare?.(image);
        const device = must("losetup", ["--find", "--show", image]);
        const byId = path.join(dir, "by-id");
        mkdirSync(byId);
        symlinkSync(device, path.join(byId, `nvme-Amazon_Elastic_Block_Store_${VOLUME_ID.replace("-", "")}`));
        const fstab = path.join(dir, "fstab");
        writeFileSync(fstab, FSTAB_BEFORE);
        disk = { dir, image, device, byId, fstab, mountPoint: path.join(dir, "home", OWNER, "notebooks") };
        return disk;
    }

    function mountScript(target: Disk, env: Record<string, string> = {}, volumeId = VOLUME_ID): SpawnSyncReturns<string> {
        return spawnSync("bash", [SCRIPT, volumeId, target.mountPoint, OWNER], {
            encoding: "utf8",
            timeout: 60_000,
            env: { ...process.env, GPU_NOTEBOOK_DISK_BY_ID: target.byId, GPU_NOTEBOOK_FSTAB: target.fstab, ...env },
        });
    }

    function mountedSources(target: Disk): string[] {
        const result = run("findmnt", ["--noheadings", "--output", "SOURCE,FSTYPE", "--mountpoint", target.mountPoint]);
        return result.stdout.split("\n").map((line) => line.trim().replace(/\s+/, " ")).filter((line) => line !== "");
    }

    function uuidOf(device: string): string {
        return must("blkid", ["--probe", "--output", "value", "--match-tag", "UUID", device]);
    }

    afterEach(() => {
        if (!disk) {
            return;
        }
        while (run("mountpoint", ["-q", disk.mountPoint]).status === 0) {
            must("umount", [disk.mountPoint]);
        }
        run("losetup", ["--detach", disk.device]);
        rmSync(disk.dir, { recursive: true, force: true });
        disk = undefined;
    });

    it("formats a blank volume, mounts it at the notebook directory and records it in fstab by UUID with nofail", () => {
        const target = attachDisk();
        const result = mountScript(target);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(result.stdout, /is blank \(blkid found no filesystem or partition table\): formatting it as ext4/);
        assert.deepStrictEqual(mountedSources(target), [`${target.device} ext4`]);
        const uuid = uuidOf(target.device);
        assert.strictEqual(readFileSync(target.fstab, "utf8"),
            `${FSTAB_BEFORE}UUID=${uuid} ${target.mountPoint} ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2\n`);
        const owner = must("id", ["-u", OWNER]);
        assert.strictEqual(String(statSync(target.mountPoint).uid), owner, "the new filesystem belongs to the notebook user");
    });

    it("mounts a volume that already holds a filesystem without formatting it, and its files are still there", () => {
        const target = attachDisk();
        must("mkfs.ext4", ["-q", target.device]);
        const uuid = uuidOf(target.device);
        const earlier = path.join(target.dir, "earlier");
        mkdirSync(earlier);
        must("mount", [target.device, earlier]);
        writeFileSync(path.join(earlier, "thesis.ipynb"), "a week of work\n");
        must("umount", [earlier]);

        const result = mountScript(target);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(result.stdout, /holds a filesystem \(ext4\): mounting it as it is, not formatting/);
        assert.doesNotMatch(result.stdout, /formatting it/);
        assert.strictEqual(readFileSync(path.join(target.mountPoint, "thesis.ipynb"), "utf8"), "a week of work\n");
        assert.strictEqual(uuidOf(target.device), uuid, "the same filesystem");
        assert.strictEqual(statSync(target.mountPoint).uid, 0, "an existing filesystem's ownership is left alone");
    });

    it("changes nothing when run a second time", () => {
        const target = attachDisk();
        const first = mountScript(target);
        assert.strictEqual(first.status, 0, first.stderr);
        writeFileSync(path.join(target.mountPoint, "notes.ipynb"), "{}\n");
        const fstab = readFileSync(target.fstab, "utf8");
        const uuid = uuidOf(target.device);

        const second = mountScript(target);
        assert.strictEqual(second.status, 0, second.stderr);
        assert.doesNotMatch(second.stdout, /formatting it/);
        assert.match(second.stdout, /already mounts UUID=/);
        assert.match(second.stdout, /already mounted at .*; nothing to change/);
        assert.strictEqual(readFileSync(target.fstab, "utf8"), fstab);
        assert.strictEqual(uuidOf(target.device), uuid);
        assert.deepStrictEqual(mountedSources(target), [`${target.device} ext4`], "mounted once, not twice");
        assert.strictEqual(readFileSync(path.join(target.mountPoint, "notes.ipynb"), "utf8"), "{}\n");
    });

    it("mounts the same filesystem again after a reboot-like unmount, from its fstab entry", () => {
        const target = attachDisk();
        assert.strictEqual(mountScript(target).status, 0);
        const fstab = readFileSync(target.fstab, "utf8");
        must("umount", [target.mountPoint]);
        const again = mountScript(target);
        assert.strictEqual(again.status, 0, again.stderr);
        assert.match(again.stdout, /mounting it as it is, not formatting/);
        assert.deepStrictEqual(mountedSources(target), [`${target.device} ext4`]);
        assert.strictEqual(readFileSync(target.fstab, "utf8"), fstab);
    });

    it("refuses a disk with a partition table and no filesystem of its own, formatting nothing", () => {
        const target = attachDisk((image) => must("sfdisk", ["--quiet", image], "label: gpt\n"));
        const result = mountScript(target);
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /has no filesystem of its own but a gpt partition table; not formatting it/);
        assert.strictEqual(must("blkid", ["--probe", "--output", "value", "--match-tag", "PTTYPE", target.device]), "gpt");
        assert.deepStrictEqual(mountedSources(target), []);
        assert.strictEqual(readFileSync(target.fstab, "utf8"), FSTAB_BEFORE);
    });

    it("gives up after the wait when the volume never appears, touching nothing", () => {
        const target = attachDisk();
        const result = mountScript(target, { GPU_NOTEBOOK_DEVICE_WAIT_SECONDS: "1" }, "vol-0fffffffffffffff0");
        assert.strictEqual(result.status, 1);
        assert.match(result.stdout, /waiting up to 1s for it to be attached/);
        assert.match(result.stderr, /not attached after 1s .*nothing was formatted or mounted/);
        assert.deepStrictEqual(mountedSources(target), []);
        assert.strictEqual(readFileSync(target.fstab, "utf8"), FSTAB_BEFORE);
        assert.strictEqual(run("blkid", ["--probe", target.device]).status, 2, "the disk is still blank");
    });
});
