#!/usr/bin/env bash
# vmsix-refuse (payload/refuse.c), built for this host, refuses what a
# rule asks and nothing else: a probe makes KVM_IRQFD and
# VFIO_DEVICE_SET_IRQS calls on /dev/null (which the kernel answers
# ENOTTY) before, during and after two one-shot rules, and a detach and
# an INTx trigger that no rule applies to.  A SIGTERM for vmsix-refuse
# reaches the program, and a vmsix-refuse killed outright takes the
# program with it (libvirt knows only vmsix-refuse's pid).
set -euo pipefail
# shellcheck source=vmsix/lib.sh
. "$(dirname "$0")/../../../vmsix/lib.sh"

out="$VMSIX_BUILD/payload/refuse-test"
mkdir -p "$out"
gcc -O2 -Wall -Wextra -Werror "$VMSIX_TOP/tests/nested/payload/refuse.c" \
    -o "$out/vmsix-refuse"
cat > "$out/probe.c" <<'PROBE'
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

static char setbuf_[sizeof(struct vfio_irq_set) + 4 * sizeof(int)];

static void call(const char *what, int fd, unsigned long cmd, void *arg)
{
    int r = ioctl(fd, cmd, arg);

    printf("%s %d %s\n", what, r, r < 0 ? strerrorname_np(errno) : "-");
}

/* Held open from the start, as L1 does: the answer never waits for us */
static FILE *acks;

static void arm(const char *ctl, const char *rule)
{
    char line[8];
    FILE *f = fopen(ctl, "w");

    fprintf(f, "%s\n", rule);
    fclose(f);
    if (!fgets(line, sizeof(line), acks)) {
        line[0] = 0;
    }
    printf("ack %s", line);
}

int main(int argc, char **argv)
{
    struct vfio_irq_set *set = (void *)setbuf_;
    struct kvm_irqfd assign = { .fd = 0, .gsi = 7 };
    struct kvm_irqfd detach = { .fd = 0, .gsi = 7,
                                .flags = KVM_IRQFD_FLAG_DEASSIGN };
    int fd = open("/dev/null", O_RDONLY);

    setvbuf(stdout, NULL, _IONBF, 0);
    acks = fdopen(open(argv[2], O_RDWR), "r");
    set->argsz = sizeof(setbuf_);
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->count = 4;
    set->index = VFIO_PCI_MSIX_IRQ_INDEX;
    call("before-irqfd", fd, KVM_IRQFD, &assign);
    call("before-setirqs", fd, VFIO_DEVICE_SET_IRQS, set);
    arm(argv[1], "KVM_IRQFD 1 EBUSY");
    arm(argv[1], "VFIO_DEVICE_SET_IRQS 1 +4");
    call("asks-4-of-4", fd, VFIO_DEVICE_SET_IRQS, set);
    arm(argv[1], "VFIO_DEVICE_SET_IRQS 1 +2");
    call("detach", fd, KVM_IRQFD, &detach);
    call("armed-irqfd", fd, KVM_IRQFD, &assign);
    set->index = VFIO_PCI_INTX_IRQ_INDEX;
    call("intx", fd, VFIO_DEVICE_SET_IRQS, set);
    set->index = VFIO_PCI_MSIX_IRQ_INDEX;
    call("armed-setirqs", fd, VFIO_DEVICE_SET_IRQS, set);
    call("after-irqfd", fd, KVM_IRQFD, &assign);
    call("after-setirqs", fd, VFIO_DEVICE_SET_IRQS, set);
    arm(argv[1], "KVM_IRQFD 1 EWHATEVER");
    call("bad-rule-irqfd", fd, KVM_IRQFD, &assign);
    /* A bad rule leaves the armed one as it was */
    arm(argv[1], "KVM_IRQFD 1 EBUSY");
    arm(argv[1], "KVM_IRQFD 1 +5x");
    call("still-armed-irqfd", fd, KVM_IRQFD, &assign);
    return 7;
}
PROBE
gcc -O2 -Wall -Werror "$out/probe.c" -o "$out/probe"
rm -f "$out/ctl" "$out/ack"
mkfifo "$out/ctl" "$out/ack"
rc=0
timeout 30 "$out/vmsix-refuse" "$out/ctl" "$out/ack" "$out/probe" \
    "$out/ctl" "$out/ack" >"$out/stdout" 2>"$out/stderr" || rc=$?
cat "$out/stdout" "$out/stderr"
[ "$rc" = 7 ] || vmsix_die "vmsix-refuse exited with $rc, not the probe's 7"
cat > "$out/want" <<'WANT'
before-irqfd -1 ENOTTY
before-setirqs -1 ENOTTY
ack ok
ack ok
asks-4-of-4 -1 ENOTTY
ack ok
detach -1 ENOTTY
armed-irqfd -1 EBUSY
intx -1 ENOTTY
armed-setirqs 2 -
after-irqfd -1 ENOTTY
after-setirqs -1 ENOTTY
ack bad
bad-rule-irqfd -1 ENOTTY
ack ok
ack bad
still-armed-irqfd -1 EBUSY
WANT
diff -u "$out/want" "$out/stdout" || vmsix_die "the probe saw other results"
grep -q "^vmsix-refuse: not a rule: 'KVM_IRQFD 1 EWHATEVER'$" "$out/stderr" ||
    vmsix_die "a bad rule was not reported"
grep -q '^vmsix-refuse: KVM_IRQFD refused 2 times$' "$out/stderr" &&
    grep -q '^vmsix-refuse: VFIO_DEVICE_SET_IRQS refused 1 times$' "$out/stderr" ||
    vmsix_die "vmsix-refuse's totals are wrong"
# A SIGTERM for vmsix-refuse reaches the program, which ends as it
# chooses, and vmsix-refuse exits with its status once it has
cat > "$out/term.sh" <<'TERM'
trap 'echo term; exit 9' TERM
echo ready $$
while :; do sleep 1; done
TERM
# start_under_refuse SCRIPT: vmsix-refuse runs SCRIPT, which says "ready
# PID" on fd 6; sets pid (vmsix-refuse's) and child (the script's)
start_under_refuse() {
    rm -f "$out/ready"
    mkfifo "$out/ready"
    "$out/vmsix-refuse" "$out/ctl" "$out/ack" /bin/sh "$1" >"$out/ready" 2>"$out/stderr" &
    pid=$!
    exec 6<"$out/ready"
    read -r -t 20 line child <&6 && [ "$line" = ready ] ||
        { kill -KILL "$pid"; vmsix_die "$1 did not start under vmsix-refuse"; }
}
# ended_within SECONDS PID: PID (not a child) is gone within SECONDS
ended_within() { timeout "$1" tail --pid="$2" -f /dev/null; }
start_under_refuse "$out/term.sh"
kill -TERM "$pid"
if ! ended_within 20 "$pid"; then
    kill -KILL "$pid" "$child" 2>/dev/null || true
    vmsix_die "vmsix-refuse did not end within 20 s of a SIGTERM"
fi
rc=0
wait "$pid" || rc=$?
read -r -t 20 line <&6 || line=
exec 6<&-
if [ "$rc" != 9 ] || [ "$line" != term ]; then
    kill -KILL "$child" 2>/dev/null || true
    vmsix_die "after SIGTERM vmsix-refuse exited with $rc and the program said '$line', not 9 and 'term'"
fi
# ...and a vmsix-refuse killed outright takes the program with it
start_under_refuse "$out/term.sh"
exec 6<&-
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null || true
ended_within 10 "$child" ||
    { kill -KILL "$child"; vmsix_die "the program outlived a killed vmsix-refuse"; }
echo "refuse-test: OK"
