/*
 * vmsix-refuse: run a program whose interrupt ioctls the host refuses on
 * request, for the payload's refusal runs (docs/devel/vmsix-payload.rst).
 *
 * usage: vmsix-refuse CONTROL ACK PROGRAM [ARG...]
 *   Runs PROGRAM (L1's QEMU) under a seccomp filter that hands each
 *   VFIO_DEVICE_SET_IRQS, KVM_IRQFD and KVM_SET_GSI_ROUTING of any of its
 *   threads to this process, which lets the call go on into the kernel
 *   unless a rule says otherwise.  A rule is a line on the FIFO CONTROL:
 *
 *     IOCTL COUNT RESULT
 *
 *   The next COUNT calls of IOCTL that it applies to get RESULT instead
 *   of running: an errno name (ENOSPC, ENOMEM, EBUSY, EINVAL, ENODEV) or
 *   +N, the non-negative value N, which is how the kernel says that an
 *   MSI or MSI-X enable could have only N vectors (so +N applies only
 *   to a call that asks for more than N).  A rule on KVM_IRQFD
 *   applies to attaching an irqfd, not to detaching one; a rule on
 *   VFIO_DEVICE_SET_IRQS to setting MSI-X triggers.  "ok" on the FIFO
 *   ACK says the rule is armed, "bad" that the line was no rule (what
 *   was armed stays armed); whoever writes rules keeps ACK open for
 *   reading, since this process never waits to answer.  Each call
 *   refused is reported on stderr; the exit status is PROGRAM's.
 *   SIGTERM, SIGINT and SIGHUP are passed on to PROGRAM, and PROGRAM is
 *   killed should this process die, so that a manager that knows only
 *   this process's pid (libvirt, for its <emulator>) can stop both.
 *
 * The kernel runs the calls it is not told to refuse itself, so the
 * program sees the host's own results, and the kernel's syscall trace
 * (which comes after the seccomp filter) counts only those.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vfio.h>

/* The filter checks the caller's ABI; a build for the host tests itself */
#if defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#elif defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#else
#error "vmsix-refuse: add this host's AUDIT_ARCH"
#endif

struct ioctl_kind {
    const char *name;
    unsigned long cmd;
    unsigned count;             /* calls still to refuse */
    long result;                /* -errno, or a value */
    char result_name[16];
    unsigned refused;
};

static struct ioctl_kind kinds[] = {
    { .name = "VFIO_DEVICE_SET_IRQS", .cmd = VFIO_DEVICE_SET_IRQS },
    { .name = "KVM_IRQFD", .cmd = KVM_IRQFD },
    { .name = "KVM_SET_GSI_ROUTING", .cmd = KVM_SET_GSI_ROUTING },
};
#define NR_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct {
    const char *name;
    int value;
} errnos[] = {
    { "ENOSPC", ENOSPC }, { "ENOMEM", ENOMEM }, { "EBUSY", EBUSY },
    { "EINVAL", EINVAL }, { "ENODEV", ENODEV },
};

/* The program, once started: it cannot go on without its supervisor */
static pid_t program;
/*
 * SIGTERM, SIGINT and SIGHUP: blocked here from before the fork on and
 * read from a signalfd, to be passed on to the program; the mask the
 * program gets back before it is run.
 */
static sigset_t termination, program_mask;

static void die(const char *what)
{
    fprintf(stderr, "vmsix-refuse: %s: %s\n", what, strerror(errno));
    if (program > 0) {
        kill(program, SIGKILL);
    }
    exit(125);
}

/* Hand the three ioctls to the listener, let everything else through. */
static int install_filter(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* the low word of the request (both ABIs are little-endian) */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VFIO_DEVICE_SET_IRQS, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVM_IRQFD, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVM_SET_GSI_ROUTING, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = {
        .len = sizeof(code) / sizeof(code[0]),
        .filter = code,
    };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        die("PR_SET_NO_NEW_PRIVS");
    }
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                   SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

static void send_fd(int sock, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(sock, &msg, 0) != 1) {
        die("sendmsg");
    }
}

static int recv_fd(int sock)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    struct cmsghdr *c;
    int fd;

    errno = 0;
    if (recvmsg(sock, &msg, 0) != 1) {
        if (!errno) {
            errno = EPIPE;      /* the child died before it sent it */
        }
        die("no listener from the child");
    }
    c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) {
        errno = EPROTO;
        die("no listener from the child");
    }
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

/* The child: filtered from here on, so is everything it runs. */
static pid_t start_program(char **argv, int *listener)
{
    pid_t parent = getpid();
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        die("socketpair");
    }
    pid = fork();
    if (pid < 0) {
        die("fork");
    }
    if (pid == 0) {
        int fd;

        /*
         * A manager that runs PROGRAM through us (libvirt's <emulator>)
         * knows our pid, not its: should we be killed outright, an
         * orphaned QEMU would keep its devices out of the manager's reach
         * (and its filtered ioctls would fail with ENOSYS).
         */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
            die("PR_SET_PDEATHSIG");
        }
        if (getppid() != parent) {
            _exit(125);
        }
        fd = install_filter();
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &program_mask, NULL);

        if (fd < 0) {
            die("seccomp");
        }
        send_fd(sv[1], fd);
        close(fd);
        execv(argv[0], argv);
        die(argv[0]);
    }
    program = pid;
    close(sv[1]);
    *listener = recv_fd(sv[0]);
    close(sv[0]);
    return pid;
}

static struct ioctl_kind *kind_of(unsigned long cmd)
{
    unsigned i;

    for (i = 0; i < NR_KINDS; i++) {
        if ((uint32_t)kinds[i].cmd == (uint32_t)cmd) {
            return &kinds[i];
        }
    }
    return NULL;
}

/* A rule line; false if it is not one */
static int parse_rule(char *line)
{
    char name[32], result[16];
    unsigned count, i;
    struct ioctl_kind *k = NULL;
    long value;

    if (sscanf(line, "%31s %u %15s", name, &count, result) != 3) {
        return 0;
    }
    for (i = 0; i < NR_KINDS; i++) {
        if (!strcmp(kinds[i].name, name)) {
            k = &kinds[i];
        }
    }
    if (!k) {
        return 0;
    }
    if (result[0] == '+') {
        char more;

        if (sscanf(result + 1, "%ld%c", &value, &more) != 1 || value < 0) {
            return 0;
        }
    } else {
        for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
            if (!strcmp(errnos[i].name, result)) {
                break;
            }
        }
        if (i == sizeof(errnos) / sizeof(errnos[0])) {
            return 0;
        }
        value = -errnos[i].value;
    }
    /* Only a whole rule replaces what is armed */
    k->result = value;
    k->count = count;
    snprintf(k->result_name, sizeof(k->result_name), "%s", result);
    return 1;
}

/* Read the caller's argument, if it is still waiting for the answer. */
static int read_arg(int listener, const struct seccomp_notif *req,
                    void *buf, size_t len)
{
    char path[64];
    int fd, ok;

    snprintf(path, sizeof(path), "/proc/%u/mem", req->pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    ok = fd >= 0 && pread(fd, buf, len, req->data.args[2]) == (ssize_t)len;
    if (fd >= 0) {
        close(fd);
    }
    /* A caller that went away has no answer to wait for: say nothing */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) {
        return 0;
    }
    if (!ok) {
        fprintf(stderr, "vmsix-refuse: cannot read the argument of thread "
                "%u (%s): the call goes through\n", req->pid, strerror(errno));
    }
    return ok;
}

/* Whether an armed rule of @k applies to this call; @what describes it */
static int rule_applies(int listener, const struct seccomp_notif *req,
                        struct ioctl_kind *k, char *what, size_t len)
{
    if (k->cmd == VFIO_DEVICE_SET_IRQS) {
        struct vfio_irq_set set;

        if (!read_arg(listener, req, &set, sizeof(set))) {
            return 0;
        }
        snprintf(what, len, "index %u vectors %u+%u flags 0x%x", set.index,
                 set.start, set.count, set.flags);
        /* The kernel answers +N only to a call that asked for more */
        return set.index == VFIO_PCI_MSIX_IRQ_INDEX &&
               (set.flags & VFIO_IRQ_SET_ACTION_TRIGGER) && set.count &&
               (k->result < 0 || set.count > k->result);
    }
    if (k->cmd == KVM_IRQFD) {
        struct kvm_irqfd irqfd;

        if (!read_arg(listener, req, &irqfd, sizeof(irqfd))) {
            return 0;
        }
        snprintf(what, len, "gsi %u fd %d", irqfd.gsi, irqfd.fd);
        return !(irqfd.flags & KVM_IRQFD_FLAG_DEASSIGN);
    }
    snprintf(what, len, "routes");
    return 1;
}

static void answer(int listener)
{
    struct seccomp_notif req = { 0 };
    struct seccomp_notif_resp resp = { 0 };
    struct ioctl_kind *k;
    char what[96] = "";

    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
        /* the caller went away (a signal) before it was received */
        if (errno == ENOENT || errno == EINTR) {
            return;
        }
        die("SECCOMP_IOCTL_NOTIF_RECV");
    }
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    k = kind_of(req.data.args[1]);
    if (k && k->count &&
        rule_applies(listener, &req, k, what, sizeof(what))) {
        k->count--;
        k->refused++;
        resp.flags = 0;
        if (k->result < 0) {
            resp.error = k->result;
        } else {
            resp.val = k->result;
        }
        fprintf(stderr, "vmsix-refuse: %s (%s) of thread %u: %s\n",
                k->name, what, req.pid, k->result_name);
    }
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 &&
        errno != ENOENT) {
        die("SECCOMP_IOCTL_NOTIF_SEND");
    }
}

/*
 * "ok" or "bad" to whoever waits on the FIFO @ack.  Never blocks: while
 * this process waits, so does every filtered call of the program.
 */
static void send_ack(const char *ack, const char *word)
{
    int fd = open(ack, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "vmsix-refuse: nobody reads %s (%s)\n", ack,
                strerror(errno));
        return;
    }
    if (dprintf(fd, "%s\n", word) < 0) {
        fprintf(stderr, "vmsix-refuse: %s: %s\n", ack, strerror(errno));
    }
    close(fd);
}

/* Rules, one a line; each acknowledged on @ack once armed */
static void read_rules(int ctl, const char *ack)
{
    static char buf[256];
    static size_t used;
    char *nl;
    ssize_t n;

    n = read(ctl, buf + used, sizeof(buf) - 1 - used);
    if (n <= 0) {
        return;
    }
    used += n;
    buf[used] = 0;
    while ((nl = strchr(buf, '\n'))) {
        int ok;

        *nl = 0;
        ok = parse_rule(buf);
        send_ack(ack, ok ? "ok" : "bad");
        if (ok) {
            fprintf(stderr, "vmsix-refuse: armed: %s\n", buf);
        } else {
            fprintf(stderr, "vmsix-refuse: not a rule: '%s'\n", buf);
        }
        used -= nl + 1 - buf;
        memmove(buf, nl + 1, used + 1);
    }
    if (used == sizeof(buf) - 1) {
        fprintf(stderr, "vmsix-refuse: a rule longer than %zu bytes: "
                "dropped\n", sizeof(buf) - 2);
        send_ack(ack, "bad");
        used = 0;
    }
}

/*
 * What asks us to end is for PROGRAM, which we outlive to report: held
 * from before the fork, then read from a signalfd in the poll loop
 */
static void hold_termination(void)
{
    sigemptyset(&termination);
    sigaddset(&termination, SIGTERM);
    sigaddset(&termination, SIGINT);
    sigaddset(&termination, SIGHUP);
    sigprocmask(SIG_BLOCK, &termination, &program_mask);
}

static void forward_termination(int sigfd, int pidfd)
{
    struct signalfd_siginfo si;

    while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
        /* a pidfd, not a pid: the program may be gone and its pid reused */
        if (syscall(SYS_pidfd_send_signal, pidfd, si.ssi_signo, NULL, 0) < 0 &&
            errno != ESRCH) {
            die("pidfd_send_signal");
        }
    }
}

int main(int argc, char **argv)
{
    struct pollfd fds[4];
    int listener, status;
    unsigned i;
    pid_t pid;

    if (argc < 4) {
        fprintf(stderr, "usage: vmsix-refuse CONTROL ACK PROGRAM [ARG...]\n");
        return 125;
    }
    signal(SIGPIPE, SIG_IGN);
    /* read-write, so that the FIFO never reads as closed */
    fds[1].fd = open(argv[1], O_RDWR | O_CLOEXEC);
    if (fds[1].fd < 0) {
        die(argv[1]);
    }
    hold_termination();
    pid = start_program(argv + 3, &listener);
    fds[0].fd = listener;
    /* readable once the program has exited */
    fds[2].fd = syscall(SYS_pidfd_open, pid, 0);
    if (fds[2].fd < 0) {
        die("pidfd_open");
    }
    fds[3].fd = signalfd(-1, &termination, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fds[3].fd < 0) {
        die("signalfd");
    }
    fds[0].events = fds[1].events = fds[2].events = fds[3].events = POLLIN;
    for (;;) {
        if (poll(fds, 4, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("poll");
        }
        if (fds[0].revents & POLLIN) {
            answer(listener);
        }
        if (fds[1].revents & POLLIN) {
            read_rules(fds[1].fd, argv[2]);
        }
        if (fds[3].revents & POLLIN) {
            forward_termination(fds[3].fd, fds[2].fd);
        }
        if (fds[2].revents & POLLIN) {
            break;
        }
    }
    if (waitpid(pid, &status, 0) < 0) {
        die("waitpid");
    }
    for (i = 0; i < NR_KINDS; i++) {
        fprintf(stderr, "vmsix-refuse: %s refused %u times\n", kinds[i].name,
                kinds[i].refused);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
