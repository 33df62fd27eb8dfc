"""What a person looks like: clothing colours, pattern, hair, skin, bag, height.

Colours are natural and desaturated on purpose: pose detectors trained on real people find
rendered figures in greys, navy, khaki or denim far more reliably than neon ones. A share of
people are near-copies of an earlier person (same outfit, small shade changes, a different
bag or hair) so that appearance alone cannot solve re-identification, as in real crowds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

# BGR, desaturated.
TOPS = {
    "grey": (128, 128, 126), "charcoal": (62, 60, 58), "navy": (84, 52, 40), "dark red": (48, 44, 122),
    "olive": (54, 98, 96), "beige": (150, 176, 192), "off-white": (206, 210, 212), "denim": (138, 104, 78),
    "brown": (48, 70, 104), "forest": (56, 86, 52), "mustard": (58, 150, 184), "black": (36, 35, 34),
    "slate blue": (130, 110, 96), "maroon": (52, 40, 96), "teal": (104, 104, 60), "sand": (120, 150, 170),
}
BOTTOMS = {
    "denim": (128, 92, 62), "dark denim": (92, 64, 44), "black": (40, 38, 36), "khaki": (110, 150, 168),
    "grey": (112, 112, 110), "navy": (76, 50, 38), "beige": (140, 166, 182), "brown": (50, 68, 96),
    "olive": (60, 92, 90),
}
HAIR = {"black": (28, 26, 26), "dark brown": (30, 42, 58), "brown": (44, 66, 98), "blond": (100, 160, 196),
        "grey": (150, 150, 150), "auburn": (40, 58, 120)}
SKIN = {"light": (170, 190, 228), "fair": (150, 172, 214), "medium": (112, 146, 190), "olive": (100, 132, 170),
        "brown": (70, 100, 142), "dark": (50, 68, 100)}
SHOES = {"black": (30, 30, 30), "white": (214, 216, 218), "brown": (40, 56, 80), "grey": (100, 100, 100)}
BAGS = {"black": (38, 38, 38), "navy": (80, 50, 36), "grey": (110, 110, 108), "tan": (92, 132, 168),
        "dark red": (46, 42, 110)}
PATTERNS = ("plain", "stripes", "two-tone")
BAG_KINDS = ("none", "backpack", "shoulder")


@dataclass(frozen=True)
class Appearance:
    """Colour names (keys of the palettes above) plus shade jitter; serialised into world.json."""

    top: str
    bottom: str
    pattern: str          # plain | stripes | two-tone
    accent: str           # stripe / jacket colour (a TOPS key)
    hair: str
    hair_long: bool
    skin: str
    shoes: str
    bag: str              # none | backpack | shoulder
    bag_colour: str
    shade: float          # multiplies every clothing colour: 0.85-1.15
    build: float          # body width factor: 0.9-1.15
    short_sleeves: bool = False
    similar_to: int = 0   # pid this outfit was copied from (0 = original)

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> "Appearance":
        return Appearance(**d)


def _pick(rng: np.random.Generator, names) -> str:
    keys = list(names)
    return keys[int(rng.integers(len(keys)))]


def random_appearance(rng: np.random.Generator) -> Appearance:
    pattern = PATTERNS[int(rng.choice(3, p=(0.6, 0.22, 0.18)))]
    bag = BAG_KINDS[int(rng.choice(3, p=(0.55, 0.3, 0.15)))]
    top = _pick(rng, TOPS)
    accent = _pick(rng, [k for k in TOPS if k != top])
    return Appearance(
        top=top, bottom=_pick(rng, BOTTOMS), pattern=pattern, accent=accent, hair=_pick(rng, HAIR),
        hair_long=bool(rng.random() < 0.35), skin=_pick(rng, SKIN), shoes=_pick(rng, SHOES), bag=bag,
        bag_colour=_pick(rng, BAGS), shade=round(float(rng.uniform(0.85, 1.15)), 3),
        build=round(float(rng.uniform(0.9, 1.15)), 3), short_sleeves=bool(rng.random() < 0.3),
    )


def confusable_copy(rng: np.random.Generator, source: Appearance, source_pid: int) -> Appearance:
    """Same outfit as ``source`` with one or two small differences a human could still miss."""
    changed = replace(source, shade=round(float(np.clip(source.shade * rng.uniform(0.92, 1.08), 0.8, 1.2)), 3),
                      similar_to=source_pid)
    for _ in range(int(rng.integers(1, 3))):
        what = int(rng.integers(4))
        if what == 0:
            changed = replace(changed, bag=BAG_KINDS[int(rng.integers(3))], bag_colour=_pick(rng, BAGS))
        elif what == 1:
            changed = replace(changed, hair=_pick(rng, HAIR), hair_long=bool(rng.random() < 0.35))
        elif what == 2:
            changed = replace(changed, shoes=_pick(rng, SHOES), skin=_pick(rng, SKIN))
        else:
            changed = replace(changed, build=round(float(rng.uniform(0.9, 1.15)), 3))
    return changed


def sample_appearances(n: int, rng: np.random.Generator, confusable_fraction: float = 0.2) -> list[Appearance]:
    """``n`` outfits; about ``confusable_fraction`` of them copy an earlier one (pid = index + 1)."""
    out: list[Appearance] = []
    for i in range(n):
        if i > 0 and rng.random() < confusable_fraction:
            src = int(rng.integers(i))
            out.append(confusable_copy(rng, out[src], src + 1))
        else:
            out.append(random_appearance(rng))
    return out
