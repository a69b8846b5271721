/*
 * vmsix-ivshmem-server: an ivshmem server for one client, run in L1 of
 * the payload's ivshmem run (docs/devel/vmsix-payload.rst), which holds
 * some of the client's own eventfds back: QEMU's contrib/ivshmem-server
 * sends them all at once, and the run needs eventfds that arrive after
 * the guest has enabled MSI-X, and vectors that never get one.
 *
 * usage: vmsix-ivshmem-server SOCKET CONTROL NOW LATER [shared]
 *   Listens on the Unix socket SOCKET and serves the first client that
 *   connects as peer 0 (docs/specs/ivshmem-spec.rst): protocol version,
 *   its ID, 1 MiB of shared memory, and NOW eventfds for its vectors
 *   0..NOW-1.  Then each line read from the FIFO CONTROL sends one more,
 *   up to LATER more; "SENT n" on stdout says that the n-th went out.
 *   With "shared", each eventfd goes to two vectors in a row, as a
 *   broken server might send it: KVM takes one irqfd per eventfd.
 *   It returns once it listens, and serves in the background until the
 *   client closes the connection.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SHM_SIZE (1 << 20)      /* a power of two: it becomes BAR 2 */
#define PEER_ID 0

static void die(const char *what)
{
    fprintf(stderr, "vmsix-ivshmem-server: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* One message: a little-endian int64, with @fd attached unless it is -1. */
static void send_msg(int sock, int64_t value, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = { 0 };
    struct iovec iov;
    int64_t le = htole64(value);

    iov.iov_base = &le;
    iov.iov_len = sizeof(le);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        struct cmsghdr *c;

        memset(cbuf, 0, sizeof(cbuf));
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    if (sendmsg(sock, &msg, 0) != sizeof(le)) {
        die("sendmsg");
    }
}

static bool shared;

static void send_eventfd(int sock)
{
    static int fd = -1;

    if (fd >= 0) {
        /* The second vector of a shared one */
        send_msg(sock, PEER_ID, fd);
        close(fd);
        fd = -1;
        return;
    }
    fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0) {
        die("eventfd");
    }
    send_msg(sock, PEER_ID, fd);
    if (!shared) {
        /* The client has its own reference now. */
        close(fd);
        fd = -1;
    }
}

static int accept_client(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int lsock, sock;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        die(path);
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lsock, 1) < 0) {
        die(path);
    }
    /* Return when a client can connect: the caller starts it next. */
    fflush(stdout);
    switch (fork()) {
    case -1:
        die("fork");
    case 0:
        break;
    default:
        printf("LISTENING %s\n", path);
        exit(0);
    }
    sock = accept(lsock, NULL, NULL);
    if (sock < 0) {
        die("accept");
    }
    close(lsock);
    return sock;
}

int main(int argc, char **argv)
{
    int sock, shm, ctl, i, now, later;
    ssize_t n;
    char c;

    if (argc < 5 || argc > 6 || (argc == 6 && strcmp(argv[5], "shared"))) {
        fprintf(stderr, "usage: %s SOCKET CONTROL NOW LATER [shared]\n",
                argv[0]);
        return 2;
    }
    shared = argc == 6;
    now = atoi(argv[3]);
    later = atoi(argv[4]);
    shm = memfd_create("vmsix-ivshmem", MFD_CLOEXEC);
    if (shm < 0 || ftruncate(shm, SHM_SIZE) < 0) {
        die("shared memory");
    }
    /* Opened read-write, so that it never sees end of file. */
    ctl = open(argv[2], O_RDWR | O_CLOEXEC);
    if (ctl < 0) {
        die(argv[2]);
    }

    sock = accept_client(argv[1]);
    send_msg(sock, 0, -1);              /* protocol version */
    send_msg(sock, PEER_ID, -1);        /* the client's ID */
    send_msg(sock, -1, shm);
    for (i = 0; i < now; i++) {
        send_eventfd(sock);
    }
    printf("SENT %d\n", now);
    fflush(stdout);

    for (i = 0; i < later; i++) {
        /* One line, one eventfd */
        do {
            if (read(ctl, &c, 1) != 1) {
                die(argv[2]);
            }
        } while (c != '\n');
        send_eventfd(sock);
        printf("SENT %d\n", now + i + 1);
        fflush(stdout);
    }

    /*
     * Keep the connection until the client goes: closing it would be a
     * protocol error.
     */
    do {
        n = read(sock, &c, 1);
    } while (n > 0);
    return 0;
}
