#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ that are plain bytes: msgpack requests (as
the tests send them) for mpread and frames, config files (from docs/config.md) for option,
fingerprints for fingerprint. The diskval seeds come from the real encoder: gen_diskval.c.
Run from anywhere: python3 tests/fuzz/make_seeds.py (it rewrites the files it owns)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def mp(v):
    """A minimal msgpack encoder: None, bool, int, float, str, bytes, list, dict, Ext."""
    if v is None:
        return b'\xc0'
    if v is True:
        return b'\xc3'
    if v is False:
        return b'\xc2'
    if isinstance(v, int):
        if 0 <= v <= 0x7f:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack('b', v)
        if v >= 0:
            for code, fmt, lim in ((0xcc, '>B', 1 << 8), (0xcd, '>H', 1 << 16),
                                   (0xce, '>I', 1 << 32), (0xcf, '>Q', 1 << 64)):
                if v < lim:
                    return bytes([code]) + struct.pack(fmt, v)
        for code, fmt, lim in ((0xd0, '>b', 1 << 7), (0xd1, '>h', 1 << 15),
                               (0xd2, '>i', 1 << 31), (0xd3, '>q', 1 << 63)):
            if -lim <= v:
                return bytes([code]) + struct.pack(fmt, v)
    if isinstance(v, float):
        return b'\xcb' + struct.pack('>d', v)
    if isinstance(v, str):
        b = v.encode()
        n = len(b)
        if n < 32:
            return bytes([0xa0 | n]) + b
        if n < 256:
            return b'\xd9' + bytes([n]) + b
        return b'\xda' + struct.pack('>H', n) + b
    if isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n < 256:
            return b'\xc4' + bytes([n]) + bytes(v)
        return b'\xc5' + struct.pack('>H', n) + bytes(v)
    if isinstance(v, Ext):
        n = len(v.data)
        fixed = {1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}
        if n in fixed:
            return bytes([fixed[n], v.type & 0xff]) + v.data
        return b'\xc7' + bytes([n, v.type & 0xff]) + v.data
    if isinstance(v, list):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b'\xdc' + struct.pack('>H', n)
        return head + b''.join(mp(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n < 16 else b'\xde' + struct.pack('>H', n)
        return head + b''.join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(type(v))


class Ext:
    def __init__(self, type_, data):
        self.type, self.data = type_, data


def obj(cls, ser, data):
    """An object value: ext 1 of [class, serializer, data]."""
    return Ext(1, mp([cls, ser, data]))


def frame(*req):
    body = mp(list(req))
    return struct.pack('>I', len(body)) + body


PING, HELLO, GET, MGET, SET, MSET, DEL, EXISTS, TOUCH, TTL, INCR, DECR, APPEND, GETRANGE, \
    STRLEN, SCAN, FLUSH, STATS, INFO, CONFIG_GET, CONFIG_SET, NAMESPACE = range(22)

FRAMES = {
    'ping_hello': frame(PING, 1) + frame(HELLO, 2, 1) + frame(HELLO, 3, 1, {'client': 'fuzz'}),
    'set_get': frame(SET, 1, 'k', b'v') + frame(GET, 2, 'k') + frame(GET, 3, 'missing'),
    'set_forms': frame(SET, 1, 'k', 42, 1000) + frame(SET, 2, 'k', 'x', 0, 1) +
                 frame(SET, 3, 'k', [1, 'a', None, True, 1.5], 0, 2) +
                 frame(SET, 4, 'k', {'a': 1}, 0, 0, 1) + frame(GET, 5, 'k'),
    'object': frame(SET, 1, 'o', obj('Foo', 1, b'data')) + frame(GET, 2, 'o'),
    'mset_mget': frame(MSET, 1, [['a', 1, 0], ['b', b'two', 5000]]) +
                 frame(MGET, 2, ['a', 'b', 'c']) + frame(DEL, 3, 'a', 'b') +
                 frame(EXISTS, 4, 'a', 'b'),
    'counters': frame(INCR, 1, 'n', 5) + frame(DECR, 2, 'n', 2, 0, 1000) +
                frame(INCR, 3, 'n', 9223372036854775807) + frame(TOUCH, 4, 'n', 100) +
                frame(TTL, 5, 'n'),
    'stream': frame(APPEND, 1, 's', b'hello ') + frame(APPEND, 2, 's', b'world', 0) +
              frame(GETRANGE, 3, 's', 2, 5) + frame(STRLEN, 4, 's'),
    'scan_flush': frame(SET, 1, 'p:1', 1) + frame(SET, 2, 'p:2', 2) + frame(SCAN, 3, 0, 'p:', 10) +
                  frame(FLUSH, 4, None) + frame(NAMESPACE, 5, 'other') + frame(SET, 6, 'k', 1) +
                  frame(FLUSH, 7, 'other'),
    'admin': frame(STATS, 1) + frame(INFO, 2) + frame(CONFIG_GET, 3) +
             frame(CONFIG_GET, 4, 'max-*') + frame(CONFIG_SET, 5, 'max-key-size', '16') +
             frame(SET, 6, 'a-key-longer-than-16', 1),
    'errors': frame(99, 1) + frame(GET, 2) + frame(SET, 3, 1, 2) +
              struct.pack('>I', 3) + b'\x93\x00' + b'\x01' + struct.pack('>I', 1) + b'\xc1',
}

MSGPACK = {
    'scalars': mp([None, True, False, 0, 127, -1, -32, 255, -128, 65535, -32768, 2**32 - 1,
                   -2**31, 2**64 - 1, -2**63, 1.25, 'str', b'bin']),
    'nested': mp({'a': [1, [2, [3, {'b': None}]]], 'c': {}}),
    'object': mp([obj('Cls', 2, b'\x00\x01'), Ext(5, b'abcd')]),
    'deep': mp([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    'float32': b'\xca' + struct.pack('>f', 3.5) + mp('x' * 40) + mp(b'y' * 300),
}

CONFIGS = {
    'docs_example': """# /etc/cacheserverd.conf
socket      = /run/cacheserverd/cache.sock
socket-mode = 0660
memory      = 2GiB          # a comment after a value needs a blank before '#'
log-file    = "/var/log/cacheserverd/server.log"
allow-gids  = 'www-data, root'  # docs say deploy: a group this host lacks
""",
    'types': """threads = 3
max-connections = 100
max_frame_size = 64MiB
max-value-size = 1MiB
max-key-size = 8KiB
log-level = debug
fz-size = 512k
fz-uint = 18446744073709551615
fz-bool = on
fz-name = "quoted \\"name\\" with \\\\ escapes"
fz-fixed = 'single # quoted'
""",
    'errors': "memory = 2 GB\n",
    'blank': "\n   \n# only comments\n\t# and blanks\r\n",
    'tiers': """ssd-path = ./run/ssd
ssd-size = 1GiB
hdd-path = ''
persist = off
tier-compress-level = 3
""",
}

FINGERPRINTS = {
    'hex_lower': '3f' * 32,
    'hex_upper': 'AB' * 32 + '\n',
    'colons': ':'.join(['0A'] * 32),
    'openssl': 'sha256 Fingerprint=' + ':'.join(['%02X' % i for i in range(32)]) + '\n',
    'openssl_upper': '  SHA256 Fingerprint=' + ':'.join(['%02X' % (255 - i) for i in range(32)]),
    'short': 'abc',
}

# fuzz_shm_region's inputs: flags, namespace, key length and key, value length and value, then
# [target, offset (u16 little-endian), xor] records (see the target's header comment).
def shm(flags, ns, key, val, records=()):
    b = bytes([flags, ns, len(key) - 1]) + key + bytes([len(val)]) + val
    for t, o, x in records:
        b += bytes([t]) + struct.pack('<H', o) + bytes([x])
    return b


SHM_REGION = {
    'hit': shm(1, 0, b'user:42', b'\xc4\x05hello'),
    'hit_ns': shm(1, 2, b'k', b'\xc4\x01x'),
    'expired': shm(3, 0, b'session', b'\xc4\x02ab'),
    'flushed': shm(5, 1, b'page:/', b'\xc4\x00'),
    'closed': shm(9, 0, b'k', b'\xc4\x01x'),
    'dead': shm(0x11, 0, b'k', b'\xc4\x01x'),
    'stale': shm(0x21, 0, b'k', b'\xc4\x01x'),
    'torn_seq': shm(1, 0, b'user:42', b'\xc4\x05hello', [(0, 0, 1)]),
    'bad_len': shm(1, 0, b'user:42', b'\xc4\x05hello', [(0, 48, 0xff), (0, 49, 0x7f)]),
    'bad_pos': shm(1, 0, b'user:42', b'\xc4\x05hello', [(0, 16, 0xf8), (0, 17, 0x0f)]),
    'bad_crc': shm(1, 0, b'user:42', b'\xc4\x05hello', [(1, 40, 0x20)]),
    'bad_vlen': shm(1, 0, b'user:42', b'\xc4\x05hello', [(1, 16, 0x80)]),
    'ns_table': shm(1, 3, b'k', b'\xc4\x01x', [(3, 72 * 3, 0x01)]),
}


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)


for name, data in FRAMES.items():
    write('frames', name, data)
for name, data in MSGPACK.items():
    write('mpread', name, data)
for name, data in FRAMES.items():  # request bodies are msgpack too (without the length)
    if name in ('set_forms', 'object', 'admin'):
        write('mpread', 'frames_' + name, data[4:])
for name, data in CONFIGS.items():
    write('option', name, data)
for name, data in FINGERPRINTS.items():
    write('fingerprint', name, data)
for name, data in SHM_REGION.items():
    write('shm_region', name, data)
