import numpy as np
import pytest
from PIL import Image

from nima_utils.images import ImageLoadError, find_images, load_image, preprocess, resize
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
