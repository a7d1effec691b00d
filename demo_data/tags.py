"""AVA's tag list and the tags the demo images are drawn from."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

# AVA's semantic tags (tags.txt of the real dataset, 66 entries).
AVA_TAGS: Tuple[Tuple[int, str], ...] = (
    (1, "Abstract"), (2, "Urban"), (3, "Emotive"), (4, "Family"),
    (5, "Humorous"), (6, "Interior"), (7, "Landscape"), (8, "Sports"),
    (9, "Portraiture"), (10, "Nature"), (11, "Still Life"), (12, "Rural"),
    (13, "Fashion"), (14, "Animals"), (15, "Travel"), (16, "Architecture"),
    (17, "Black and White"), (18, "Macro"), (19, "Floral"), (20, "Seascapes"),
    (21, "Cityscape"), (22, "Political"), (23, "Persuasive"), (24, "Action"),
    (25, "Advertisement"), (26, "Sky"), (27, "Water"), (28, "Transportation"),
    (29, "Photojournalism"), (30, "Food and Drink"), (31, "Candid"),
    (32, "Science and Technology"), (33, "Children"), (34, "Astrophotography"),
    (35, "Traditional Art"), (36, "Digital Art"), (37, "Lensbaby"),
    (38, "Snapshot"), (39, "Vintage"), (40, "Wedding"), (41, "Self Portrait"),
    (42, "Nude"), (43, "Performance"), (44, "Military"), (45, "History"),
    (46, "Music"), (47, "Diptych / Triptych"), (48, "Textures"),
    (49, "High Dynamic Range (HDR)"), (50, "Photo-Impressionism"),
    (51, "Blur"), (52, "Overlays"), (53, "Pinhole/Zone Plate"),
    (54, "Infrared"), (55, "Camera Phones"), (56, "Panoramic"),
    (57, "Horror"), (58, "Fish Eye"), (59, "Film"), (60, "Street"),
    (61, "Texture Library"), (62, "DPChallenge GTGs"), (63, "Seasonal"),
    (64, "Birds"), (65, "Traditional"), (66, "Minimalism"),
)
TAG_ID = {name: tag_id for tag_id, name in AVA_TAGS}
BW_TAG = "Black and White"


@dataclasses.dataclass(frozen=True)
class TagSpec:
  """How images of one tag look and how often the tag occurs."""
  name: str
  weight: float  # share among tag slots
  quality_offset: float
  style: str  # drawing function key
  portrait_p: float  # probability of a portrait (3:4) frame
  subjects: Tuple[str, ...]  # nouns the reviews use for the subject
  # Beta(a, b) of each attribute; None keeps the default.
  attr_beta: Tuple[Optional[Tuple[float, float]], ...] = (None, None, None,
                                                          None)


MAJOR_TAGS: Tuple[TagSpec, ...] = (
    TagSpec("Landscape", 0.14, 0.2, "landscape", 0.1,
             ("the landscape", "the scene", "the hills", "the view",
              "the valley", "the tree"), ((3.5, 3.0), None, None, None)),
    TagSpec("Portraiture", 0.13, 0.0, "portrait", 0.7,
             ("the model", "her expression", "the portrait", "his face",
              "the eyes", "the subject"), (None, None, None, (1.4, 0.7))),
    TagSpec("Macro", 0.11, 0.25, "macro", 0.2,
             ("the bug", "the little guy", "the subject", "the droplet",
              "the beetle", "the insect"), (None, (4.0, 2.0), None, None)),
    TagSpec("Abstract", 0.1, -0.25, "abstract", 0.3,
             ("the shapes", "the lines", "the forms", "the pattern",
              "the design"), (None, None, (3.5, 2.0), None)),
    TagSpec("Black and White", 0.09, 0.3, "bw", 0.3,
             ("the scene", "the subject", "the monochrome", "the tones",
              "the figure")),
    TagSpec("Architecture", 0.09, 0.0, "architecture", 0.4,
             ("the building", "the facade", "the tower", "the windows",
              "the structure")),
    TagSpec("Floral", 0.08, 0.1, "floral", 0.3,
             ("the flower", "the petals", "the bloom", "the blossom",
              "the rose"), (None, None, (3.0, 2.0), None)),
    TagSpec("Seascapes", 0.07, 0.15, "seascape", 0.1,
             ("the sea", "the water", "the waves", "the boat", "the horizon"),
             ((3.5, 2.5), None, None, None)),
    TagSpec("Still Life", 0.07, -0.1, "still_life", 0.3,
             ("the setup", "the arrangement", "the vase", "the fruit",
              "the still life"), ((2.2, 3.5), None, None, None)),
    TagSpec("Animals", 0.065, 0.05, "animals", 0.2,
             ("the dog", "the cat", "the horse", "the critter", "the animal",
              "the pup")),
)
RARE_TAGS: Tuple[TagSpec, ...] = (
    TagSpec("Sky", 0.02, 0.1, "sky", 0.1,
             ("the clouds", "the sky", "the sunset")),
    TagSpec("Cityscape", 0.015, 0.1, "cityscape", 0.1,
             ("the city", "the skyline", "the lights")),
    TagSpec("Food and Drink", 0.015, -0.2, "food", 0.2,
             ("the food", "the dish", "the plate", "the cup")),
)
USED_TAGS: Tuple[TagSpec, ...] = MAJOR_TAGS + RARE_TAGS
BW_SPEC = next(t for t in USED_TAGS if t.name == BW_TAG)
