"""Each DSA family's parameter range, measured from many transformed probe images and compared
with the DSA reference values (docs/papers.md): a family that does nothing fails its test."""

import math

import pytest
import torch

from nas.core.augment import DSA, DSAConfig

N = 4000  # draws per family


def _draw(family: str, probe: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``probe`` (C, H, W) transformed by N independent draws of ``family``."""
    dsa = DSA(DSAConfig(strategy=family))
    params = dsa.sample(N, torch.Generator().manual_seed(seed))
    return dsa.apply(probe.expand(N, *probe.shape), params)


def _index_probe(size: int) -> torch.Tensor:
    return torch.arange(1, size * size + 1, dtype=torch.float32).view(1, size, size)


@pytest.mark.parametrize(("size", "reach"), [(32, 4), (16, 2)])
def test_crop_shifts_are_uniform_whole_pixels_up_to_an_eighth_of_the_size(size, reach):
    out = _draw("crop", _index_probe(size))
    centre = out[:, 0, size // 2, size // 2].long() - 1  # which source pixel landed there
    for shift in (centre % size - size // 2, centre // size - size // 2):
        counts = torch.bincount(shift + reach, minlength=2 * reach + 1)
        assert len(counts) == 2 * reach + 1  # nothing beyond the reach
        expected = N / (2 * reach + 1)
        assert counts.min() > 0.8 * expected and counts.max() < 1.2 * expected, counts.tolist()


@pytest.mark.parametrize(("size", "side"), [(32, 16), (16, 8)])
def test_cutout_erases_a_square_of_half_the_side_anywhere(size, side):
    out = _draw("cutout", torch.ones(3, size, size))
    holes = out[:, 0] == 0
    rows, cols = holes.any(2), holes.any(1)
    heights, widths = rows.sum(1), cols.sum(1)
    assert heights.max() == side and widths.max() == side
    assert bool((holes.sum((1, 2)) == heights * widths).all())  # rectangles (clipped squares)
    inside = (heights == side) & (widths == side)
    # centres uniform on 0..size (the reference's size + 1 positions for an even side)
    expected_inside = ((size - side + 1) / (size + 1)) ** 2
    assert float(inside.float().mean()) == pytest.approx(expected_inside, abs=0.03)
    assert rows[:, 0].any() and rows[:, -1].any() and cols[:, 0].any() and cols[:, -1].any()


def test_flip_mirrors_half_of_the_images():
    probe = _index_probe(8)
    out = _draw("flip", probe)
    flipped = (out == probe.flip(2)).flatten(1).all(1)
    kept = (out == probe).flatten(1).all(1)
    assert bool((flipped ^ kept).all())
    assert 0.45 < flipped.float().mean() < 0.55


def _slopes(out: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Change of an x-index ramp per output pixel along x and along y at the centre."""
    c = size // 2
    return out[:, 0, c, c] - out[:, 0, c, c - 1], out[:, 0, c, c] - out[:, 0, c - 1, c]


def test_scale_factors_cover_one_over_1_2_to_1_2_per_axis():
    size = 32
    ramp_x = torch.arange(size, dtype=torch.float32).expand(size, size).unsqueeze(0)
    sx, _ = _slopes(_draw("scale", ramp_x, seed=1), size)
    _, sy = _slopes(_draw("scale", ramp_x.transpose(1, 2), seed=1), size)
    for s in (sx, sy):
        assert s.min() >= 1 / 1.2 - 1e-4 and s.max() <= 1.2 + 1e-4
        assert s.min() < 1 / 1.2 + 0.01 and s.max() > 1.2 - 0.01
        assert s.std() > 0.1  # uniform on [0.833, 1.2]: std 0.106
    assert (sx - sy).abs().max() > 0.1  # the two axes are drawn independently


def test_rotation_angles_cover_plus_minus_15_degrees():
    size = 32
    ramp_x = torch.arange(size, dtype=torch.float32).expand(size, size).unsqueeze(0)
    along_x, along_y = _slopes(_draw("rotate", ramp_x), size)
    degrees = torch.rad2deg(torch.atan2(along_y, along_x))
    assert degrees.abs().max() <= 15 + 1e-3
    assert degrees.min() < -14.5 and degrees.max() > 14.5
    assert abs(float(degrees.mean())) < 1.0  # symmetric


def test_colour_brightness_saturation_and_contrast_ranges():
    dsa = DSA(DSAConfig(strategy="color"))
    params = dsa.sample(N, torch.Generator().manual_seed(2))
    grey = torch.full((N, 3, 8, 8), 0.3)  # only brightness moves a flat grey image
    brightness = (dsa.apply(grey, params) - grey)[:, 0, 0, 0]
    ramp = torch.linspace(-1, 1, 64).view(1, 1, 8, 8).expand(N, 3, 8, 8)  # grey: no saturation
    contrast = dsa.apply(ramp, params).std((1, 2, 3)) / ramp.std((1, 2, 3))
    chroma = torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1).expand(N, 3, 8, 8)  # zero mean
    out = dsa.apply(chroma, params)
    saturation = (out[:, 0, 0, 0] - out[:, 1, 0, 0]) / 2 / contrast
    for values, low, high in ((brightness, -0.5, 0.5), (saturation, 0.0, 2.0),
                              (contrast, 0.5, 1.5)):
        width = high - low
        assert values.min() >= low - 1e-4 and values.max() <= high + 1e-4
        assert values.min() < low + 0.01 * width and values.max() > high - 0.01 * width
        assert values.std() == pytest.approx(width / math.sqrt(12), rel=0.05)  # uniform
