"""One zip member read safely: its declared sizes checked before anything is read, its data inflated
at most `cap` + 1 bytes whatever its header says, and every failure of the container one located
problem in the user's words. For the readers of zip-based formats (`.keras` archives).

zipfile itself is not used to inflate: it decompresses bzip2 and LZMA members in chunks of 4 KiB of
compressed data with no output limit (4 KiB of bzip2 can hold gigabytes of zeros), then cuts to the
declared size. Here the member's stored bytes are read after its local header, and inflated with
the standard decompressors' own `max_length`.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import Any

from ..errors import Loc, SpecError, problem

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # the 30 bytes before each member's name
LOCAL_SIGNATURE = b"PK\x03\x04"
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
           zipfile.ZIP_LZMA: "LZMA"}
ENCRYPTED, PATCHED, STRONG = 0x1, 0x20, 0x40  # general purpose flag bits
END_SIGNATURE, END64_LOCATOR, END64_SIGNATURE = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
END_SEARCH = 22 + 65535  # the end record, and the longest comment before it
MAX_DIRECTORY = 16 * 1024 * 1024  # bytes of a central directory
MAX_MEMBERS = 100_000  # members of an archive (Keras writes three; torch one per tensor, and a few more)


def directory_size(path: str) -> tuple[int, int] | None:
    """(members, bytes) the central directory of a zip file declares, read from its end record (zip64's
    too), before zipfile reads the directory whole and makes an object of each entry; None when there is
    no end record (zipfile then says the file is not a zip)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - END_SEARCH))
        tail = fh.read()
        at = tail.rfind(END_SIGNATURE)
        if at < 0 or len(tail) - at < 22:
            return None
        members, directory = struct.unpack("<HL", tail[at + 10:at + 16])
        if (members == 0xFFFF or directory == 0xFFFFFFFF) and at >= 20 and tail[at - 20:at - 16] == END64_LOCATOR:
            fh.seek(struct.unpack("<Q", tail[at - 12:at - 4])[0])
            record = fh.read(56)
            if len(record) == 56 and record[:4] == END64_SIGNATURE:
                members, directory = struct.unpack("<QQ", record[32:48])
        return members, directory


def open_archive(path: str, loc: Loc, max_members: int = MAX_MEMBERS) -> zipfile.ZipFile:
    """A zip file opened for read_member, its directory's size checked first (at most `max_members`
    members, in at most MAX_DIRECTORY bytes, which zipfile reads at once); zipfile's own errors are the
    caller's to say."""
    declared = directory_size(path)
    if declared is not None and (declared[0] > max_members or declared[1] > MAX_DIRECTORY):
        raise SpecError([problem(loc, None, f"its zip directory lists {declared[0]:,} members in {declared[1]:,} "
                                            f"bytes; lstmcount reads archives of at most {max_members:,} members")])
    return zipfile.ZipFile(path)


def read_member(archive: zipfile.ZipFile, name: str, cap: int, loc: Loc) -> bytes | None:
    """The bytes of member `name` (None when the archive has none), or a SpecError naming the member."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None

    def bad(text: str) -> SpecError:
        return SpecError([problem(loc, None, f"its {name} is not a readable zip member ({text})")])

    if info.flag_bits & (ENCRYPTED | STRONG):
        raise bad("it is encrypted")
    if info.flag_bits & PATCHED:
        raise bad("it is compressed patched data")
    method = METHODS.get(info.compress_type)
    if method is None:
        raise bad(f"compression method {info.compress_type}; lstmcount reads {', '.join(METHODS.values())}")
    if info.file_size > cap or info.compress_size > cap + cap // 32 + 4096:  # what compression adds at worst
        raise SpecError([problem(loc, None, f"its {name} is larger than {cap // (1024 * 1024)} MiB "
                                            f"({max(info.file_size, info.compress_size):,} bytes)")])
    fp = archive.fp
    if fp is None:  # pragma: no cover - the archive is open while it is read
        raise bad("the archive is closed")
    try:
        start = data_offset(fp, info)
        if start is None:
            raise bad("no local header where the directory says it starts")
        fp.seek(start)
        stored = fp.read(info.compress_size)
    except (OSError, ValueError, OverflowError) as exc:
        raise bad(f"cannot be read: {exc}") from None
    if len(stored) < info.compress_size:
        raise bad(f"truncated: {len(stored):,} of its {info.compress_size:,} bytes are in the file")
    try:
        data, ended = _inflate(info.compress_type, stored, cap + 1)
    except ValueError as exc:
        raise bad(f"corrupt {method} data: {exc}") from None
    if len(data) > cap:
        raise SpecError([problem(loc, None, f"its {name} inflates past {cap // (1024 * 1024)} MiB (it declares "
                                            f"{info.file_size:,} bytes)")])
    if len(data) < info.file_size and not ended:
        raise bad(f"its {method} data ends early (truncated)")
    if len(data) != info.file_size:
        raise bad(f"it holds {len(data):,} bytes, not the {info.file_size:,} it declares")
    if zlib.crc32(data) != info.CRC:
        raise bad("its CRC-32 does not match its data")
    return data


def data_offset(fp: Any, info: zipfile.ZipInfo) -> int | None:
    """Where a member's stored bytes start in the file `fp`: after its local header, name and extra field
    (the central directory's copies of those may differ); None when no local header stands there."""
    fp.seek(info.header_offset)
    header = fp.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size or header[:4] != LOCAL_SIGNATURE:
        return None
    fields = LOCAL_HEADER.unpack(header)
    return int(info.header_offset + LOCAL_HEADER.size + fields[-2] + fields[-1])


def _inflate(method: int, stored: bytes, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of a member's data, and whether its compressed stream ended (ValueError: the
    data is not valid)."""
    if method == zipfile.ZIP_STORED:
        return stored[:limit], True
    decompressor: Any
    try:
        if method == zipfile.ZIP_DEFLATED:
            decompressor = zlib.decompressobj(-15)
        elif method == zipfile.ZIP_BZIP2:
            import bz2

            decompressor = bz2.BZ2Decompressor()
        else:
            import lzma

            decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[_lzma_filter(stored, limit)])
            stored = stored[9:]
        data = decompressor.decompress(stored, limit)
    except Exception as exc:  # zlib.error, OSError (bzip2), lzma.LZMAError, EOFError: the data is not valid
        raise ValueError(str(exc) or type(exc).__name__) from None
    return data, bool(decompressor.eof)


def _lzma_filter(stored: bytes, limit: int) -> dict[str, int]:
    """A zip LZMA member opens with a version (2 bytes), the size of the properties (2 bytes) and the
    LZMA1 properties: lc, lp, pb in one byte, then the dictionary size. The dictionary is allocated
    whole, and nothing read here reaches further back than `limit` bytes: it is kept to that."""
    import lzma

    size = int.from_bytes(stored[2:4], "little")
    props = stored[4:4 + size]
    if size != 5 or len(props) != 5 or props[0] >= 9 * 5 * 5:
        raise ValueError("its LZMA properties are not LZMA1's five bytes")
    pb, rest = divmod(props[0], 45)
    lp, lc = divmod(rest, 9)
    return {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb,
            "dict_size": max(4096, min(int.from_bytes(props[1:5], "little"), limit))}
