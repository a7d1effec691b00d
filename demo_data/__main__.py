"""``python -m demo_data --out DIR``: writes a demo AVA-review directory."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

import demo_data
from preprocessing import config


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=demo_data.__doc__.split("\n")[0])
  parser.add_argument("--out", required=True, help="output directory")
  parser.add_argument("--users", type=int, default=config.DEMO_DEFAULT_USERS)
  parser.add_argument("--images", type=int, default=config.DEMO_DEFAULT_IMAGES)
  parser.add_argument("--scale", type=float, default=None)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--layout", choices=demo_data.LAYOUTS, default="reviews")
  parser.add_argument("--image-size", type=int,
                      default=config.DEMO_IMAGE_SIZE)
  parser.add_argument("--difficulty", choices=demo_data.DIFFICULTIES,
                      default="easy")
  args = parser.parse_args(argv)

  def show(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="\n" if done == total else "",
          file=sys.stderr, flush=True)

  summary = demo_data.generate(
      args.out, users=args.users, images=args.images, seed=args.seed,
      scale=args.scale, layout=args.layout, image_size=args.image_size,
      difficulty=args.difficulty, progress=show)
  print(json.dumps(summary, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())
