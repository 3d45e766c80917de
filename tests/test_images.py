import numpy as np
import pytest
from PIL import Image

from nima_utils.images import ImageLoadError, decode_image, find_images, load_image, preprocess, resize
from tests import image_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return image_corpus.build(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("name", image_corpus.GOOD)
def test_good_files_load_as_rgb(corpus, name):
    img = load_image(corpus / name)
    assert img.mode == "RGB"
    assert img.size in ((451, 300), (300, 451))


@pytest.mark.parametrize(("name", "reason"), sorted(image_corpus.BAD.items()))
def test_bad_files_get_a_clear_error(corpus, name, reason):
    with pytest.raises(ImageLoadError, match=reason):
        load_image(corpus / name)


def test_bytes_and_path_give_the_same_pixels(corpus):
    a = np.asarray(load_image(corpus / "photo.jpg"))
    b = np.asarray(load_image((corpus / "photo.jpg").read_bytes()))
    np.testing.assert_array_equal(a, b)


def test_exif_orientation_is_applied(corpus):
    upright = np.asarray(load_image(corpus / "photo.jpg"), dtype=float)
    rotated = load_image(corpus / "rotated.jpg")
    assert rotated.size == (300, 451)
    # orientation 6 displays the stored image turned 90 degrees clockwise
    expected = np.rot90(upright, k=-1)
    assert np.abs(np.asarray(rotated, dtype=float) - expected).mean() < 4


def test_cmyk_and_sixteen_bit_keep_their_colours(corpus):
    rgb = np.asarray(load_image(corpus / "photo.jpg"), dtype=float)
    cmyk = np.asarray(load_image(corpus / "cmyk.jpg"), dtype=float)
    assert np.abs(cmyk - rgb).mean() < 6
    gray = np.asarray(load_image(corpus / "gray.png"), dtype=float)
    sixteen = np.asarray(load_image(corpus / "sixteen.png"), dtype=float)
    assert np.abs(sixteen - gray).max() <= 1  # scaled down from 16 bits, not clipped to white


@pytest.mark.parametrize(("dtype", "mode"), [(np.uint16, "I;16"), (np.int32, "I")])
def test_deep_images_round_to_eight_bits_in_bands(dtype, mode):
    """16- and 32-bit samples scale as round(v / 65535 * 255), in integer arithmetic a band of rows at a time."""
    import io

    values = np.random.default_rng(0).integers(0, 65536, (3000, 40)).astype(dtype)  # several bands of rows
    buf = io.BytesIO()
    img = Image.fromarray(values)
    assert img.mode == mode
    img.save(buf, "TIFF" if mode == "I" else "PNG")
    got = np.asarray(load_image(buf.getvalue()))[..., 0]
    expected = np.floor(values.astype(np.float64) / 65535 * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)


def test_progressive_jpeg_scan_limit_counts_from_path_and_bytes(tmp_path):
    from nima_utils.images import MAX_SCANS

    img = image_corpus.photo()
    ok = image_corpus.scan_bomb_jpeg(img, scans=MAX_SCANS - 20)  # 10 scans of its own + 80
    load_image(ok)
    bomb = image_corpus.scan_bomb_jpeg(img, scans=MAX_SCANS)
    (tmp_path / "bomb.jpg").write_bytes(bomb)
    for source in (bomb, tmp_path / "bomb.jpg"):
        with pytest.raises(ImageLoadError, match=f"more than {MAX_SCANS}") as failure:
            decode_image(source)
        assert failure.value.kind == "too_large"


def test_alpha_is_composited_over_white(tmp_path):
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255


def test_animated_gif_first_frame(corpus):
    first = np.asarray(load_image(corpus / "anim.gif"), dtype=float)
    still = np.asarray(load_image(corpus / "palette.gif"), dtype=float)
    assert np.abs(first - still).mean() < np.abs(first - first[:, ::-1]).mean()


def test_pixel_limit_is_configurable(corpus):
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(corpus / "photo.jpg", max_pixels=1000)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_resize_nearest_and_preprocess():
    img = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).convert("RGB")
    out = resize(img, 2, "nearest")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert set(np.unique(out)) <= set(range(16))  # nearest never invents values
    x = preprocess(np.array([[0, 127.5, 255]]))
    np.testing.assert_allclose(x, [[-1, 0, 1]])


def test_find_images_recurses_by_suffix(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.JPG", "a/b/y.png", "a/notes.txt", "z.webp"):
        (tmp_path / name).write_bytes(b"")
    found = find_images([tmp_path / "a", tmp_path / "a" / "notes.txt"])
    assert [p.name for p in found] == ["y.png", "x.JPG", "notes.txt"]  # sorted by path


def test_images_of_ten_pixels_or_less_are_refused_like_cleanup(tmp_path):
    """Cleanup quarantines sides of 10 px or less; scoring must not score them either."""
    Image.new("RGB", (10, 300)).save(tmp_path / "thin.png")
    Image.new("RGB", (11, 11)).save(tmp_path / "eleven.png")
    with pytest.raises(ImageLoadError, match=r"too small \(10x300 px") as info:
        load_image(tmp_path / "thin.png")
    assert info.value.kind == "too_small"
    assert load_image(tmp_path / "eleven.png").size == (11, 11)


def test_pixel_limit_message_names_our_limit_not_pillows(corpus):
    """bomb.png declares 900 MP, beyond Pillow's own hard limit: the message still names ours."""
    for limit in (1_000, 50_000_000, 120_000_000):
        with pytest.raises(ImageLoadError, match=f"> {limit:,}") as info:
            load_image(corpus / "bomb.png", max_pixels=limit)
        assert info.value.kind == "too_large"
        assert "178956970" not in str(info.value) and "89478485" not in str(info.value)


def test_pixel_limit_above_pillows_default_works(tmp_path):
    """Pillow refuses more than ~89 MP by default; a larger limit of ours must let such images through."""
    Image.new("1", (10_000, 9_500)).save(tmp_path / "big.png")  # 95 MP, a few kB on disk
    with pytest.raises(ImageLoadError, match="> 90,000,000"):
        decode_image(tmp_path / "big.png", max_pixels=90_000_000)
    assert decode_image(tmp_path / "big.png", max_pixels=100_000_000).size == (10_000, 9_500)


def test_unreadable_and_special_files_get_clear_errors(tmp_path, monkeypatch):
    import builtins
    import os

    good = tmp_path / "locked.jpg"
    image_corpus.photo().save(good)
    good.chmod(0)
    if os.geteuid() == 0:  # root reads any file: make this one unreadable as it would be for a user
        real_open = builtins.open

        def deny(file, *args, **kwargs):
            if str(file) == str(good):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(ImageLoadError, match="not readable") as info:
        load_image(good)
    assert info.value.kind == "unreadable"
    monkeypatch.undo()
    os.mkfifo(tmp_path / "pipe.jpg")  # opening a FIFO for reading would block forever
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(tmp_path / "pipe.jpg")


def test_scan_reports_unreadable_folders_and_keeps_special_files(tmp_path, monkeypatch):
    import os

    from nima_utils.images import scan_images

    (tmp_path / "ok").mkdir()
    (tmp_path / "locked").mkdir()
    (tmp_path / "ok" / "a.jpg").write_bytes(b"")
    (tmp_path / "locked" / "b.jpg").write_bytes(b"")
    (tmp_path / "ok" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path) == str(tmp_path / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_images([tmp_path])
    assert [p.name for p in scan.files] == ["a.jpg", "gone.jpg"]
    assert [(p.name, "not readable" in why) for p, why in scan.problems] == [("locked", True)]
    assert find_images([tmp_path]) == scan.files
