#!/usr/bin/env python3
"""Cold start and the supervisor's own CPU, side by side (docs/BENCHMARKS.md, 2026-12-07).

    unshare -p -f --mount-proc python3 bench/coldcpu.py N_JOBS ROUNDS BINARY...

Measures the start as ../shared/tools/coldstart.py does (an N-job config of
/bin/sleep jobs with out and err /dev/null; `BINARY -F -c CONF`; time until N
processes named sleep exist, /proc scanned every 20 ms; binaries interleaved
round by round), and at that moment the CPU the supervisor has used: the sum
over its threads of /proc/PID/task/TID/schedstat (time on a CPU, in ns), which
is finer than utime and stime (10 ms ticks) and leaves out the jobs' own
start-up. Then SIGTERM, and the sleeps left are killed: run it in a PID
namespace of its own, where every sleep is the run's. Medians last."""
import os, sys, time, signal, subprocess, statistics, tempfile


def sleeps():
    n = 0
    for e in os.scandir('/proc'):
        if e.name.isdigit():
            try:
                with open(f'/proc/{e.name}/comm') as f:
                    n += f.read().strip() == 'sleep'
            except OSError:
                pass
    return n


def cpu_ms(pid):
    total = 0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e6


def run(binary, n, conf):
    t0 = time.monotonic()
    p = subprocess.Popen([binary, '-F', '-c', conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while sleeps() < n and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    ms = (time.monotonic() - t0) * 1000
    cpu = cpu_ms(p.pid)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    for e in os.scandir('/proc'):
        if e.name.isdigit() and int(e.name) not in (1, os.getpid()):
            try:
                if open(f'/proc/{e.name}/comm').read().strip() == 'sleep':
                    os.kill(int(e.name), signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.5)
    return ms, cpu


def main():
    n, rounds, bins = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    res = {b: [] for b in bins}
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, 'c.conf')
        with open(conf, 'w') as f:
            for i in range(n):
                f.write(f'job {{\n  name j{i}\n  cmd /bin/sleep {3000000 + i}\n  out /dev/null\n  err /dev/null\n}}\n')
        for _ in range(rounds):
            for b in bins:
                ms, cpu = run(b, n, conf)
                res[b].append((ms, cpu))
                print(f'{b} {n} jobs: {ms:.0f} ms, CPU {cpu:.1f} ms', flush=True)
    for b in bins:
        print(f'MEDIAN {b}: start {statistics.median(m for m, _ in res[b]):.0f} ms, '
              f'CPU {statistics.median(c for _, c in res[b]):.1f} ms')


if __name__ == '__main__':
    main()
