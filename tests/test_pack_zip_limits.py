"""Reading a pack is bounded: zip bombs, lying headers and floods of entries are refused with a
clear message, never read into memory."""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
from datetime import date

import pytest

from _packs import make_packable
from expedition.errors import PackError
from expedition.pack import build_pack, verify_pack
from expedition.pack.archive import DEFAULT_LIMITS, ReadLimits, open_pack

WHEN = date(2026, 12, 1)
MiB = 2**20


@pytest.fixture
def packed(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n")
    return build_pack(make_packable(project, csv_path), when=WHEN)


def copy_with(source, dest, extra):
    """*source*'s entries plus *extra* (name -> bytes or a callable writing to the entry)."""
    with zipfile.ZipFile(source) as good, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as bad:
        root = good.namelist()[0].split("/")[0]
        for info in good.infolist():
            bad.writestr(info, good.read(info))
        for name, content in extra.items():
            if callable(content):
                with bad.open(f"{root}/{name}", "w", force_zip64=True) as handle:
                    content(handle)
            else:
                bad.writestr(f"{root}/{name}", content)
    return dest


def zeros(size):
    def write(handle):
        block = bytes(MiB)
        for _ in range(size // MiB):
            handle.write(block)
    return write


def lie_about_size(path, name, declared):
    """Rewrite the sizes *name*'s headers declare (local header and central directory)."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_len_at, fixed in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            length = struct.unpack_from("<H", data, at + name_len_at)[0]
            if data[at + fixed : at + fixed + length] == encoded:
                struct.pack_into("<L", data, at + size_at, declared)
                extra_len = struct.unpack_from("<H", data, at + name_len_at + 2)[0]
                extra = at + fixed + length
                # a Zip64 extra field carries the real size: make it lie too
                pos = extra
                while pos < extra + extra_len:
                    tag, size = struct.unpack_from("<HH", data, pos)
                    if tag == 1:
                        struct.pack_into("<Q", data, pos + 4, declared)
                    pos += 4 + size
            at += 4
    path.write_bytes(bytes(data))


def test_an_entry_that_inflates_past_the_limit_is_refused_before_it_is_read(packed, tmp_path):
    bomb = copy_with(packed.zip, tmp_path / "bomb.zip", {"tables/big.csv": zeros(DEFAULT_LIMITS.entry_bytes + MiB)})
    assert bomb.stat().st_size < 2 * MiB  # a few hundred KiB that would inflate to 257 MiB
    tracemalloc.start()
    try:
        with pytest.raises(PackError, match=r"tables/big.csv.* is 257 MiB, more than the 256 MiB") as caught:
            verify_pack(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB
    assert "zip bomb" in caught.value.fix


def test_an_entry_that_declares_a_small_size_but_inflates_large_is_refused(packed, tmp_path):
    bomb = copy_with(packed.zip, tmp_path / "liar.zip", {"summary-2.md": zeros(300 * MiB)})
    lie_about_size(bomb, f"{packed.path.name}/summary-2.md", 100)
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo(f"{packed.path.name}/summary-2.md").file_size == 100
    tracemalloc.start()
    try:
        with pytest.raises(PackError, match="summary-2.md.* cannot be read .*headers do not describe its contents"):
            verify_pack(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB  # never more than the declared bytes were inflated


def test_too_many_entries_are_refused_before_the_directory_is_read(packed, tmp_path):
    flood = {f"junk/{i}": b"" for i in range(DEFAULT_LIMITS.entries + 1)}
    path = copy_with(packed.zip, tmp_path / "flood.zip", flood)
    with pytest.raises(PackError, match=r"declares 10,\d{3} entries, more than the 10,000"):
        verify_pack(path)


def test_a_directory_that_lies_about_its_count_is_still_counted(packed, tmp_path):
    path = copy_with(packed.zip, tmp_path / "few.zip", {f"junk/{i}": b"" for i in range(40)})
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # "one entry"
    path.write_bytes(bytes(data))
    with pytest.raises(PackError, match=r"holds \d+ files, more than the 30 a pack may have"):
        verify_pack(path, limits=ReadLimits(entries=30))


def test_an_oversized_central_directory_is_refused(packed, tmp_path):
    names = {f"{'x' * 1100}/{i}": b"" for i in range(30)}
    path = copy_with(packed.zip, tmp_path / "names.zip", names)
    with pytest.raises(PackError, match=r"list of entries \(central directory\)"):
        verify_pack(path, limits=ReadLimits(entries=60))


def test_the_total_is_capped(packed, tmp_path):
    path = copy_with(packed.zip, tmp_path / "total.zip", {f"big/{i}": zeros(2 * MiB) for i in range(3)})
    with pytest.raises(PackError, match=r"come to \d+ MiB, more than the 5 MiB a pack may hold"):
        verify_pack(path, limits=ReadLimits(entry_bytes=4 * MiB, total_bytes=5 * MiB))


def test_a_file_that_grows_after_it_was_listed_is_cut_off_while_reading(packed):
    limits = ReadLimits(entry_bytes=MiB, total_bytes=3 * MiB)
    source = open_pack(packed.path, limits)
    grown = packed.path / "summary.md"
    with grown.open("ab") as handle:
        handle.write(bytes(2 * MiB))  # after the sizes were checked: only the counter sees it
    with pytest.raises(PackError, match=r"summary.md in .* inflates to more than 1 MiB"):
        source.read("summary.md")

    source = open_pack(packed.path, ReadLimits(entry_bytes=4 * MiB, total_bytes=3 * MiB))
    with pytest.raises(PackError, match=r"has produced more than 3 MiB"):
        for _ in range(3):
            source.read("summary.md")


def test_a_folder_with_an_oversized_file_is_refused(packed):
    (packed.path / "index.html").write_bytes(bytes(2 * MiB))
    with pytest.raises(PackError, match=r"index.html in .* is 2 MiB, more than the 1 MiB"):
        verify_pack(packed.path, limits=ReadLimits(entry_bytes=MiB))


def test_a_damaged_entry_is_a_clear_error(packed, tmp_path):
    data = bytearray(packed.zip.read_bytes())
    with zipfile.ZipFile(packed.zip) as archive:
        info = next(i for i in archive.infolist() if i.compress_type == zipfile.ZIP_DEFLATED and i.compress_size > 64)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 10, start + 30):  # garble the middle of a deflated entry
        data[offset] ^= 0xFF
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(PackError, match="cannot be read"):
        verify_pack(broken)


def test_the_cli_refuses_a_bomb_with_a_message(cli, packed, tmp_path):
    bomb = copy_with(packed.zip, tmp_path / "bomb.zip", {"tables/big.csv": zeros(DEFAULT_LIMITS.entry_bytes + MiB)})
    out = cli("pack", "verify", str(bomb))
    assert out.exit_code == 2
    assert "more than the 256 MiB" in out.stderr.replace("\n", " ") and "Traceback" not in out.output
