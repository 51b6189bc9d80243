"""`preprocess`, one step at a time, and whole on drawn digits and synthetic photos."""

import io

import numpy as np
import pytest
from PIL import Image

from simplenn.images import preprocessing as P
from simplenn.errors import SimplennError
from simplenn.images.photos import draw_digit, photograph

MNIST = P.input_style("mnist", (28, 28))


def png_bytes(image: Image.Image, **save_options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=save_options.pop("format", "PNG"), **save_options)
    return buffer.getvalue()


def test_input_styles_follow_each_dataset():
    assert MNIST == P.InputStyle("mnist", (28, 28), 20, "mass")  # LeCun: 20x20 box in 28x28
    assert P.input_style("digits", (8, 8)) == P.InputStyle("mnist", (8, 8), 8, "box")
    assert P.input_style("mnist", (56, 56)).box == 40  # 20/28 of the side
    assert P.input_style("fashion-mnist", (28, 28)).recipe == "fashion-mnist"


@pytest.mark.parametrize("ink, paper, dark", [(0, 255, True), (255, 0, False), (40, 200, True), (210, 90, False)])
def test_inversion_is_decided_from_the_image_for_both_polarities(ink, paper, dark):
    gray = P.to_gray(draw_digit("3", size=120, thickness=8, ink=ink, paper=paper).convert("RGB"))
    assert P.ink_is_dark(gray) is dark
    # Either way the network sees bright ink on black, the same digit.
    seen = P.preprocess(draw_digit("3", size=120, thickness=8, ink=ink, paper=paper), MNIST)
    reference = P.preprocess(draw_digit("3", size=120, thickness=8), MNIST)
    assert seen[0, 0] == 0 and seen.max() == 255
    assert np.abs(seen.astype(int) - reference).mean() < 3


def test_inversion_can_be_overridden():
    white_on_black = draw_digit("7", ink=255, paper=0)
    assert P.preprocess(white_on_black, MNIST).max() == 255
    with pytest.raises(SimplennError, match="found no ink"):  # told the ink is dark: the paper is the "ink"
        P.preprocess(white_on_black, MNIST, invert=True)


def test_paper_noise_becomes_exact_zero_and_specks_are_dropped():
    rng = np.random.default_rng(1)
    paper = np.asarray(draw_digit("1", size=200), dtype=np.float64) - 25 + rng.normal(0, 8, (200, 200))
    paper[5:8, 5:8] = 0  # a dust speck in the corner, far from the digit
    ink = P.suppress_paper(255 - np.clip(paper, 0, 255))
    assert (ink[:, :40] > 0).mean() < 0.01  # the grain is gone left of the digit
    cleaned = P.remove_specks(ink)
    assert cleaned[5:8, 5:8].max() == 0 and cleaned[100, 100] > 0.9  # speck gone, stroke kept
    top, bottom, left, right = P.ink_bounding_box(cleaned)
    assert left > 40 and top > 20


def test_fit_in_box_keeps_the_aspect_ratio():
    tall = np.ones((120, 30))  # 4:1
    fitted = P.fit_in_box(tall, 20)
    assert fitted.shape == (20, 5)
    wide = P.fit_in_box(np.ones((10, 40)), 20)
    assert wide.shape == (5, 20)
    # A whole digit: the network's view is 20 tall and a quarter as wide as the drawn box.
    seen = P.preprocess(draw_digit("1", size=400, thickness=20, box=(0.4, 0.1, 0.05, 0.8)), MNIST)
    top, bottom, left, right = P.ink_bounding_box(seen)
    assert bottom - top == 20 and right - left < 8


def test_shrinking_anti_aliases_into_grey_levels():
    fitted = P.fit_in_box(np.kron(np.eye(3), np.ones((7, 7)))[:, :20], 10)  # hard 0/1 edges
    assert ((fitted > 0.05) & (fitted < 0.95)).any()


@pytest.mark.parametrize("box", [(0.05, 0.05, 0.3, 0.4), (0.6, 0.5, 0.35, 0.45), (0.3, 0.2, 0.4, 0.7)])
@pytest.mark.parametrize("digit", ["2", "7", "9"])
def test_centre_of_mass_lands_within_half_a_pixel_of_the_centre(digit, box):
    seen = P.preprocess(draw_digit(digit, size=300, thickness=18, box=box), MNIST)
    row, column = P.centre_of_mass(seen.astype(np.float64))
    assert abs(row - 13.5) <= 0.5 and abs(column - 13.5) <= 0.5
    top, bottom, left, right = P.ink_bounding_box(seen)
    assert max(bottom - top, right - left) == 20


def test_digits_style_fills_the_frame_and_centres_the_box():
    seen = P.preprocess(draw_digit("4", size=160, thickness=14, box=(0.1, 0.1, 0.5, 0.6)), P.input_style("digits", (8, 8)))
    top, bottom, left, right = P.ink_bounding_box(seen)
    assert (top, bottom) == (0, 8) and abs((left + right - 1) / 2 - 3.5) <= 0.5


def test_transparency_is_flattened_on_white_paper():
    # A PNG whose ink is opaque black and whose paper is fully transparent black:
    # without flattening it would be black on black.
    digit = np.asarray(draw_digit("5", size=100, thickness=8))
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., 3] = 255 - digit  # alpha = ink
    image = P.read_photo(png_bytes(Image.fromarray(rgba, mode="RGBA")))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    seen = P.preprocess(png_bytes(Image.fromarray(rgba, mode="RGBA")), MNIST)
    assert np.abs(seen.astype(int) - P.preprocess(draw_digit("5", size=100, thickness=8), MNIST)).mean() < 3


def test_exif_rotation_is_applied():
    upright = draw_digit("7", size=120, thickness=10).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # the sensor's orientation
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    data = png_bytes(stored, format="JPEG", exif=exif, quality=95)
    assert P.read_photo(data).size == upright.size
    seen, reference = P.preprocess(data, MNIST), P.preprocess(upright, MNIST)
    assert np.abs(seen.astype(int) - reference).mean() < 4


@pytest.mark.parametrize("paper", [0, 255, 128])
def test_an_empty_image_is_a_clear_error(paper):
    with pytest.raises(SimplennError, match="found no ink"):
        P.preprocess(Image.new("L", (50, 40), paper), MNIST)


def test_unreadable_and_oversized_images_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(SimplennError, match="cannot read upload as an image"):
        P.read_photo(b"not an image at all", name="upload")
    with pytest.raises(SimplennError, match="missing.png does not exist"):
        P.read_photo(tmp_path / "missing.png")
    truncated = png_bytes(draw_digit("1"))[:200]
    with pytest.raises(SimplennError, match="cannot read the file as an image"):
        P.read_photo(truncated)
    monkeypatch.setattr(P, "MAX_PIXELS", 100)
    with pytest.raises(SimplennError, match=r"has 40,000 pixels \(200x200\), more than the 100 read"):
        P.read_photo(png_bytes(draw_digit("1")))


def test_a_dataset_image_passes_through_nearly_unchanged():
    # A digit already in MNIST's form: preprocessing finds it done.
    mnist_like = P.preprocess(draw_digit("8", size=280, thickness=24), MNIST)
    again = P.preprocess(Image.fromarray(mnist_like), MNIST)
    assert np.abs(again.astype(int) - mnist_like).mean() < 2


def test_a_photo_of_a_dataset_image_comes_back_close_to_it():
    original = P.preprocess(draw_digit("6", size=280, thickness=24), MNIST)
    photo = photograph(original, np.random.default_rng(0))
    assert photo.size[0] > 100  # enlarged, on a sheet
    back = P.preprocess(photo, MNIST)
    assert np.abs(back.astype(int) - original).mean() < 12


def test_fashion_recipe_trims_fits_centres_and_negates():
    shirt = Image.new("RGB", (300, 200), (255, 255, 255))
    shirt.paste((30, 60, 200), (100, 40, 200, 180))  # a blue item, 100 wide and 140 tall, off-centre
    seen = P.preprocess(shirt, P.input_style("fashion-mnist", (28, 28)))
    top, bottom, left, right = P.ink_bounding_box(seen)
    assert (top, bottom) == (0, 28) and right - left == 20 and abs((left + right - 1) / 2 - 13.75) <= 0.5
    assert seen[0, 0] == 0 and seen[14, 14] == 255  # negated: white paper -> 0, the item bright
