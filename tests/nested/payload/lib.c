/*
 * vmsix-payload: console, formatting, time, PSCI and memory helpers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "payload.h"

/*
 * Until the DTB names the UART, print on the virt machine's PL011, so
 * that a broken DTB is still reported.
 */
static uint64_t uart_base = 0x09000000;
static bool psci_smc;

void *memset(void *s, int c, size_t n)
{
    uint8_t *p = s;

    while (n && ((uintptr_t)p & 7)) {
        *p++ = c;
        n--;
    }
    if (n >= 8) {
        uint64_t v = (uint8_t)c * 0x0101010101010101UL;
        uint64_t *q = (uint64_t *)p;
        for (; n >= 8; n -= 8) {
            *q++ = v;
        }
        p = (uint8_t *)q;
    }
    while (n--) {
        *p++ = c;
    }
    return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;

    while (n--) {
        *dp++ = *sp++;
    }
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;

    for (; n; n--, x++, y++) {
        if (*x != *y) {
            return *x - *y;
        }
    }
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n]) {
        n++;
    }
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b || !*a) {
            return (uint8_t)*a - (uint8_t)*b;
        }
    }
    return 0;
}

const char *strstr(const char *h, const char *n)
{
    size_t l = strlen(n);

    for (; *h; h++) {
        if (!strncmp(h, n, l)) {
            return h;
        }
    }
    return NULL;
}

void uart_set_base(uint64_t base)
{
    uart_base = base;
}

static void uart_putc(char c)
{
    uint32_t tries;

    /* PL011 UARTFR.TXFF; bounded, a stuck UART must not hang us. */
    for (tries = 0; tries < 1000000; tries++) {
        if (!(readl(uart_base + 0x18) & (1 << 5))) {
            break;
        }
    }
    writel(uart_base, (uint8_t)c);
}

/* One character from the PL011 (UARTFR.RXFE clear), or -1 at @deadline. */
int uart_getc(uint64_t deadline)
{
    while (readl(uart_base + 0x18) & (1 << 4)) {
        if (past(deadline)) {
            return -1;
        }
    }
    return readl(uart_base) & 0xff;
}

void putstr(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            uart_putc('\r');
        }
        uart_putc(*s);
    }
}

struct outbuf {
    char *buf;
    size_t len, pos;
};

static void out(struct outbuf *o, char c)
{
    if (o->buf) {
        if (o->pos + 1 < o->len) {
            o->buf[o->pos++] = c;
        }
    } else {
        if (c == '\n') {
            uart_putc('\r');
        }
        uart_putc(c);
    }
}

static void vformat(struct outbuf *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        char tmp[24];
        int width = 0, n = 0;
        bool zero = false, lng = false, neg = false;
        uint64_t v;
        unsigned base = 10;

        if (*fmt != '%') {
            out(o, *fmt);
            continue;
        }
        fmt++;
        if (*fmt == '0') {
            zero = true;
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + *fmt++ - '0';
        }
        while (*fmt == 'l') {
            lng = true;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            int l;
            s = s ? s : "(null)";
            for (l = strlen(s); l < width; l++) {
                out(o, ' ');
            }
            while (*s) {
                out(o, *s++);
            }
            continue;
        }
        case 'c':
            out(o, va_arg(ap, int));
            continue;
        case '%':
            out(o, '%');
            continue;
        case 'd':
            if (lng) {
                int64_t s = va_arg(ap, int64_t);
                neg = s < 0;
                v = neg ? -(uint64_t)s : (uint64_t)s;
            } else {
                int s = va_arg(ap, int);
                neg = s < 0;
                v = neg ? -(int64_t)s : s;
            }
            break;
        case 'x':
            base = 16;
            /* fall through */
        case 'u':
            v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
            break;
        default:
            out(o, '%');
            out(o, *fmt);
            continue;
        }
        do {
            tmp[n++] = "0123456789abcdef"[v % base];
            v /= base;
        } while (v);
        if (neg) {
            tmp[n++] = '-';
        }
        for (; width > n; width--) {
            out(o, zero ? '0' : ' ');
        }
        while (n) {
            out(o, tmp[--n]);
        }
    }
}

void printf(const char *fmt, ...)
{
    struct outbuf o = { 0 };
    va_list ap;

    va_start(ap, fmt);
    vformat(&o, fmt, ap);
    va_end(ap);
}

void snprintf(char *buf, size_t len, const char *fmt, ...)
{
    struct outbuf o = { buf, len, 0 };
    va_list ap;

    va_start(ap, fmt);
    vformat(&o, fmt, ap);
    va_end(ap);
    if (len) {
        buf[o.pos] = 0;
    }
}

void psci_set_conduit(bool smc)
{
    psci_smc = smc;
}

/*
 * A PSCI call with up to three arguments.  SMCCC 1.0 lets the firmware
 * or hypervisor change x0-x17, so all of them are outputs or clobbered.
 */
static int64_t psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 asm("x0") = fn;
    register uint64_t x1 asm("x1") = a1;
    register uint64_t x2 asm("x2") = a2;
    register uint64_t x3 asm("x3") = a3;

    if (psci_smc) {
        asm volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : :
                     "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",
                     "x12", "x13", "x14", "x15", "x16", "x17", "memory");
    } else {
        asm volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : :
                     "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",
                     "x12", "x13", "x14", "x15", "x16", "x17", "memory");
    }
    return (int64_t)x0;
}

/* PSCI CPU_ON (SMC64): 0, or a PSCI error (-4: ALREADY_ON, ...) */
int64_t psci_cpu_on(uint64_t mpidr, uint64_t entry, uint64_t context)
{
    return psci_call(0xc4000003, mpidr, entry, context);
}

/* PSCI CPU_OFF: does not return when it works */
void psci_cpu_off(void)
{
    psci_call(0x84000002, 0, 0, 0);
    for (;;) {
        asm volatile("wfi");
    }
}

void power_off(void)
{
    putstr("vmsix-payload: powering off\n");
    /* After the call above: a local register variable survives no call. */
    register uint64_t x0 asm("x0") = 0x84000008;    /* PSCI SYSTEM_OFF */

    if (psci_smc) {
        asm volatile("smc #0" : "+r"(x0) : : "memory");
    } else {
        asm volatile("hvc #0" : "+r"(x0) : : "memory");
    }
    /* PSCI returned or is missing: there is nothing left to do. */
    for (;;) {
        asm volatile("wfi");
    }
}

void die(const char *fmt, ...)
{
    struct outbuf o = { 0 };
    va_list ap;

    putstr("vmsix-payload: FATAL: ");
    va_start(ap, fmt);
    vformat(&o, fmt, ap);
    va_end(ap);
    putstr("\nVMSIX-RESULT name=fatal pass=0\n");
    power_off();
}

void exception_report(uint64_t idx, uint64_t esr, uint64_t elr, uint64_t far)
{
    die("unexpected exception %lu: ESR %lx ELR %lx FAR %lx",
        idx, esr, elr, far);
}

uint64_t now(void)
{
    isb();
    return read_sysreg(cntvct_el0);
}

uint64_t ticks_per_sec(void)
{
    return read_sysreg(cntfrq_el0);
}

uint64_t ticks_to_ns(uint64_t t)
{
    uint64_t f = ticks_per_sec();

    return t / f * 1000000000UL + t % f * 1000000000UL / f;
}

uint64_t deadline_in_ms(uint64_t ms)
{
    return now() + ticks_per_sec() * ms / 1000;
}

bool past(uint64_t deadline)
{
    watchdog_check();
    return now() >= deadline;
}

/*
 * The global watchdog: every wait goes through past(), so a run that
 * takes longer than this in total stops with a message, whatever it is
 * waiting for.
 */
static uint64_t watchdog_deadline;

void watchdog_set(uint64_t seconds)
{
    watchdog_deadline = now() + ticks_per_sec() * seconds;
}

void watchdog_check(void)
{
    if (watchdog_deadline && now() >= watchdog_deadline) {
        watchdog_deadline = 0;
        die("watchdog: the run took too long");
    }
}

/*
 * Tables for the GIC and counters live in one pool in the BSS, which the
 * Image header's image_size covers, so QEMU places the DTB beyond it.
 */
static uint8_t pool[8 << 20] __attribute__((aligned(65536)));
static size_t pool_used;

void *alloc(size_t size, size_t align)
{
    size_t start = ALIGN_UP(pool_used, align);

    if (start + size > sizeof(pool)) {
        die("out of memory: %lu bytes wanted, %lu left", size,
            sizeof(pool) - pool_used);
    }
    pool_used = start + size;
    return pool + start;
}

/*
 * Make CPU writes visible to a GIC that may not snoop the caches (it
 * tells us through the shareability it accepts), and drop stale lines
 * before we read what it wrote.
 */
void dcache_clean_inval(const void *p, size_t len)
{
    uint64_t ctr = read_sysreg(ctr_el0);
    uint64_t line = 4UL << ((ctr >> 16) & 0xf);
    uint64_t a = (uintptr_t)p & ~(line - 1);

    for (; a < (uintptr_t)p + len; a += line) {
        asm volatile("dc civac, %0" : : "r"(a) : "memory");
    }
    dsb(sy);
}

void vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
    struct outbuf o = { buf, len, 0 };

    vformat(&o, fmt, ap);
    if (len) {
        buf[o.pos] = 0;
    }
}
