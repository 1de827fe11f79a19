#!/usr/bin/env python3
"""Generate differential test vectors from CPython's json.loads / json.dumps.

Usage: gen_vectors.py [--count N] [--seed S] [--out PATH]
Each vector holds the input bytes (hex) and exactly one expectation:
  "ok": json.dumps(result, ensure_ascii=False, separators=(",", ":")) with NaN/inf -> null
        and lone surrogates -> U+FFFD (the Swift port's documented deviations),
  "error"/"pos": JSONDecodeError msg and pos,
  "fail": "invalidUTF8" | "integerTooLong" | "tooDeep" for exceptions FastAPI maps to HTTP 400.
"""
import argparse, json, math, random, re, struct, sys

MAX_DEPTH = 64

SEEDS = [
    '{"success_url":"https://a.example/x?y=1","cancel_url":null}',
    '{"amount":1250,"currency":"eur","metadata":{"order":"A-17","note":"caf\\u00e9 \\"x\\""},"items":[1,2.5,-3e2,true,false,null]}',
    '[{"a":[[],{}]},"\\ud83d\\ude00",0.1,-0,1E+2,"\\/\\b\\f\\n\\r\\t"]',
    '{"k":"é日本語😀","k":2, "z" : [ 1 , 2 ] }',
    '  {"nested":{"deep":{"er":[{"x":"y"}]}}}\n',
    '"plain string"', '12345678901234567890123', '-0.0', '3.141592653589793', 'NaN', '[Infinity,-Infinity]',
]

HAND = [
    b'', b' ', b'01', b'-', b'-a', b'[1,]', b'{"a":1,}', b'{', b'{"a"', b'{"a":', b'{"a" 1}', b'[1 2]', b'"abc',
    b'"a\x01"', b'"\\x"', b'"\\u12"', b'"\\ud800"', b'"\\ud800\\udc00"', b'"\\ud800\\u0041"', b'"\\ud800\\u00"',
    b'"\\ud800\\udc00', b'"\\ud800\\udc0"', b'"\\ud800\\uzzzz"', b'"\\u0041', b'"\\u004"', b'"\\uDBFF\\uDFFF"',
    b'[', b'[1', b'{"a":1', b'nul', b'NaN', b'-Infinity', b'-NaN', b'1.', b'1e', b'1.5e+', b'1e-', b'1E5', b'1.0e-3',
    b'"\\', b'"\\u', b'"\\ud800\\', b'"\\ud800\\u', b'{1:2}', b'{"a":1 "b"}', b'[1,,]', b'{,}', b'\xc2\xa01', b'1\xc2\xa0',
    b'1e400', b'-1e400', b'1e-400', b'-0', b'-0.0', b'\xef\xbb\xbf1', b'\xef\xbb\xbf\xef\xbb\xbf1', b'\xef\xbb\xbf',
    b'["\\ud800"]', b'"\xc3\xa9\\', b'[1,\n]', b'{"a":1,"b"}', b'{"a":1,"b":}', b'{ }', b'[ ]', b'Infinityx', b'tru',
    b'true1', b'"\xed\xa0\x80"', b'\xff', b'1\x00', b'[1]\x00', b'"\xc3"', b'"\xc0\x80"', b'"\xf4\x90\x80\x80"',
    b'"\xe0\x80\x80"', b'"\xf0\x8f\xbf\xbf"', b'\xfe\xff\x00\x31', b'\xff\xfe1\x00', b'\x00\x00\x00\x31',
    b'1\x00\x00\x00', b'\x00[\x00]', b'[\x00]\x00', b'\x001', b'\xff\xfe\x00\x00' + b'1\x00\x00\x00', b'\x001\x00',
    b'1' * 4300, b'1' * 4301, b'-' + b'1' * 4301, b'1' * 4301 + b'.0', b'[' * 64 + b']' * 64, b'[' * 65 + b']' * 65,
    b'[' * 65, b'{"a":' * 64 + b'1' + b'}' * 64, b'{"a":' * 65 + b'1' + b'}' * 65, b'"\x7f\xe2\x80\xa8/"',
    b'{"a":1,"a":2,"b":3,"a":4}', b'{"e\xcc\x81":1,"\xc3\xa9":2}', b'"\\u0000\\u001f\\u007f"', b'\t\n\r 1 \t\n\r',
    b'\x0c1', b'1\x0c', b'"\t"', b'"\\t"', b'0.0001', b'1e-05', b'1e16', b'9500000000000000.0', b'1.5e-07',
    b'1.7976931348623157e308', b'5e-324', b'2.2250738585072014e-308', b'123456789012345678901234567890e-10',
]

ALPHABET = list('{}[]:,"\\ \t\n\r0123456789-+.eEaunltrfsINy/') + [
    '\x00', '\x01', '\x1f', '\x7f', '\u00a0', '\u2028', 'é', '日', '😀', '\ufeff', '\\u', '\\ud83d', '\\ude00',
    '\\udc00', '\\u00e9', '\\"', '\\\\', '\\x', 'null', 'true', 'NaN', '-Infinity', '1e999', '0.1', '-0', '01',
]


def mutate(rng, s):
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(5)
        pos = rng.randint(0, len(s))
        if op == 0:
            s = s[:pos]
        elif op == 1:
            s = s[:pos] + rng.choice(ALPHABET) + s[pos:]
        elif op == 2 and s:
            s = s[:pos] + s[pos + 1:]
        elif op == 3 and s:
            s = s[:pos] + rng.choice(ALPHABET) + s[pos + 1:]
        else:
            other = rng.randint(0, len(s))
            a, b = sorted((pos, other))
            s = s[:b] + s[a:b] + s[b:]
    return s


def encode(rng, s):
    r = rng.random()
    b = s.encode('utf-8', 'surrogatepass')
    if r < 0.05:
        b = b'\xef\xbb\xbf' + b
    elif r < 0.08 and b:
        i = rng.randrange(len(b))
        b = b[:i] + bytes([rng.choice([0x80, 0xbf, 0xc3, 0xed, 0xf4, 0xff])]) + b[i:]
    elif r < 0.10:
        b = s.encode(rng.choice(['utf-16', 'utf-16-le', 'utf-16-be', 'utf-32', 'utf-32-le', 'utf-32-be']), 'surrogatepass')
    return b


def random_number(rng):
    r = rng.random()
    if r < 0.4:
        x = struct.unpack('<d', rng.getrandbits(64).to_bytes(8, 'little'))[0]
        return repr(x) if math.isfinite(x) else '1.5'
    if r < 0.7:
        return repr(rng.choice([1, -1]) * rng.random() * 10 ** rng.randint(-30, 30))
    digits = ''.join(rng.choice('0123456789') for _ in range(rng.randint(1, 25)))
    return rng.choice(['', '-']) + digits + rng.choice(['', '.5', 'e' + str(rng.randint(-330, 330)), '.25E+3'])


def sanitize(v):
    """Apply the Swift port's documented deviations; returns None when they would merge keys."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, str):
        return re.sub('[\ud800-\udfff]', '\ufffd', v)
    if isinstance(v, list):
        return [sanitize(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            k2 = sanitize(k)
            if k2 in out:
                raise KeyError('surrogate keys collide')
            out[k2] = sanitize(x)
        return out
    return v


def depth(v):
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    return 0


def expect(b):
    try:
        v = json.loads(b)
    except json.JSONDecodeError as e:
        if b.count(b'[') + b.count(b'{') > MAX_DEPTH:
            return None  # a too-deep prefix may hide Python's error; ambiguous
        return {'error': e.msg, 'pos': e.pos}
    except UnicodeDecodeError:
        return {'fail': 'invalidUTF8'}
    except ValueError as e:
        if 'Exceeds the limit' in str(e):
            return {'fail': 'integerTooLong'}
        raise
    if depth(v) > MAX_DEPTH:
        return {'fail': 'tooDeep'}
    try:
        v = sanitize(v)
    except KeyError:
        return None
    return {'ok': json.dumps(v, ensure_ascii=False, separators=(',', ':'))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--count', type=int, default=400)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', default=__file__.rsplit('/', 1)[0] + '/Resources/vectors.json')
    args = ap.parse_args()
    rng = random.Random(args.seed)
    inputs = list(HAND)
    while len(inputs) < args.count:
        r = rng.random()
        if r < 0.15:
            inputs.append(encode(rng, '[' + random_number(rng) + ']'))
        elif r < 0.30:
            # Short random tokens hit the end-of-input boundary checks in _json.c.
            inputs.append(encode(rng, ''.join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))))
        else:
            inputs.append(encode(rng, mutate(rng, rng.choice(SEEDS))))
    vectors = []
    for b in inputs:
        e = expect(b)
        if e is not None:
            vectors.append({'hex': b.hex(), **e})
    with open(args.out, 'w') as f:
        json.dump(vectors, f, ensure_ascii=True, indent=0)
        f.write('\n')
    print(f'wrote {len(vectors)} vectors to {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
