#!/bin/bash
# Every boot, run by gpu-notebook-bundle.service before the notebook server is set up: mounts the notebook's data
# volume at the notebook directory. Formats the volume only when blkid finds nothing at all on it
# (a new, blank volume); a volume with a filesystem (the same volume re-attached to a replacement
# machine, or one restored from a snapshot) is mounted as it is, never formatted again. Records
# the mount in fstab by UUID with nofail. Safe to run again: a second run changes nothing.
# Says what it did on stdout (/var/log/cloud-init-output.log on the machine).
#
# Usage: mount-data-volume.sh VOLUME_ID MOUNT_POINT OWNER
# The volume is found by its id: EBS NVMe devices carry it as their serial number, which udev
# turns into /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol<hex>.
# Environment (tests point these elsewhere): GPU_NOTEBOOK_DISK_BY_ID (default /dev/disk/by-id),
# GPU_NOTEBOOK_FSTAB (default /etc/fstab), GPU_NOTEBOOK_DEVICE_WAIT_SECONDS (default 600).
set -euo pipefail

[ "$#" -eq 3 ] || { echo "usage: $0 VOLUME_ID MOUNT_POINT OWNER" >&2; exit 2; }
volume_id="$1" mount_point="$2" owner="$3"
by_id="${GPU_NOTEBOOK_DISK_BY_ID:-/dev/disk/by-id}"
fstab="${GPU_NOTEBOOK_FSTAB:-/etc/fstab}"
wait_seconds="${GPU_NOTEBOOK_DEVICE_WAIT_SECONDS:-600}"
filesystem_label=gpu-notebook

log() {
    echo "gpu-notebook: data volume $volume_id: $*"
}

fail() {
    log "$*" >&2
    exit 1
}

[[ "$volume_id" =~ ^vol-[0-9a-f]{8,17}$ ]] || fail "not a volume id; expected vol- and hex digits"
[[ "$mount_point" =~ ^/[^[:space:]]*$ ]] || fail "mount point '$mount_point' must be an absolute path without spaces"
[[ "$wait_seconds" =~ ^[0-9]+$ ]] || fail "GPU_NOTEBOOK_DEVICE_WAIT_SECONDS must be a whole number of seconds"

# The NVMe serial is the volume id without its dash; some udev versions add a namespace suffix.
serial="${volume_id/-/}"
find_device() {
    local link
    for link in "$by_id/nvme-Amazon_Elastic_Block_Store_$serial" "$by_id/nvme-Amazon_Elastic_Block_Store_${serial}_1"; do
        if [ -e "$link" ]; then
            readlink -f "$link"
            return 0
        fi
    done
    return 1
}

# The volume is attached only after the machine is running, so it may appear a little later.
deadline=$((SECONDS + wait_seconds))
if ! device=$(find_device); then
    log "waiting up to ${wait_seconds}s for it to be attached"
    until device=$(find_device); do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "not attached after ${wait_seconds}s (no $by_id/nvme-Amazon_Elastic_Block_Store_$serial); nothing was formatted or mounted. Run 'pulumi up' to attach it, then 'sudo $0 $*'"
        fi
        sleep 2
    done
fi
size_bytes=$(blockdev --getsize64 "$device")
[ "$size_bytes" -gt 0 ] || fail "$device reports a size of 0 bytes; not touching it"
log "is $device ($((size_bytes / 1024 / 1024)) MiB)"

# Never touch a device that is in use somewhere else.
elsewhere=$(findmnt --noheadings --output TARGET --source "$device" || true)
if [ -n "$elsewhere" ] && [ "$elsewhere" != "$mount_point" ]; then
    fail "$device is already mounted at $elsewhere; not touching it"
fi

# blkid's low-level probe: exit 0 = found a signature, 2 = nothing at all, anything else = could not tell.
probe_status=0
probe=$(blkid --probe --output export "$device") || probe_status=$?
fstype=$(sed -n 's/^TYPE=//p' <<<"$probe")
pttype=$(sed -n 's/^PTTYPE=//p' <<<"$probe")
if [ "$probe_status" -eq 2 ]; then
    log "is blank (blkid found no filesystem or partition table): formatting it as ext4, first use"
    mkfs.ext4 -q -L "$filesystem_label" -m 0 "$device"
    fstype=ext4
    formatted=yes
elif [ "$probe_status" -ne 0 ]; then
    fail "blkid could not probe $device (exit $probe_status); not formatting or mounting it"
elif [ -z "$fstype" ]; then
    found="a signature blkid reports without a type"
    [ -z "$pttype" ] || found="a $pttype partition table"
    fail "$device has no filesystem of its own but $found; not formatting it. Mount the partition that holds your files by hand"
else
    log "holds a filesystem ($fstype): mounting it as it is, not formatting"
    formatted=no
fi

uuid=$(blkid --probe --output value --match-tag UUID "$device")
[ -n "$uuid" ] || fail "the $fstype filesystem on $device has no UUID; not mounting it"

# nofail: a later boot without the volume still comes up (and can be reached to fix it);
# the notebook service itself only starts when the volume is mounted.
entry="UUID=$uuid $mount_point $fstype defaults,nofail,x-systemd.device-timeout=30s 0 2"
touch "$fstab"
current=$(awk -v target="$mount_point" '$1 !~ /^#/ && $2 == target' "$fstab")
if [ "$current" = "$entry" ]; then
    log "$fstab already mounts UUID=$uuid at $mount_point"
else
    updated=$(mktemp "$fstab.XXXXXX")
    awk -v target="$mount_point" '!($1 !~ /^#/ && $2 == target)' "$fstab" >"$updated"
    echo "$entry" >>"$updated"
    chmod 0644 "$updated"
    mv "$updated" "$fstab"
    if [ -n "$current" ]; then
        log "$fstab: replaced the entry for $mount_point ($current) with $entry"
    else
        log "$fstab: added $entry"
    fi
fi

if findmnt --mountpoint "$mount_point" --source "$device" >/dev/null; then
    log "already mounted at $mount_point; nothing to change"
else
    if mountpoint -q "$mount_point"; then
        fail "something else is mounted at $mount_point; not mounting over it"
    fi
    mkdir -p "$mount_point"
    if [ -n "$(ls -A "$mount_point")" ]; then
        log "$mount_point already holds files on the root disk; they stay there, hidden while the volume is mounted"
    fi
    mount --fstab "$fstab" "$mount_point"
    log "mounted at $mount_point"
fi

if [ "$formatted" = yes ]; then
    chown "$owner:" "$mount_point"
    chmod 0750 "$mount_point"
    log "new filesystem handed to $owner"
fi
