"""Archive unpacking under hostile or damaged input: plain files only, nothing outside its folder,
size and ratio caps, protected files, damaged archives recorded as failures."""

import io
import stat
import tarfile
import zipfile

import pytest

from nima_utils.data.archives import ArchiveError, extract, fetch_archives

JPEG = b"\xff\xd8" + bytes(range(256)) * 40


def tar_with(path, *members):
    with tarfile.open(path, "w:gz") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def reg(name, data=JPEG):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def unpack(archive, tmp_path, **kwargs):
    """fetch_archives from a file:// URL, as notebook 01 does; returns (summary, target folder)."""
    target = tmp_path / "ava"
    summary = fetch_archives([archive.resolve().as_uri()], tmp_path / "dl", target, progress=False, **kwargs)
    return summary, target


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != "dl")


@pytest.mark.parametrize("bad", [
    special("images/link.jpg", tarfile.SYMTYPE, "../../outside.txt"),
    special("images/dangling.jpg", tarfile.SYMTYPE, "missing.jpg"),
    special("images/inside.jpg", tarfile.SYMTYPE, "1.jpg"),  # a link inside the folder is refused too
    special("images/hard.jpg", tarfile.LNKTYPE, "images/1.jpg"),
    special("images/dev", tarfile.CHRTYPE),
    special("images/fifo", tarfile.FIFOTYPE),
])
def test_tar_links_devices_and_special_members_are_refused(tmp_path, bad):
    archive = tar_with(tmp_path / "a.tar.gz", reg("images/1.jpg"), bad)
    summary, target = unpack(archive, tmp_path)
    assert "a link, device or other special member" in summary.failed["a.tar.gz"]
    assert not (target / "images").exists() and not (tmp_path / "outside.txt").exists()


def test_symlink_chain_cannot_write_outside(tmp_path):
    """The pattern that defeats filter="data" on unpatched Python 3.11 (links resolving through links)."""
    (tmp_path / "victim").mkdir()
    members = [special(f"d{i}", tarfile.SYMTYPE, "." if i else "../victim") for i in range(3)]
    archive = tar_with(tmp_path / "chain.tar", *members, reg("d0/d1/d2/pwned.txt", b"x"))
    with pytest.raises(ArchiveError, match="special member"):
        extract(archive, tmp_path / "out")
    assert not list((tmp_path / "victim").iterdir()) and not list((tmp_path / "out").iterdir())


def test_zip_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("images/1.jpg", JPEG)
        link = zipfile.ZipInfo("images/2.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "../../../etc/passwd")
    summary, target = unpack(archive, tmp_path)
    assert "special member" in summary.failed["a.zip"] and not (target / "images").exists()


def test_7z_symlink_member_is_refused(tmp_path):
    import py7zr

    staging = tmp_path / "staging" / "images"
    staging.mkdir(parents=True)
    (staging / "1.jpg").write_bytes(JPEG)
    (staging / "2.jpg").symlink_to("/etc/hostname")
    archive = tmp_path / "a.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(staging, "images")
    summary, target = unpack(archive, tmp_path)
    assert "special member" in summary.failed["a.7z"] and not (target / "images").exists()


def test_plain_7z_and_zip_still_unpack(tmp_path):
    import py7zr

    archive = tmp_path / "a.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        for i in range(3):
            z.writestr(JPEG + bytes([i]), f"images/{i}.jpg")
    summary, target = unpack(archive, tmp_path)
    assert summary.ok, summary
    assert files_under(target / "images") == ["0.jpg", "1.jpg", "2.jpg"]
    assert (target / "images" / "2.jpg").read_bytes() == JPEG + b"\x02"


def test_zip_bomb_and_size_cap(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images/1.jpg", JPEG)
        z.writestr("images/2.jpg", bytes(30 << 20))  # 30 MiB of zeros in about 30 kB
    summary, target = unpack(bomb, tmp_path)
    assert "over the limit of 100x (a zip bomb?)" in summary.failed["bomb.zip"]
    assert not (target / "images").exists()
    plain = tar_with(tmp_path / "p.tar.gz", *(reg(f"images/{i}.jpg") for i in range(5)))
    summary, target = unpack(plain, tmp_path, max_unpacked=4 * len(JPEG))
    assert "over the limit of" in summary.failed["p.tar.gz"] and not (target / "images").exists()


@pytest.mark.parametrize("name", ["AVA.txt", "dl/a.tar.gz", ".a.tar.gz.extracted"])
def test_members_never_replace_the_labels_downloads_or_markers(tmp_path, name):
    target = tmp_path / "ava"
    target.mkdir()
    (target / "AVA.txt").write_text("verified labels\n")
    archive = tar_with(tmp_path / "a.tar.gz", reg("images/1.jpg"), reg(name, b"forged"))
    summary = fetch_archives([archive.resolve().as_uri()], target / "dl", target, progress=False,
                             protect=[target / "AVA.txt"])
    assert "protected" in summary.failed["a.tar.gz"]
    assert (target / "AVA.txt").read_text() == "verified labels\n"
    assert (target / "dl" / "a.tar.gz").read_bytes() == archive.read_bytes()
    assert not (target / ".a.tar.gz.extracted").exists() and not (target / "images").exists()


def test_damaged_archives_are_failures_and_leave_nothing_half_written(tmp_path):
    archive = tmp_path / "crc.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("images/1.jpg", JPEG)
        z.writestr("images/2.jpg", JPEG[::-1])
    blob = bytearray(archive.read_bytes())
    blob[blob.rindex(JPEG[::-1][:50]) + 20] ^= 0xFF  # one flipped byte in the second member
    archive.write_bytes(bytes(blob))
    summary, target = unpack(archive, tmp_path)
    assert "damaged" in summary.failed["crc.zip"] and "CRC" in summary.failed["crc.zip"]
    assert files_under(target) == ["images"]  # the first, good member is removed with the rest
    cut = tar_with(tmp_path / "cut.tar.gz", *(reg(f"images/{i}.jpg", bytes(range(256)) * 400 * (i + 1))
                                            for i in range(4)))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    summary, target = unpack(cut, tmp_path / "second")
    assert "damaged" in summary.failed["cut.tar.gz"]
    assert not (target / ".cut.tar.gz.extracted").exists()
