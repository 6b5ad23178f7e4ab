#!/usr/bin/env python3
"""Memory of pmtr over time, side by side (docs/BENCHMARKS.md, 2026-12-06).

    python3 bench/memprobe.py CONF ROUNDS T1,T2,... LABEL:BINARY...

Each round starts every variant at once, each from its own copy of its binary
(so that no page of a binary is shared between them, which would halve its
PSS) and with its config in a directory of its own (pmtr watches its config's
directory: files written next to it wake it up). At each time T (seconds after
the start) it prints the process's PSS, its anonymous memory and the PSS of
the mappings of its own binary, in kB; then it stops every variant with
SIGTERM. The order of the variants rotates from round to round; medians last.
Only the processes it started are signalled."""
import os, sys, time, signal, subprocess, statistics, shutil, tempfile


def sample(pid, binpath):
    tot = anon = binf = 0
    name = None
    for line in open(f'/proc/{pid}/smaps'):
        f = line.split()
        if '-' in f[0] and ':' not in f[0]:  # a mapping's header line
            name = f[5] if len(f) >= 6 else ''
        elif f[0] == 'Pss:':
            tot += int(f[1])
            if name == binpath:
                binf += int(f[1])
        elif f[0] == 'Anonymous:':
            anon += int(f[1])
    return tot, anon, binf


def main():
    conf, rounds, times = sys.argv[1], int(sys.argv[2]), [float(x) for x in sys.argv[3].split(',')]
    work = tempfile.mkdtemp(prefix='memprobe-')
    variants = []
    for v in sys.argv[4:]:
        label, b = v.split(':', 1)
        cp = os.path.join(work, 'bin-' + label)
        shutil.copy(b, cp)
        os.chmod(cp, 0o755)
        variants.append((label, cp))
    res = {label: {t: [] for t in times} for label, _ in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        procs = []
        for label, cp in order:
            d = tempfile.mkdtemp(prefix=f'conf-{label}-', dir=work)
            c = os.path.join(d, 'pmtr.conf')
            shutil.copy(conf, c)
            procs.append((label, cp, subprocess.Popen([cp, '-F', '-c', c], stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL)))
        t0 = time.monotonic()
        for t in times:
            time.sleep(max(0, t0 + t - time.monotonic()))
            for label, cp, p in procs:
                s = sample(p.pid, cp)
                res[label][t].append(s)
                print(f'round {r} t={t:g}s {label}: PSS {s[0]} anon {s[1]} binary {s[2]} kB', flush=True)
        for _, _, p in procs:
            p.send_signal(signal.SIGTERM)
        for _, _, p in procs:
            p.wait(30)
    shutil.rmtree(work)
    for label in res:
        for t in times:
            xs = res[label][t]
            print(f'MEDIAN {label} t={t:g}s: PSS {statistics.median(x[0] for x in xs):.0f} '
                  f'anon {statistics.median(x[1] for x in xs):.0f} binary {statistics.median(x[2] for x in xs):.0f} kB')


main()
