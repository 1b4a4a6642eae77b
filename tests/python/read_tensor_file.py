"""Reads a Sac.Functional tensor file (safetensors layout) with the standard library only, verifies its CRC-32 and
prints a JSON summary: metadata, and per tensor its dtype, shape, element count and the sum of its elements.

usage: python3 read_tensor_file.py FILE
"""
import json
import struct
import sys
import zlib

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "U32": "I", "U8": "B"}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.get("__metadata__", {})
    stored = meta["crc32"]
    key = b'"crc32":"'
    at = data.index(key, 8, 8 + n) + len(key)
    zeroed = data[:at] + b"00000000" + data[at + 8 :]
    actual = "%08x" % (zlib.crc32(zeroed) & 0xFFFFFFFF)
    if actual != stored:
        raise SystemExit("checksum mismatch: %s != %s" % (actual, stored))
    start = 8 + n
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        fmt = FORMATS[entry["dtype"]]
        count = (end - begin) // struct.calcsize(fmt)
        values = struct.unpack("<%d%s" % (count, fmt), data[start + begin : start + end])
        tensors[name] = {"dtype": entry["dtype"], "shape": entry["shape"], "count": count, "sum": float(sum(values))}
    return {"metadata": meta, "tensors": tensors}


if __name__ == "__main__":
    print(json.dumps(read(sys.argv[1]), sort_keys=True))
