#!/usr/bin/env python3
"""The load of scripts/frames-soak.sh: replays the inputs of the frames fuzz corpus
(tests/fuzz/fuzz_frames.c: each input is the bytes one client writes on the socket, frames of
a 4-byte big-endian length then a msgpack body, no prefix) against a running cacheserverd,
each over a fresh connection, in a loop, at most RATE inputs a second. Replies are read and
thrown away; the server closing a connection (a bad frame, a frame over max_frame_size) is
normal. Every connection has a deadline, so nothing blocks for ever.

Every INTERVAL seconds it prints and appends to SAMPLES one line: elapsed s, inputs sent, the
server's VmRSS (KiB), its threads and open fds (/proc/PID), and from STATS its items and
namespaces, then RssAnon and RssFile (KiB); the printed line has the open connections too. Stops after SECONDS, or at once (exit 3) when the
server process is gone.

  frames-replay.py --socket S --pid P --corpus DIR --seconds N [--rate R] [--interval I]
                   [--samples FILE]
  frames-replay.py --verdict SAMPLES [--base-s 600]   (see verdict())
"""
import argparse
import os
import socket
import struct
import sys
import time


# ---- a small msgpack reader (enough for a STATS reply) ----

def _mp(b, i):
    t = b[i]
    i += 1
    if t <= 0x7f:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8f:
        return _mp_map(b, i, t & 0x0f)
    if 0x90 <= t <= 0x9f:
        return _mp_arr(b, i, t & 0x0f)
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i:i + n].decode('utf-8', 'replace'), i + n
    simple = {0xc0: None, 0xc2: False, 0xc3: True}
    if t in simple:
        return simple[t], i
    fixed = {0xcc: '>B', 0xcd: '>H', 0xce: '>I', 0xcf: '>Q', 0xd0: '>b', 0xd1: '>h',
             0xd2: '>i', 0xd3: '>q', 0xca: '>f', 0xcb: '>d'}
    if t in fixed:
        f = fixed[t]
        n = struct.calcsize(f)
        return struct.unpack_from(f, b, i)[0], i + n
    lens = {0xd9: ('>B', 'str'), 0xda: ('>H', 'str'), 0xdb: ('>I', 'str'),
            0xc4: ('>B', 'bin'), 0xc5: ('>H', 'bin'), 0xc6: ('>I', 'bin'),
            0xdc: ('>H', 'arr'), 0xdd: ('>I', 'arr'), 0xde: ('>H', 'map'), 0xdf: ('>I', 'map')}
    if t in lens:
        f, kind = lens[t]
        n = struct.unpack_from(f, b, i)[0]
        i += struct.calcsize(f)
        if kind == 'str':
            return b[i:i + n].decode('utf-8', 'replace'), i + n
        if kind == 'bin':
            return bytes(b[i:i + n]), i + n
        if kind == 'arr':
            return _mp_arr(b, i, n)
        return _mp_map(b, i, n)
    raise ValueError('msgpack type 0x%02x not handled' % t)


def _mp_arr(b, i, n):
    out = []
    for _ in range(n):
        v, i = _mp(b, i)
        out.append(v)
    return out, i


def _mp_map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = _mp(b, i)
        v, i = _mp(b, i)
        out[k] = v
    return out, i


def _recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError('closed')
        buf += chunk
    return buf


def stats(sock_path, timeout=5.0):
    """STATS (op 17) as a dict, or None when the server does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sock_path)
            body = b'\x92\x11\x01'  # [17, 1]
            s.sendall(struct.pack('>I', len(body)) + body)
            n = struct.unpack('>I', _recv_exact(s, 4))[0]
            reply, _ = _mp(_recv_exact(s, n), 0)
            if len(reply) >= 3 and reply[1] == 0 and isinstance(reply[2], dict):
                return reply[2]
    except (OSError, ValueError, struct.error, IndexError):
        pass
    return None


# ---- /proc ----

def proc_status(pid):
    """VmRSS, its anonymous part (heap, malloc's arenas, stacks) and its file-backed part
    (the binary and its libraries, paged in as code runs for the first time), all KiB, and
    the thread count."""
    want = {'VmRSS:': 0, 'RssAnon:': 0, 'RssFile:': 0, 'Threads:': 0}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            p = line.split()
            if p and p[0] in want:
                want[p[0]] = int(p[1])
    return want['VmRSS:'], want['RssAnon:'], want['RssFile:'], want['Threads:']


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[-1][0] not in 'ZX'
    except OSError:
        return False


# ---- one input ----

def replay_one(sock_path, data, deadline_s):
    """Send one input on a fresh connection, half-close, read until the server closes or the
    deadline passes. Returns (bytes_read, outcome)."""
    got = 0
    end = time.monotonic() + deadline_s
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(deadline_s)
        s.connect(sock_path)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)  # a partial last frame: the server sees EOF mid-frame
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed by the server before it took everything (a bad frame): normal
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got, 'timeout'
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                return got, 'closed'
            got += len(chunk)
    except socket.timeout:
        return got, 'timeout'
    except ConnectionRefusedError:
        return got, 'refused'
    except (ConnectionResetError, BrokenPipeError):
        return got, 'reset'
    except FileNotFoundError:
        return got, 'nosocket'
    finally:
        s.close()


def run(a):
    names = sorted(os.listdir(a.corpus))
    inputs = []
    for n in names:
        with open(os.path.join(a.corpus, n), 'rb') as f:
            inputs.append(f.read())
    if not inputs:
        print('frames-replay: no inputs in %s' % a.corpus, file=sys.stderr)
        return 2
    print('frames-replay: %d inputs (%d bytes), at most %d/s, %d s'
          % (len(inputs), sum(map(len, inputs)), a.rate, a.seconds), flush=True)
    samples = open(a.samples, 'a') if a.samples else None
    t0 = time.monotonic()
    next_sample = t0
    sent = 0
    loops = 0
    outcomes = {}
    bytes_back = 0
    slot = 1.0 / a.rate
    next_send = t0
    last_sent, last_t = 0, t0

    def sample(now):
        nonlocal last_sent, last_t
        if not alive(a.pid):
            return False
        rss, anon, filed, th = proc_status(a.pid)
        fds = fd_count(a.pid)
        st = stats(a.socket) or {}
        nss = sum(1 for k in st if isinstance(k, str) and k.startswith('ns.') and k.endswith('.items'))
        rate = (sent - last_sent) / (now - last_t) if now > last_t else 0.0
        last_sent, last_t = sent, now
        line = ('t=%5ds sent %9d (%4.0f/s, pass %d) rss %6d KiB (anon %6d, file %6d) threads %2d '
                'fds %3d items %4s namespaces %d conns %s' %
                (now - t0, sent, rate, loops, rss, anon, filed, th, fds, st.get('items', '?'),
                 nss, st.get('connections', '?')))
        print(line, flush=True)
        if samples:
            samples.write('%d %d %d %d %d %s %d %d %d\n' % (round(now - t0), sent, rss, th, fds,
                                                            st.get('items', -1), nss, anon,
                                                            filed))
            samples.flush()
        return True

    i = 0
    while True:
        now = time.monotonic()
        if now >= next_sample:
            if not sample(now):
                print('frames-replay: the server (pid %d) is gone after %d inputs' % (a.pid, sent),
                      flush=True)
                return 3
            next_sample += a.interval
        if now - t0 >= a.seconds:
            break
        if now < next_send:
            time.sleep(min(next_send - now, max(0.0, next_sample - now)))
            continue
        next_send = max(next_send + slot, now - 1.0)  # no burst of more than ~1 s of backlog
        _, outcome = replay_one(a.socket, inputs[i], a.deadline)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        sent += 1
        i += 1
        if i == len(inputs):
            i = 0
            loops += 1
        if outcome in ('refused', 'nosocket') and not alive(a.pid):
            print('frames-replay: the server (pid %d) is gone after %d inputs' % (a.pid, sent),
                  flush=True)
            return 3
    sample(time.monotonic())
    print('frames-replay: %d inputs sent (%d full passes over the corpus), connections: %s'
          % (sent, loops, ', '.join('%s %d' % kv for kv in sorted(outcomes.items()))), flush=True)
    return 0


def verdict(a):
    """RSS over the run's second half against two references: it levels off when every sample
    of the second half is within 5% of the first sample of that half; otherwise the growth per
    million inputs is the least-squares slope over the second half. Also compared with the level
    at BASE_S (default 600 s: 10 minutes). Exit 0 when it levels off, 1 when not."""
    rows = []
    parts = {}  # t -> (anon, file) KiB
    with open(a.verdict) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3:
                rows.append((int(p[0]), int(p[1]), int(p[2])))
                if len(p) >= 9:
                    parts[int(p[0])] = (int(p[7]), int(p[8]))
    if len(rows) < 4:
        print('verdict: too few samples (%d)' % len(rows))
        return 1
    end_t = rows[-1][0]
    half = [r for r in rows if r[0] >= end_t / 2]
    base = min(rows, key=lambda r: abs(r[0] - a.base_s))
    start = half[0]
    lo = min(r[2] for r in half)
    hi = max(r[2] for r in half)
    print('verdict: RSS %d KiB at %d s (%d inputs); second half (from %d s): %d KiB at its start, '
          '%d..%d KiB, %d KiB at the end (%d inputs)'
          % (base[2], base[0], base[1], start[0], start[2], lo, hi, rows[-1][2], rows[-1][1]))
    print('verdict: end vs %d s: %+.1f%%; second half spread vs its start: %+.1f%%..%+.1f%%'
          % (base[0], 100.0 * (rows[-1][2] - base[2]) / base[2],
             100.0 * (lo - start[2]) / start[2], 100.0 * (hi - start[2]) / start[2]))
    if parts:
        print('verdict: of which anonymous (heap, arenas, stacks) / file-backed (code paged in): '
              + ', '.join('%d s %d / %d KiB' % (r[0], parts[r[0]][0], parts[r[0]][1])
                          for r in (base, start, rows[-1]) if r[0] in parts))
    n = len(half)
    mx = sum(r[1] for r in half) / n
    my = sum(r[2] for r in half) / n
    sxx = sum((r[1] - mx) ** 2 for r in half)
    slope = sum((r[1] - mx) * (r[2] - my) for r in half) / sxx if sxx else 0.0
    print('verdict: second-half slope %.1f KiB per million inputs' % (slope * 1e6))
    if hi <= start[2] * 1.05 and lo >= start[2] * 0.95:
        print('verdict: LEVELS OFF at about %.1f MiB' % (hi / 1024.0))
        return 0
    print('verdict: GROWS by %.1f KiB per million inputs over the second half' % (slope * 1e6))
    return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--socket')
    p.add_argument('--pid', type=int)
    p.add_argument('--corpus')
    p.add_argument('--seconds', type=float, default=3600)
    p.add_argument('--rate', type=int, default=2000)
    p.add_argument('--interval', type=float, default=30)
    p.add_argument('--deadline', type=float, default=2.0, help='s per connection')
    p.add_argument('--samples')
    p.add_argument('--verdict')
    p.add_argument('--base-s', type=int, default=600)
    a = p.parse_args()
    if a.verdict:
        return verdict(a)
    if not (a.socket and a.pid and a.corpus):
        p.error('--socket, --pid and --corpus are needed')
    return run(a)


if __name__ == '__main__':
    sys.exit(main())
