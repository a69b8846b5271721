#!/usr/bin/env python3
# The checks of the payload's libvirt runs (tests/nested/payload/nested.sh
# libvirt, payload/l1-libvirt.sh), from what L1 recorded in LOG.
#
# usage: check-libvirt.py LOG FLAVOR VECTORS POLICY L2 [REFUSE]
#   L2       payload: the payload's a and b on an msix-testdev (ua-td0);
#            e1000e: the nested harness's Linux, which takes a DHCP
#            lease over an e1000e (ua-nic0)
#   REFUSE   the run's VMSIX_PAYLOAD_REFUSE: MARK/KVM_IRQFD/1/ERRNO, one
#            irqfd refused to the QEMU under test (payload only)
#
# Every run: libvirt defined and started the domain with the device as
# vfio-pci under its alias, gave the device back to its L1 driver at virsh
# destroy (none in L1: no driver before, vfio-pci while the domain ran,
# none after), QEMU printed nothing but a missing reset, the refusal's
# report and its end, libvirtd had as many open files after the domain
# as before its start, and virsh qemu-monitor-event listened from the
# domain's resume on.
#
# payload: scenario a's interrupts arrived (L1's vfio-msix counts rose by
# exactly the raises, each vector once a round) and passed in L2.  On the
# fork, x-query-msix through virsh qemu-monitor-command shows every vector
# in bypass with a KVM route and a DeviceID, QEMU delivering none of them
# itself, and no MSIX_* event came; between the queries at b and at end,
# b's vector 3 was masked, raised k times and unmasked: L1 received one
# host interrupt more than the fork latched on it and none on any other
# vector, the fork replayed one MSI at the unmask, detached and attached
# its irqfd once, and no other vector's counters moved.  With a refused
# irqfd, one vector is in userspace instead, QEMU delivered its raises,
# and virsh saw one MSIX_VECTOR_FALLBACK for it with the host's reason.
#
# e1000e: L2 got its lease; L1's host interrupts on the device rose from
# before the traffic to after it; on the fork, the vectors Linux uses are
# in bypass with a KVM route and a DeviceID, QEMU delivered nothing and
# no MSIX_* event came.
#
# On stock the query is absent (CommandNotFound): recorded, not failed.

import json
import re
import sys

log, flavor, nvec, policy, l2 = sys.argv[1:6]
refuse = sys.argv[6] if len(sys.argv) > 6 else ''
nvec = int(nvec)
ROUNDS, BVEC = 2, 3     # the payload's defaults: a's rounds, b's vector
ERRNO_TEXT = {'EBUSY': 'Device or resource busy', 'ENOSPC': 'No space left on device',
              'ENOMEM': 'Cannot allocate memory', 'EINVAL': 'Invalid argument',
              'ENODEV': 'No such device'}
alias = 'ua-nic0' if l2 == 'e1000e' else 'ua-td0'
lines = open(log, errors='replace').read().split('\n')
bad = []


def check(ok, what):
    print(('libvirt: ' if ok else 'libvirt: FAIL ') + what)
    if not ok:
        bad.append(what)


def tagged(prefix):
    out = {}
    for line in lines:
        if line.startswith(prefix + ' '):
            k, _, v = line[len(prefix) + 1:].partition(' ')
            out.setdefault(k, []).append(v)
    return out


def done():
    sys.exit(1 if bad else 0)


refused_ioctl = refused_count = refused_errno = None
if refuse:
    # payload/nested.sh allows no other rule for a libvirt run
    m = re.match(r'^[a-z-]+/(KVM_IRQFD)/(1)/(E[A-Z]+)$', refuse)
    if not m or l2 != 'payload' or m.group(3) not in ERRNO_TEXT:
        sys.exit("libvirt: FAIL not a libvirt refusal: %s" % refuse)
    refused_ioctl, refused_count, refused_errno = m.groups()

# --- libvirt's part, every run
l1 = [line for line in lines if line.startswith('PAYLOAD-L1 ')]
for line in l1:
    if ' FAIL ' in line or line.startswith('PAYLOAD-L1 libvirt'):
        print(line)
check('PAYLOAD-L1 done 0' in l1, "L1 completed (virsh define, start, destroy)")
st = tagged('LIBVIRT-DOMSTATE').get('destroyed', ['?'])[0]
check(st == 'shut off', "domain state after virsh destroy: %s" % st)
drv = {k: v[0] for k, v in tagged('LIBVIRT-DRIVER').items()}
check(drv.get('before') == 'none' and drv.get('running') == 'vfio-pci' and
      drv.get('destroyed') == drv.get('before'),
      "device driver before/running/after destroy: %s/%s/%s" %
      (drv.get('before'), drv.get('running'), drv.get('destroyed')))
ov = tagged('LIBVIRT-OVERRIDE').get('destroyed', ['?'])[0]
check(ov in ('(null)', ''), "driver_override after destroy: %s" % ov)
fds = {k: v[0] for k, v in tagged('LIBVIRT-FDS').items()}
check(fds.get('defined') is not None and fds.get('destroyed') == fds.get('defined'),
      "libvirtd open files defined/running/destroyed: %s/%s/%s" %
      (fds.get('defined'), fds.get('running'), fds.get('destroyed')))
cmd = ' '.join(v for vs in tagged('LIBVIRT-CMDLINE').values() for v in vs) + \
    ' '.join(line for line in lines if line.startswith('LIBVIRT-QEMU-LOG ') and 'vfio-pci' in line)
check('vfio-pci' in cmd and alias in cmd, "QEMU got the hostdev as vfio-pci, id %s" % alias)

# QEMU's own lines in the domain's log: that the device has no reset
# (msix-testdev), the fork's report of the refusal, and the end libvirt
# gave it
REPORT = (r'[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: vector [0-9]+: cannot attach a KVM '
          r'irqfd to GSI [0-9]+: %s; its interrupts, and those of any vector refused later, '
          r'go through QEMU$' % re.escape(ERRNO_TEXT.get(refused_errno or '', '?')))
said = [m.group(1) for m in (re.match(r'^LIBVIRT-QEMU-LOG \S+Z qemu-system-aarch64: (.*)$', line)
                             for line in lines) if m]
# (under vmsix-refuse, which passes libvirt's SIGTERM on)
ENDED = r'terminating on signal (9|15) from pid [0-9]+ \(%s\)$' % (
    '/bin/vmsix-refuse' if refuse else 'libvirtd')
allowed = r'vfio: Cannot reset device [0-9a-f:.]+, no available reset mechanism\.$|' + ENDED
if refuse and flavor == 'fork':
    allowed += '|' + REPORT
other = [x for x in said if not re.match(allowed, x)]
check(said and not other, "QEMU's lines in the domain's log: %d, unexpected: %s" %
      (len(said), other or 'none'))
check(any(re.match(ENDED, x) for x in said), "QEMU said it was ended by %s" %
      ('vmsix-refuse, passing libvirt\'s signal on' if refuse else 'libvirtd'))
if refuse:
    # vmsix-refuse's own lines: the rule armed, the call refused, its totals
    mine = [line[len('LIBVIRT-QEMU-LOG vmsix-refuse: '):] for line in lines
            if line.startswith('LIBVIRT-QEMU-LOG vmsix-refuse: ')]
    odd = [x for x in mine if not re.match(
        r'armed: |[A-Z_]+ \(gsi [0-9]+ fd [0-9]+\) of thread [0-9]+: E[A-Z]+$|'
        r'[A-Z_]+ refused [0-9]+ times$', x)]
    check(not odd, "vmsix-refuse's lines in the domain's log: %d, unexpected: %s" %
          (len(mine), odd or 'none'))
    hits = [m.group(1) for m in (re.match(r'%s refused ([0-9]+) times$' % refused_ioctl, x)
                                 for x in mine) if m]
    check(hits == [refused_count], "the host refused %s %s times (want %s)" %
          (refused_ioctl, ','.join(hits) or 'no', refused_count))
    if flavor == 'fork':
        reports = [x for x in said if re.match(REPORT, x)]
        check(len(reports) == 1, "the fork reported the refused irqfd %d times (want 1)" %
              len(reports))

# virsh qemu-monitor-event: "event NAME at SECONDS.MICROS for domain
# 'DOMAIN': DATA", DATA the event's JSON data or <null>
events = []
for line in lines:
    m = re.match(r"^LIBVIRT-EVENT event (\S+) at [0-9.]+ for domain '[^']*': (.*)$", line)
    if m:
        try:
            data = json.loads(m.group(2))
        except ValueError:
            data = None
        events.append((m.group(1), data))
names = [e[0] for e in events]
# L1 went on only once virsh had printed the probes' RESUME or STOP: that
# they parse here is what makes "no MSIX_* event" below mean something
check(names[:1] in (['RESUME'], ['STOP']),
      "virsh qemu-monitor-event's lines parse, a probe's first: %d events, %s" %
      (len(events), ' '.join(sorted(set(names))) or 'none'))
msix_events = [e for e in events if e[0].startswith('MSIX_')]

res = {}
for line in lines:
    m = re.match(r'^L2\| VMSIX-RESULT name=(\S+) pass=(\S+)', line)
    if m:
        res[m.group(1)] = m.group(2)
cmds = {k: v[0] for k, v in tagged('LIBVIRT-COMMANDS').items()}
irqs = {k: [int(x) for x in v[0].split()] for k, v in tagged('LIBVIRT-IRQS').items()}


def query(tag):
    text = '\n'.join(tagged('LIBVIRT-QUERY').get(tag, []))
    try:
        return json.loads(text)
    except ValueError:
        return {'unparsed': text}


def record_stock(tag):
    q = query(tag)
    err = q.get('error') if isinstance(q.get('error'), dict) else {}
    print("libvirt: %s: x-query-msix through virsh: %s (%s); query-commands lists it: %s"
          " (recorded, not checked)" % (flavor, err.get('class') or 'a reply',
                                        err.get('desc', ''), cmds.get(tag)))
    print("libvirt: %s: QMP events through virsh: %s (recorded)" %
          (flavor, ' '.join(names) or 'none'))


def device(tag):
    q = query(tag)
    r = q.get('return')
    if not (isinstance(r, list) and len(r) == 1):
        check(False, "x-query-msix at %s: one device, got %s" % (tag, str(q)[:300]))
        done()
    return r[0]


def check_device(d, nvectors):
    check(d['id'] == alias and d['driver'] == 'vfio-pci' and d['mode'] == 'msix' and
          d['engine'] is True and d['vectors'] == nvectors,
          "device %s %s mode %s engine %s vectors %d" %
          (d['id'], d['driver'], d['mode'], d['engine'], d['vectors']))
    h = d.get('host', {})
    check(h.get('policy') == policy and (policy != 'table' or h.get('vectors') == nvectors),
          "host policy %s, %s host vectors" % (h.get('policy'), h.get('vectors')))


def check_bypass(tag, vl):
    check(all(v.get('masked') is False and v.get('virq', -1) >= 0 and 'device-id' in v
              for v in vl),
          "at %s, vectors %s unmasked with a KVM route and a DeviceID (vector %d: virq %s, "
          "device-id %s)" % (tag, [v['vector'] for v in vl], vl[0]['vector'] if vl else -1,
                             vl[0].get('virq') if vl else None,
                             vl[0].get('device-id') if vl else None))


# --- e1000e: the lease, L1's interrupts, the query
if l2 == 'e1000e':
    check(any('NESTED-L2 dhcp ok' in line for line in lines if line.startswith('L2| ')),
          "L2 got a DHCP lease over the e1000e")
    if not all(t in irqs and len(irqs[t]) == nvec for t in ('before', 'after')):
        check(False, "L1's vfio-msix counts before and after the traffic")
        done()
    rise = [y - x for x, y in zip(irqs['before'], irqs['after'])]
    check(sum(rise) > 0, "L1's host interrupts per vector from before to after: %s" % rise)
    if flavor != 'fork':
        record_stock('after')
        done()
    check(cmds.get('after') == '1', "query-commands lists x-query-msix")
    d = device('after')
    check_device(d, nvec)
    live = [v for v in d['vector-list'] if v['state'] == 'bypass']
    rest = sorted(set(v['state'] for v in d['vector-list'] if v['state'] != 'bypass'))
    # e1000e's Linux driver asks for three vectors: receive, transmit, other
    check([v['vector'] for v in live] == [0, 1, 2] and set(rest) <= {'masked', 'unused'},
          "at after, vectors in bypass: %s, the others %s" % ([v['vector'] for v in live], rest))
    check_bypass('after', live)
    # a lease is a packet each way: the receive and transmit vectors fire
    check(rise[0] > 0 and rise[1] > 0 and
          all(rise[n] == 0 for n in range(nvec) if n not in [v['vector'] for v in live]),
          "L1's host interrupts rose on receive and transmit (0, 1), and on no vector out "
          "of bypass: %s" % rise)
    t = d['totals']
    check(t['delivered'] == 0 and t['fallbacks'] == 0 and t['failures'] == 0,
          "QEMU delivered %d itself, %d fallbacks, %d failures" %
          (t['delivered'], t['fallbacks'], t['failures']))
    check(not msix_events, "MSIX_* events: %s" % (' '.join(e[0] for e in msix_events) or 'none'))
    done()

# --- payload: scenarios a and b
check(res.get('a-vectors-%d' % nvec) == '1', "payload a-vectors-%d: %s" %
      (nvec, res.get('a-vectors-%d' % nvec)))
if not all(t in irqs and len(irqs[t]) == nvec for t in ('a', 'b', 'end')):
    check(False, "L1's vfio-msix counts at a, b and end")
    done()
da = [y - x for x, y in zip(irqs['a'], irqs['b'])]
db = [y - x for x, y in zip(irqs['b'], irqs['end'])]
check(all(d == ROUNDS for d in da),
      "L1's host interrupts per vector in a: %s (want %d each)" % (sorted(set(da)), ROUNDS))

if flavor != 'fork':
    record_stock('b')
    print("libvirt: %s: host interrupts on vector %d in b: %d, on the others: %d (recorded)" %
          (flavor, BVEC, db[BVEC], sum(db) - db[BVEC]))
    done()

check(cmds.get('b') == '1' and cmds.get('end') == '1', "query-commands lists x-query-msix")
b, e = device('b'), device('end')
check_device(b, nvec)
vl = b['vector-list']
served = [v['vector'] for v in vl if v['state'] == 'userspace']
want_served = 1 if refuse else 0
check(len(vl) == nvec and len(served) == want_served and BVEC not in served and
      all(v['state'] in ('bypass', 'userspace') for v in vl),
      "at b, %d vectors, %d in userspace (want %d: %s), states %s" %
      (len(vl), len(served), want_served, served, sorted(set(v['state'] for v in vl))))
check_bypass('b', [v for v in vl if v['state'] == 'bypass'])
for tag, d in (('b', b), ('end', e)):
    t = d['totals']
    want = (ROUNDS * len(served), len(served), len(served))
    check((t['delivered'], t['fallbacks'], t['failures']) == want,
          "at %s, QEMU delivered %d itself, %d fallbacks, %d failures (want %d, %d, %d)" %
          ((tag, t['delivered'], t['fallbacks'], t['failures']) + want))
vb = {v['vector']: v for v in vl}
ve = {v['vector']: v for v in e['vector-list']}
for n in served:
    c = ve[n]['counters']
    check(ve[n]['state'] == 'userspace' and c['delivered'] == ROUNDS and c['coalesced'] == 0 and
          c['fallbacks'] == 1 and c['restores'] == 0,
          "at end, vector %d in %s: QEMU delivered %d of its %d raises, coalesced %d, "
          "fallbacks %d, restores %d" % (n, ve[n]['state'], c['delivered'], ROUNDS,
                                         c['coalesced'], c['fallbacks'], c['restores']))
if refuse:
    fb = [ev for ev in msix_events if ev[0] == 'MSIX_VECTOR_FALLBACK']
    d = fb[0][1] if len(fb) == 1 and isinstance(fb[0][1], dict) else {}
    check(len(fb) == 1 and len(msix_events) == 1 and d.get('device') == alias and
          d.get('qom-path') == '/machine/peripheral/' + alias and
          [d.get('vector')] == served and ERRNO_TEXT.get(refused_errno, '?') in d.get('reason', ''),
          "virsh qemu-monitor-event: %d MSIX_* events (want one MSIX_VECTOR_FALLBACK): %s" %
          (len(msix_events), json.dumps(d) if d else ' '.join(ev[0] for ev in msix_events)))
else:
    check(not msix_events, "MSIX_* events: %s" % (' '.join(ev[0] for ev in msix_events) or 'none'))
c0, c1 = vb[BVEC]['counters'], ve[BVEC]['counters']
diff = {k: c1[k] - c0[k] for k in c0}
print("libvirt: vector %d's counters from b to end: %s" %
      (BVEC, ' '.join('%s +%d' % (k, v) for k, v in diff.items() if v)))
check(ve[BVEC]['state'] == 'bypass' and ve[BVEC].get('pending') is False and
      ve[BVEC].get('masked') is False, "at end, vector %d in %s, pending %s" %
      (BVEC, ve[BVEC]['state'], ve[BVEC].get('pending')))
# k raises while masked reach L1 as 1 to k host interrupts (raises that
# come while L1 has not taken the last one merge in L0's LPI), each
# latched; one MSI at the unmask, and the raise after it on the irqfd
check(diff['latched'] >= 1 and diff['latched'] - diff['coalesced'] == 1 and
      diff['replayed'] == 1 and diff['irqfd-detaches'] == 1 and
      diff['irqfd-attaches'] == 1 and diff['delivered'] == 0,
      "vector %d: latched +%d, coalesced +%d, replayed +%d, irqfd detaches +%d, attaches +%d "
      "(want >= 1, latched - 1, 1, 1, 1)" % (BVEC, diff['latched'], diff['coalesced'],
                                             diff['replayed'], diff['irqfd-detaches'],
                                             diff['irqfd-attaches']))
check(db[BVEC] == diff['latched'] + 1 and sum(db) == db[BVEC],
      "L1's host interrupts from b to end: %d on vector %d (latched + 1: %d), %d on the others"
      % (db[BVEC], BVEC, diff['latched'] + 1, sum(db) - db[BVEC]))
moved = [n for n in vb if n != BVEC and vb[n]['counters'] != ve[n]['counters']]
check(not moved, "no other vector's counters moved (moved: %s)" % moved)
check(res.get('b-vector-mask') == '1', "payload b-vector-mask: %s" % res.get('b-vector-mask'))
done()
