#!/usr/bin/python3
"""The report of ./qemu-vmsix bench (vmsix/bench.sh).

usage: vmsix/bench-report.py RUNS OUT

RUNS holds, per payload run NAME, NAME.run (what bench.sh recorded),
NAME.results (the payload's VMSIX-RESULT and L1's PAYLOAD-WINDOW lines)
and NAME.meta (L1's kernel, vfio's NORESIZE, the fork's policy).  OUT
gets results.json, table.md and the plots (gnuplot, PNG and SVG).
"""

import json
import os
import subprocess
import sys

# Each figure: its key, its title, its unit, and how it comes from a run
FIGURES = [
    ("enable_unmask_all_ms", "enable and unmask every vector", "ms",
     lambda r: ns(r, "g-enable-unmask-all", "total_ns", 1e6)),
    ("enable_beyond_exits_ms", "enable and unmask every vector, beyond its "
     "exits (less one median emulated read per guest access)", "ms",
     lambda r: beyond_exits(r, "g-enable-unmask-all", "total_ns")),
    ("enable_all_ms", "enable every vector, raise each once", "ms",
     lambda r: ns(r, "a-vectors-%d" % r["vectors"], "enable_ns", 1e6)),
    ("pair_ms", "mask+unmask pair of one vector, average", "ms",
     lambda r: ns(r, "g-mask-unmask", "ns_per_pair", 1e6)),
    ("pair_p50_ms", "mask+unmask pair of one vector, median", "ms",
     lambda r: ns(r, "g-mask-unmask", "p50_ns", 1e6)),
    ("pair_p99_ms", "mask+unmask pair of one vector, 99th percentile", "ms",
     lambda r: ns(r, "g-mask-unmask", "p99_ns", 1e6)),
    ("pair_ioctls", "host ioctls per mask+unmask pair", "",
     lambda r: per_pair_ioctls(r)),
    ("exit_p50_us", "an emulated read (one exit to the QEMU measured), median",
     "us", lambda r: ns(r, "g-emulated-read", "p50_ns", 1e3)),
    ("pair_beyond_exits_ms", "mask+unmask pair beyond its two exits "
     "(the median pair less two median reads)", "ms",
     lambda r: beyond_exits(r, "g-mask-unmask", "p50_ns")),
    ("raise_avg_us", "raise to LPI, average", "us",
     lambda r: ns(r, "g-raise-latency", "avg_ns", 1e3)),
    ("raise_p50_us", "raise to LPI, median", "us",
     lambda r: ns(r, "g-raise-latency", "p50_ns", 1e3)),
    ("raise_p99_us", "raise to LPI, 99th percentile", "us",
     lambda r: ns(r, "g-raise-latency", "p99_ns", 1e3)),
    ("raise_max_us", "raise to LPI, maximum", "us",
     lambda r: ns(r, "g-raise-latency", "max_ns", 1e3)),
    ("raise_max_at_ms", "raise to LPI: when the slowest began, after the "
     "mask+unmask pairs ended", "ms",
     lambda r: ns(r, "g-raise-latency", "max_after_pairs_us", 1e3)),
    ("raise_pba_untraps", "raise to LPI: the fork's PBA untraps during the "
     "raises (its hold-off ending)", "",
     lambda r: window(r, "g-raise-latency", "pba_untrapped")),
    ("fmask_ms", "function mask set and cleared, every vector live", "ms",
     lambda r: ns(r, "g-function-mask-live", "ns_per_toggle", 1e6)),
    ("storm_slowdown", "a masked vector's storm: the vCPU's emulated-register "
     "accesses, quiet over during the storm", "x",
     lambda r: slowdown(r)),
    ("unmask1000_ms", "first unmask of vector 1000 while 0-7 fire", "ms",
     lambda r: ns(r, "d-grow", "unmask1000_ns", 1e6)),
]

# The plots: file name, title, y label, the figures drawn
PLOTS = [
    ("enable-unmask-all", "Enable and unmask every vector",
     "time (ms)", ["enable_unmask_all_ms"]),
    ("mask-unmask-pair", "Mask+unmask pair of one vector (median, 99th percentile, median beyond its two exits)",
     "time per pair (ms)", ["pair_p50_ms", "pair_p99_ms", "pair_beyond_exits_ms"]),
    ("raise-latency", "Raise to LPI (median, 99th percentile, maximum)",
     "latency (us)", ["raise_p50_us", "raise_p99_us", "raise_max_us"]),
    ("function-mask-live", "Function mask set and cleared, every vector live",
     "time per toggle (ms)", ["fmask_ms"]),
]


def ns(run, result, field, scale):
    r = run["results"].get(result)
    if r is None or field not in r or not r.get("pass"):
        return None
    return float("%.4g" % (int(r[field]) / scale))


def slowdown(run):
    # a measurement whether or not the unmask's count after it passed
    r = run["results"].get("n-masked-storm")
    if r is None or not int(r.get("storm_per_s", 0)):
        return None
    return float("%.3g" % (int(r["quiet_per_s"]) / int(r["storm_per_s"])))


def beyond_exits(run, result, field):
    """What RESULT's FIELD costs besides the exits that any QEMU pays for
    its guest accesses: the result's exits=, or a pair's two."""
    took = ns(run, result, field, 1)
    read = ns(run, "g-emulated-read", "p50_ns", 1)
    if took is None or read is None:
        return None
    exits = int(run["results"][result].get("exits", 2))
    return float("%.4g" % ((took - exits * read) / 1e6))


def window(run, name, count):
    w = run["windows"].get(name)
    return None if w is None or count not in w else w[count]


def per_pair_ioctls(run):
    w = run["windows"].get("g-mask-unmask")
    r = run["results"].get("g-mask-unmask")
    if w is None or r is None or not int(r.get("pairs", 0)):
        return None
    calls = sum(w.get(k, 0) for k in
                ("VFIO_DEVICE_SET_IRQS", "KVM_IRQFD", "KVM_SET_GSI_ROUTING"))
    return float("%.3g" % (calls / int(r["pairs"])))


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition(" ")
            if k:
                out[k] = v
    return out


def read_results(path):
    results, windows = {}, {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if words[:1] == ["VMSIX-RESULT"]:
                fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
                fields["pass"] = fields.get("pass") == "1"
                results[fields.get("name", "?")] = fields
            elif words[:1] == ["PAYLOAD-WINDOW"] and len(words) % 2 == 0:
                windows[words[1]] = {words[i]: int(words[i + 1])
                                     for i in range(2, len(words), 2)
                                     if words[i + 1].isdigit()}
    return results, windows


def load(runs_dir):
    runs = []
    for name in sorted(os.listdir(runs_dir)):
        if not name.endswith(".run"):
            continue
        base = os.path.join(runs_dir, name[:-4])
        info = read_kv(base + ".run")
        meta = read_kv(base + ".meta") if os.path.exists(base + ".meta") else {}
        results, windows = read_results(base + ".results")
        run = {
            "qemu": info["qemu"], "vectors": int(info["vectors"]),
            "status": info["status"], "seconds": int(info["seconds"]),
            "cap": int(info["cap"]), "kernel": meta.get("kernel", ""),
            "noresize": meta.get("noresize", ""),
            "alloc": meta.get("alloc", ""),
            "results": results, "windows": windows,
        }
        run["failed"] = sorted(k for k, v in results.items() if not v["pass"])
        run["figures"] = {key: get(run) for key, _, _, get in FIGURES}
        runs.append(run)
    return runs


# The fork first, then its like-for-like stock build, then the peers
ORDER = ["fork", "stock", "debian-10.0", "debian-11.1"]


def qemu_order(runs):
    seen = {r["qemu"] for r in runs}
    return sorted(seen, key=lambda q: (ORDER.index(q) if q in ORDER
                                       else len(ORDER), q))


def cell(run, key):
    if run is None:
        return "-"
    v = run["figures"].get(key)
    if v is not None:
        return "%g" % v
    if run["status"] == "capped":
        return "> cap"
    if run["status"] == "failed":
        return "failed"
    return "-"


def ratio(fork, other, key):
    if fork is None or other is None:
        return "-"
    a, b = fork["figures"].get(key), other["figures"].get(key)
    if a is None:
        return "-"
    if b is None:
        return "-"
    return "%.2f" % (a / b) if b else "-"


def table(runs):
    qemus = qemu_order(runs)
    sizes = sorted({r["vectors"] for r in runs})
    by = {(r["qemu"], r["vectors"]): r for r in runs}
    kernels = sorted({r["kernel"] for r in runs if r["kernel"]})
    lines = ["# qemu-vmsix bench", "",
             "L1 kernel: %s; each run capped at %d s." %
             (", ".join(kernels) or "?", runs[0]["cap"] if runs else 0),
             "Ratios are the fork's figure over the other QEMU's "
             "(below 1: the fork is faster or makes fewer calls).", ""]
    others = [q for q in qemus if q != "fork"]
    for key, title, unit, _ in FIGURES:
        if all(r["figures"].get(key) is None for r in runs):
            continue
        lines.append("## %s%s" % (title, " (%s)" % unit if unit else ""))
        lines.append("")
        head = ["vectors"] + qemus + ["fork/%s" % q for q in others
                                      if "fork" in qemus]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for n in sizes:
            row = [str(n)] + [cell(by.get((q, n)), key) for q in qemus]
            if "fork" in qemus:
                row += [ratio(by.get(("fork", n)), by.get((q, n)), key)
                        for q in others]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines.append("## Runs")
    lines.append("")
    lines.append("| QEMU | vectors | status | seconds | NORESIZE/policy "
                 "| scenarios failed |")
    lines.append("|---|---|---|---|---|---|")
    for r in sorted(runs, key=lambda r: (qemus.index(r["qemu"]),
                                         r["vectors"])):
        lines.append("| %s | %d | %s | %d | %s/%s | %s |" % (
            r["qemu"], r["vectors"], r["status"], r["seconds"],
            r["noresize"] or "-", r["alloc"] or "-",
            " ".join(r["failed"]) or "none"))
    return "\n".join(lines) + "\n"


def plots(runs, out):
    qemus = qemu_order(runs)
    titles = {key: title for key, title, _, _ in FIGURES}
    made = []
    for fname, title, ylabel, keys in PLOTS:
        series = []
        for key in keys:
            for q in qemus:
                pts = sorted((r["vectors"], r["figures"][key]) for r in runs
                             if r["qemu"] == q and
                             (r["figures"].get(key) or 0) > 0)
                if pts:
                    label = q if len(keys) == 1 else "%s, %s" % (
                        q, titles[key].split(", ")[-1])
                    series.append((label, pts))
        if not series:
            continue
        dat = os.path.join(out, fname + ".dat")
        with open(dat, "w") as f:
            for label, pts in series:
                f.write('"%s"\n' % label)
                for x, y in pts:
                    f.write("%d %s\n" % (x, y))
                f.write("\n\n")
        xs = [x for _, pts in series for x, _ in pts]
        ys = [y for _, pts in series for _, y in pts]
        body = ["set title '%s'" % title, "set xlabel 'MSI-X vectors'",
                "set xrange [%g:%g]" % (min(xs) / 2, max(xs) * 2),
                "set yrange [%g:%g]" % (min(ys) / 2, max(ys) * 2),
                "set ylabel '%s'" % ylabel, "set logscale xy",
                "set key top left", "set grid",
                "plot " + ", ".join(
                    "'%s' index %d with linespoints title columnheader(1)"
                    % (dat, i) for i in range(len(series)))]
        for term, ext in (("pngcairo size 800,500", "png"),
                          ("svg size 800,500", "svg")):
            script = ["set terminal %s" % term,
                      "set output '%s'" % os.path.join(out, fname + "." + ext)]
            subprocess.run(["gnuplot"], input="\n".join(script + body) + "\n",
                           text=True, check=True)
            made.append(fname + "." + ext)
    return made


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    runs_dir, out = sys.argv[1], sys.argv[2]
    runs = load(runs_dir)
    if not runs:
        sys.exit("bench-report: no runs in %s" % runs_dir)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"runs": runs}, f, indent=1, sort_keys=True)
    md = table(runs)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(md)
    made = plots(runs, out)
    sys.stdout.write(md)
    print("bench: %s/results.json, table.md, %s" % (out, ", ".join(made)))


if __name__ == "__main__":
    main()
